"""The /rsam page: RSAM (or RMS) curves of band-passed streams over any span, one band per
stream on a shared time axis, and the network detections counted per bin beneath them.

RSAM products are regular streams with their own min/max pyramids (`belvedere analyse rsam`),
so a curve is read at screen resolution for any span (`Stream.read_window`): years cost what
an hour costs. A zoom or a pan re-reads the range at its new resolution.

URL state: `store`, `streams` (wildcards over the streams with RSAM), `series` (band,
interval and metric, e.g. `0.5-2Hz_600s_mean_abs`), `scale` (linear or log), `from`, `to`,
`embed`, `theme`. Figures (named): `rsam` (the first band), `detections`.
"""

from __future__ import annotations

import logging
from fnmatch import fnmatchcase
from typing import ClassVar

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.plotting import figure

from dashboard import chrome, share
from dashboard import theme as themes
from dashboard.address import QuerySync
from dashboard.pages.base import PatternStreams, SnapshotParts, style_and_fit
from dashboard.pages.timerange import RENDER_WIDTH, TimeRangePage, ms
from dashboard.state import StreamWindow
from pipelines.store.products import (
    detection_counts,
    open_series,
    product_path,
    product_streams,
)
from pipelines.timebase import DAY_NS, format_duration, format_time, now_ns

log = logging.getLogger(__name__)

MAX_RSAM_STREAMS = 12
BAND_PX = 150
COLORS = ("#1f5fa8", "#b5452a", "#2f7d32", "#6a3d9a", "#8c6d1f", "#1b8a8a")
DETECTION_BINS = 300


def rsam_series(store, stream: str) -> list[str]:
    """The RSAM series of a stream (`<band>_<interval>s_<metric>`), sorted."""
    try:
        return sorted(store.root[product_path(stream, "rsam")].group_keys())
    except KeyError:
        return []


class RsamState(StreamWindow):
    """What /rsam shows: streams with RSAM, one series of each, over a range."""

    series = param.Selector(default="", objects=[""], label="Band, interval, metric")
    scale = param.Selector(default="linear", objects=["linear", "log"], label="Scale")
    limit: ClassVar[int | None] = MAX_RSAM_STREAMS
    url_options: ClassVar[dict[str, str]] = {"scale": "scale"}

    def select(self, pattern: str) -> list[str]:
        """The streams with RSAM matching comma-separated wildcards (a page of `limit`);
        ValueError when none does."""
        if not pattern.strip():
            raise ValueError("streams= is empty: give names or wildcards such as BV.*.00.HHZ")
        have = product_streams(self._data, "rsam")
        parts = [p.strip() for p in pattern.split(",") if p.strip()]
        names = [n for n in have if any(fnmatchcase(n, p) for p in parts)]
        if not names:
            raise ValueError(f"no stream with RSAM matches {pattern!r} (belvedere analyse "
                             "rsam computes it)")
        self.matched = len(names)
        a = (self.page - 1) * MAX_RSAM_STREAMS
        return names[a:a + MAX_RSAM_STREAMS]

    @classmethod
    def from_query(cls, store, label: str, args: dict[str, str], now: int
                   ) -> tuple[RsamState, list[str]]:
        """The view a URL asks for, plus a message for every parameter that could not be used.
        A store without RSAM gives no streams."""
        errors: list[str] = []
        have = product_streams(store, "rsam")
        s = cls(store, store=label)
        if not have:
            return s, errors
        s.decode_streams(args, errors, lambda: have[:6], "; showing the first streams with RSAM")
        without = [n for n in s.streams if n not in have]
        if without:
            errors.append(f"no RSAM for {', '.join(without[:6])}"
                          f"{' ...' if len(without) > 6 else ''} (belvedere analyse rsam)")
            s.param.update(streams=[n for n in s.streams if n in have] or have[:6], pattern="")
        names = sorted({x for n in s.streams for x in rsam_series(store, n)})
        s.param.series.objects = names or [""]
        preferred = [n for n in names if n.endswith("_600s_mean_abs")] or names
        s.param.series.default = preferred[0] if preferred else ""
        s.series = s.param.series.default
        asked = args.get("series", "").strip()
        if asked:
            if asked in names:
                s.series = asked
            else:
                errors.append(f"series={asked!r} is not one of {', '.join(names)}; using "
                              f"{s.series}")
        spans = [sp for n in s.streams
                 if (st := open_series(store, n, "rsam", s.series)) is not None
                 and (sp := st.span_ns)]
        span = (min(a for a, _ in spans), max(b for _, b in spans)) if spans else \
            (now - DAY_NS, now)
        s.decode_window(args, now, errors, span)
        s.clip_to_data(span)
        s.decode_options(args, errors)
        s.check_view_keys(args, errors)
        return s, errors

    def to_query(self, theme: str = "light", embed: bool = False) -> dict[str, str]:
        """URL parameters that restore this view."""
        q = {"store": self.store} | self.streams_query() | self.window_query()
        if self.series != self.param.series.default:
            q["series"] = self.series
        q |= self.encode_options()
        if theme == "dark":
            q["theme"] = "dark"
        if embed:
            q["embed"] = "1"
        return q


