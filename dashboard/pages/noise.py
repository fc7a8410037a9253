"""The /noise page: a channel's PPSD probability density (with Peterson's NLNM/NHNM, the mode
and percentiles) over a date range, restacked in the page by time of day, weekday and month,
and its PSD spectrogram over time (a click on a day opens that day's waveforms).

URL state: `store`, `stream` (a channel with PSDs: `belvedere analyse psd`), `from`, `to`,
`hours` (`H0-H1`, UTC hours of the PSDs' start, both inclusive as in ObsPy), `weekdays`
(`1,2,3,4,5` or `mon,tue`, ISO: Monday 1), `months` (`12,1,2` or `dec,jan,feb`), `embed`,
`theme`. A bad value becomes a message and a fallback, never a traceback.

Figures (named): `density` and `spectrogram`.
"""

from __future__ import annotations

import logging
from typing import ClassVar
from urllib.parse import urlencode

import panel as pn
import param

from dashboard import chrome, noise, share
from dashboard import theme as themes
from dashboard.address import QuerySync
from dashboard.pages.base import Page, SnapshotParts, style_and_fit
from dashboard.state import SAFE, TimeWindow
from pipelines.store.products import open_psd, product_streams
from pipelines.timebase import DAY_NS, format_duration, format_time, now_ns

log = logging.getLogger(__name__)

WEEKDAYS = {"Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5, "Sat": 6, "Sun": 7}
MONTHS = {m: i + 1 for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
                                          "Aug", "Sep", "Oct", "Nov", "Dec"))}
DEFAULT_SPAN_NS = 366 * DAY_NS  # a year of PSDs unless the URL says otherwise


def _parse_list(key: str, text: str, names: dict[str, int], errors: list[str]
                ) -> list[int] | None:
    """`1,2,3` or `mon,tue` -> sorted numbers; None (all) with a message when bad."""
    out = set()
    top = max(names.values())
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        folded = {k.lower(): v for k, v in names.items()}
        if part.lower()[:3] in folded and not part.isdigit():
            out.add(folded[part.lower()[:3]])
        elif part.isdigit() and 1 <= int(part) <= top:
            out.add(int(part))
        else:
            errors.append(f"{key}={text!r}: {part!r} is not 1-{top} or one of "
                          f"{', '.join(n.lower() for n in names)}; using all")
            return None
    return sorted(out) if out else None


def _parse_hours(text: str, errors: list[str]) -> tuple[float, float] | None:
    try:
        a, b = (float(x) for x in text.split("-"))
        if not (0 <= a <= b <= 24):
            raise ValueError
    except ValueError:
        errors.append(f"hours={text!r} is not H0-H1 with 0 <= H0 <= H1 <= 24 (e.g. 22-24); "
                      "using the whole day")
        return None
    return a, b