def rsam_figures(store, state: RsamState, width: int = RENDER_WIDTH) -> tuple[list, dict]:
    """One figure per stream (shared x range) and the detection counts; the sources by
    stream, filled by `fill`."""
    x_range = Range1d(ms(state.t0_ns), ms(state.t1_ns))
    figs, sources = [], {}
    units = ""
    for i, name in enumerate(state.streams):
        s = open_series(store, name, "rsam", state.series)
        units = str(s.attrs.get("units", "counts")) if s is not None else units
        fig = figure(name="rsam" if i == 0 else f"rsam-{i}", x_axis_type="datetime",
                     y_axis_type=state.scale, x_range=x_range, height=BAND_PX + 40,
                     sizing_mode="stretch_width", tools="xpan,xwheel_zoom,xbox_zoom,reset,save",
                     active_scroll="xwheel_zoom", toolbar_location="above" if i == 0 else None,
                     title=f"{name}  RSAM {state.series.replace('_', ' ')}")
        fig.toolbar.logo = None
        src = ColumnDataSource({"x": [], "lo": [], "hi": []})
        color = COLORS[i % len(COLORS)]
        fig.varea(x="x", y1="lo", y2="hi", source=src, fill_color=color, fill_alpha=0.35)
        r = fig.line(x="x", y="hi", source=src, color=color, line_width=1.2)
        fig.add_tools(HoverTool(renderers=[r], tooltips=[("time", "@x{%F %T}"),
                                                         ("min", "@lo"), ("max", "@hi")],
                                formatters={"@x": "datetime"}, mode="vline"))
        fig.yaxis.axis_label = units
        fig.min_border_left = 70
        figs.append(fig)
        sources[name] = src
    det = figure(name="detections", x_axis_type="datetime", x_range=x_range, height=130,
                 sizing_mode="stretch_width", tools="", toolbar_location=None,
                 title="Network detections per bin (STA/LTA coincidence)")
    det.min_border_left = 70
    dsrc = ColumnDataSource({"x": [], "w": [], "n": []})
    det.vbar(x="x", width="w", top="n", source=dsrc, color="#444444")
    det.y_range.start = 0
    det.yaxis.ticker.min_interval = 1  # whole detections
    det.yaxis.ticker.desired_num_ticks = 3
    det.xaxis.axis_label = "UTC"
    sources["_detections"] = dsrc
    figs.append(det)
    return figs, sources