class NoiseState(TimeWindow):
    """What /noise shows: one stream's PSDs over a range, and the stack's selections."""

    stream = param.Selector(default="", objects=[""], label="Channel (with PSDs)")
    hours = param.Range(default=(0.0, 24.0), bounds=(0.0, 24.0), label="Time of day (UTC)")
    weekdays = param.ListSelector(default=list(WEEKDAYS.values()),
                                  objects=list(WEEKDAYS.values()), label="Weekdays")
    months = param.ListSelector(default=list(MONTHS.values()), objects=list(MONTHS.values()),
                                label="Months")
    streams: ClassVar[list[str]] = []

    @classmethod
    def from_query(cls, store, label: str, args: dict[str, str], now: int
                   ) -> tuple[NoiseState, list[str]]:
        """The view a URL asks for, plus a message for every parameter that could not be used.
        A store without PSDs gives `stream` = ''."""
        errors: list[str] = []
        names = product_streams(store, "psd")
        s = cls(store=label)
        s.param.stream.objects = names or [""]
        asked = args.get("stream", "").strip()
        if asked and asked in names:
            s.stream = asked
        elif names:
            if asked:
                errors.append(f"stream={asked!r} has no PSDs in store {label}; the channels "
                              f"with PSDs: {', '.join(names[:12])}"
                              f"{' ...' if len(names) > 12 else ''}")
            s.stream = names[0]
        span = None
        if s.stream:
            prod = open_psd(store, s.stream)
            span = noise.psd_span(prod) if prod is not None else None
        span = span or (now - DAY_NS, now)
        s.decode_window(args, now, errors, (max(span[0], span[1] - DEFAULT_SPAN_NS), span[1]),
                        fill=span, instead="showing the last year of PSDs instead")
        if args.get("hours", "").strip():
            h = _parse_hours(args["hours"].strip(), errors)
            if h:
                s.hours = h
        if args.get("weekdays", "").strip():
            s.weekdays = _parse_list("weekdays", args["weekdays"], WEEKDAYS, errors) or \
                s.param.weekdays.default
        if args.get("months", "").strip():
            s.months = _parse_list("months", args["months"], MONTHS, errors) or \
                s.param.months.default
        s.check_view_keys(args, errors)
        return s, errors

    def selection(self) -> dict:
        """The stack's selections for `noise_stats.select` (None: not restricted)."""
        full = tuple(self.hours) == (0.0, 24.0)
        return {"hours": None if full else tuple(self.hours),
                "weekdays": None if len(self.weekdays) == 7 else list(self.weekdays),
                "months": None if len(self.months) == 12 else list(self.months)}

    def to_query(self, theme: str = "light", embed: bool = False) -> dict[str, str]:
        """URL parameters that restore this view (selections left out when not restricting)."""
        q = {"store": self.store, "stream": self.stream} | self.window_query()
        sel = self.selection()
        if sel["hours"] is not None:
            q["hours"] = f"{self.hours[0]:g}-{self.hours[1]:g}"
        if sel["weekdays"] is not None:
            q["weekdays"] = ",".join(map(str, sorted(self.weekdays))) or "none"
        if sel["months"] is not None:
            q["months"] = ",".join(map(str, sorted(self.months))) or "none"
        if theme == "dark":
            q["theme"] = "dark"
        if embed:
            q["embed"] = "1"
        return q


def waveforms_href(label: str, stream: str) -> str:
    """The waveforms page of `stream` with `{from}` and `{to}` to fill in."""
    return "./waveforms?" + urlencode({"store": label, "streams": stream}, safe=SAFE) + \
        "&from={from}&to={to}"


class NoisePage(Page):
    """/noise: the density and the spectrogram of one channel's PSDs."""

    slug = "noise"
    title = "Noise"

    def __init__(self, sources, args: dict[str, str], **params):
        super().__init__(sources, args, **params)
        label, self.errors = sources.resolve_or_first(args.get("store"))
        self.store = sources.store(label)
        self.state, more = NoiseState.from_query(self.store, label, args, now_ns())
        self.errors += more
        p = self.state.param
        self.w_stream = pn.widgets.Select.from_param(p.stream, width=220)
        self.w_from = pn.widgets.TextInput.from_param(p.from_text, width=210,
                                                      name="From (UTC, ISO or now-30d)")
        self.w_to = pn.widgets.TextInput.from_param(p.to_text, width=210)
        self.w_hours = pn.widgets.RangeSlider.from_param(p.hours, step=0.5, width=260,
                                                         name="Time of day (UTC, PSD start)")
        self.w_days = pn.widgets.CheckButtonGroup.from_param(p.weekdays, options=WEEKDAYS,
                                                             name="Weekdays", button_type="primary",
                                                             button_style="outline")
        self.w_months = pn.widgets.CheckButtonGroup.from_param(p.months, options=MONTHS,
                                                               name="Months",
                                                               button_type="primary",
                                                               button_style="outline")
        self.messages = pn.Column(*chrome.alerts(self.errors), sizing_mode="stretch_width")
        self.line = chrome.status_pane(self.theme)
        self.density_pane = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.spectrogram_pane = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.url = QuerySync(lambda: self.state.to_query(self.theme, self.embed))
        self.stack: noise.PsdStack | None = None
        self.density: noise.DensityFigure | None = None
        self.state.param.watch(self._reload, ["stream", "from_text", "to_text"])
        self.state.param.watch(self._restack, ["hours", "weekdays", "months"])
        if self.state.stream:
            self._load()

    # -- drawing ------------------------------------------------------------------------
    def figures(self, tap: bool = True) -> list:
        """The density and the spectrogram of the state (read from the store)."""
        s = self.state
        prod = open_psd(self.store, s.stream)
        self.stack = noise.load_stack(prod, s.stream, s.t0_ns, s.t1_ns)
        hist, used = self.stack.stack(**s.selection())
        self.used = used
        self.density = noise.density_figure(self.stack, hist, used)
        href = waveforms_href(s.store, s.stream) if tap else None
        spec = noise.spectrogram_figure(prod, s.stream, s.t0_ns, s.t1_ns, href)
        return [self.density.fig, spec]

    def _load(self) -> None:
        try:
            density, spec = self.figures()
        except Exception as exc:  # a broken product must not take the page down
            log.exception("noise failed")
            self.messages[:] = [chrome.alert(f"Could not read the PSDs: {exc}")]
            return
        for f in (density, spec):
            themes.style_figure(f, self.theme)
        self.density_pane.object = density
        self.spectrogram_pane.object = spec
        self._say()

    def _say(self) -> None:
        s = self.state
        text = noise.summary(self.stack, self.used, s.t0_ns, s.t1_ns)
        if self.stack is not None and len(self.stack.times_ns) and not self.used:
            text = "No PSD matches the selection (time of day, weekdays, months). " + text
        chrome.set_status(self.line, text)
        self.url.write()

    def _locked(self, fn) -> None:
        """Run `fn` where Bokeh models may change: Panel calls param watchers outside the
        document lock, a next-tick callback holds it."""
        doc = self.density.fig.document if self.density is not None else None
        doc = doc or pn.state.curdoc
        if doc is None or doc.session_context is None:
            fn()
        else:
            doc.add_next_tick_callback(fn)

    def _reload(self, *events) -> None:
        self._locked(self._reload_now)

    def _reload_now(self) -> None:
        try:
            self.state.resolve(now_ns())
        except ValueError as exc:
            self.messages[:] = [chrome.alert(str(exc))]
            return
        self.messages[:] = []
        self._load()

    def _restack(self, *events) -> None:
        self._locked(self._restack_now)

    def _restack_now(self) -> None:
        if self.stack is None or self.density is None:
            return
        hist, self.used = self.stack.stack(**self.state.selection())
        noise.update_density(self.density, self.stack, hist, self.used)
        self._say()

    # -- the page -----------------------------------------------------------------------
    def __panel__(self) -> pn.viewable.Viewable:
        """The whole page."""
        s = self.state
        if not s.stream:
            return chrome.page(self.slug, self.messages, chrome.alert(
                f"Store {s.store} holds no PSDs yet: compute them with `belvedere analyse psd "
                "--store STORE` (the channels need their StationXML responses ingested).",
                "info"), store=s.store, embed=self.embed, title=self.title)
        body: list = [self.messages]
        if not self.embed:
            body += [share.ShareControl("noise", lambda: s.to_query(self.theme),
                                        figure="density",
                                        locked=lambda: s.to_query(self.theme) |
                                        s.locked_query()).view(),
                     chrome.widget_row(self.w_stream, self.w_from, self.w_to),
                     chrome.widget_row(
                         self.w_hours,
                         pn.Column(pn.pane.Markdown("Weekdays", margin=(0, 5)), self.w_days),
                         pn.Column(pn.pane.Markdown("Months", margin=(0, 5)), self.w_months))]
        body += [self.line, self.density_pane, self.spectrogram_pane, self.url.view]
        return chrome.page(self.slug, *body, store=s.store, embed=self.embed, title=self.title)

    @classmethod
    def snapshot(cls, sources, args: dict[str, str], theme: str,
                 fit: tuple[int, int] | None) -> SnapshotParts:
        """The density (as restacked by the URL) and the spectrogram, data inline."""
        label, store, state = cls.snapshot_state(
            sources, args, NoiseState, now_ns(), "holds no PSDs (belvedere analyse psd)",
            shown=lambda state: state.stream)
        page = cls.__new__(cls)  # the drawing without a session's widgets
        page.store, page.state = store, state
        figs = page.figures(tap=False)
        meta = {"streams": [state.stream], "from": format_time(state.t0_ns),
                "to": format_time(state.t1_ns),
                "duration": format_duration(state.t1_ns - state.t0_ns),
                "hint": noise.summary(page.stack, page.used, state.t0_ns, state.t1_ns)}
        return SnapshotParts(style_and_fit(figs, theme, fit), meta, label, store.url)