def fill(store, state: RsamState, sources: dict, width: int) -> int:
    """Read each stream's series for the state's range at `width` points; returns the values
    drawn (O(width) per stream, whatever the span)."""
    t0, t1 = state.t0_ns, state.t1_ns
    n = 0
    for name in state.streams:
        s = open_series(store, name, "rsam", state.series)
        if s is None:
            sources[name].data = {"x": [], "lo": [], "hi": []}
            continue
        w = s.read_window(t0, t1, max_points=width)
        lo, hi = w.lo, w.hi
        if state.scale == "log":  # nothing to draw at or below zero on a log axis
            lo = np.where(lo > 0, lo, np.nan)
            hi = np.where(hi > 0, hi, np.nan)
        sources[name].data = {"x": w.times_ns / 1e6 + (w.step_ns / 2e6), "lo": lo, "hi": hi}
        n += len(lo)
    bins = min(DETECTION_BINS, max(width // 4, 10))
    counts = detection_counts(store, t0, t1, bins)
    edges = np.linspace(t0, t1, bins + 1)
    sources["_detections"].data = {"x": (edges[:-1] + edges[1:]) / 2e6,
                                   "w": np.diff(edges) / 1e6 * 0.9, "n": counts}
    return n


class RsamPage(PatternStreams, TimeRangePage):
    """/rsam: RSAM bands of several streams, re-read at screen resolution on zoom."""

    slug = "rsam"
    title = "RSAM"

    def __init__(self, sources, args: dict[str, str], **params):
        label, errors = sources.resolve_or_first(args.get("store"))
        store = sources.store(label)
        state, more = RsamState.from_query(store, label, args, now_ns())
        super().__init__(sources, args, state=state, **params)
        self.store = store
        self.errors = errors + more
        self.messages = pn.Column(*chrome.alerts(self.errors), sizing_mode="stretch_width")
        self.status = chrome.status_pane(self.theme)
        self.url = QuerySync(lambda: self.state.to_query(self.theme, self.embed))
        self.figs: list = []
        self.sources_by_stream: dict = {}
        self.plots = pn.Column(sizing_mode="stretch_width")
        if self.state.streams:
            self._build()
            self.time_widgets()
            self.w_series = pn.widgets.Select.from_param(self.state.param.series, width=260)
            self.w_scale = pn.widgets.RadioButtonGroup.from_param(self.state.param.scale,
                                                                  margin=(22, 10, 5, 10))
            self.w_streams = pn.widgets.TextInput.from_param(self.state.param.pattern,
                                                             width=260)
            self.state.param.watch(self._rebuild, ["series", "scale"])
            self.w_streams.param.watch(self._on_pattern, "value")

    def _build(self) -> None:
        self.figs, self.sources_by_stream = rsam_figures(self.store, self.state)
        for f in self.figs:
            themes.style_figure(f, self.theme)
        self.follow(self.figs[0])
        self.plots[:] = [pn.pane.Bokeh(f, sizing_mode="stretch_width") for f in self.figs]
        self.render()

    def _rebuild(self, *events) -> None:
        self.run_locked(self._build)

    def keep_streams(self, names: list[str]) -> list[str]:
        """The streams of a pattern that have RSAM."""
        have = set(product_streams(self.store, "rsam"))
        names = [n for n in names if n in have]
        if not names:
            raise ValueError("none of these has RSAM")
        return names

    def patterned(self) -> None:
        """Draw the streams a pattern chose."""
        self._rebuild()

    def range_figure(self):
        """The first band: the others share its x range."""
        return self.figs[0]

    def data_span(self) -> tuple[int, int] | None:
        """The span of the series shown."""
        spans = [s.span_ns for n in self.state.streams
                 if (s := open_series(self.store, n, "rsam", self.state.series)) is not None
                 and s.span_ns]
        return (min(a for a, _ in spans), max(b for _, b in spans)) if spans else None

    def render(self) -> None:
        """Read the range at the plot's width and put it in the bands."""
        s = self.state
        try:
            n = fill(self.store, s, self.sources_by_stream, self.plot_width())
        except Exception as exc:  # a broken product must not take the page down
            log.exception("rsam failed")
            self.messages[:] = [chrome.alert(f"Could not read RSAM: {exc}")]
            return
        chrome.set_status(self.status, f"{len(s.streams)} streams · {s.series} · "
                          f"{format_time(s.t0_ns)} → {format_time(s.t1_ns)} "
                          f"({format_duration(s.t1_ns - s.t0_ns)}) · {n:,} values drawn")
        self.mark_drawn()
        self.url.write()

    def __panel__(self) -> pn.viewable.Viewable:
        """The whole page."""
        s = self.state
        if not s.streams:
            return chrome.page(self.slug, self.messages, chrome.alert(
                f"Store {s.store} holds no RSAM yet: compute it with `belvedere analyse rsam "
                "--store STORE`.", "info"), store=s.store, embed=self.embed, title=self.title)
        body: list = [self.messages, self.time_note]
        if not self.embed:
            body += [share.ShareControl("rsam", lambda: s.to_query(self.theme), figure="rsam",
                                        locked=lambda: s.to_query(self.theme) |
                                        s.locked_query()).view(),
                     chrome.widget_row(self.w_streams, self.w_series, self.w_scale,
                                       self.w_from, self.w_to, self.w_quick)]
        body += [self.status, self.plots, self.url.view]
        return chrome.page(self.slug, *body, store=s.store, embed=self.embed, title=self.title)

    @classmethod
    def snapshot(cls, sources, args: dict[str, str], theme: str,
                 fit: tuple[int, int] | None) -> SnapshotParts:
        """The bands and the detection counts with their data inline."""
        label, store, state = cls.snapshot_state(sources, args, RsamState, now_ns(),
                                                 "holds no RSAM (belvedere analyse rsam)")
        figs, srcs = rsam_figures(store, state)
        fill(store, state, srcs, (fit or (RENDER_WIDTH, 0))[0])
        meta = {"streams": state.streams, "from": format_time(state.t0_ns),
                "to": format_time(state.t1_ns),
                "duration": format_duration(state.t1_ns - state.t0_ns), "hint": state.series}
        return SnapshotParts(style_and_fit(figs, theme, fit), meta, label, store.url)
