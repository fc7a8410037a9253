"""The helicorder page: one stream over a long span (a day by default) cut into rows, as on a
drum recorder (`/helicorder?stream=BV.ALPA.00.HHZ&day=2024-03-04&row=30&band=bp0.5-2`).

The image comes from `dashboard.helicorder` (one read of the pyramid, raw or a stored filtered
band, at the rows' resolution). Catalogue earthquakes (stars) and network detections
(triangles) sit on their row at their time. A click on a row opens that row's window in
/waveforms, a drag across part of a row (box select) opens that part, with the same filter.
URL keys: `stream`, `day` (a UTC day) or `from`/`to`, `row` (minutes or auto), `band` (raw or a
stored band's name), `scale` (auto, max, or the value reaching half a row), `clip` (row
spacings), `units`, `refresh` (off, 2s ... 5m: follow the newest data), `embed`, `theme`.
`latest()` moves the span to end at the newest data.
"""

from __future__ import annotations

import logging
import math
from typing import ClassVar

import panel as pn
import param
from bokeh.models import (
    BoxSelectTool,
    ColumnDataSource,
    CustomJS,
    FixedTicker,
    HoverTool,
    Range1d,
    SaveTool,
    TapTool,
)
from bokeh.plotting import figure

from dashboard import chrome, encode, filters, latency, work
from dashboard import theme as themes
from dashboard.address import QuerySync
from dashboard.bands import event_label
from dashboard.frames import UNITS, physical_units
from dashboard.helicorder import (
    MAX_ROWS,
    PERCENTILE,
    ROW_MINUTES,
    Helicorder,
    auto_row_minutes,
    make_helicorder,
    palette,
)
from dashboard.pages.base import (
    Page,
    Refresh,
    SnapshotError,
    SnapshotParts,
    laid_out_px,
    style_and_fit,
)
from dashboard.state import REFRESH_CHOICES, TimeWindow
from pipelines.store import Store, UnknownStreamError, detections
from pipelines.timebase import DAY_NS, NS, format_duration, format_time, now_ns, parse_time

log = logging.getLogger(__name__)

WIDTH = 1200  # image columns (the rows' resolution) until the browser says the plot's width
ROW_PX_TARGET = 880  # the rows share about this many pixels of height
ROW_PX = (6, 48)
MAX_SPAN_NS = MAX_ROWS * 1440 * 60 * NS
ROW_CHOICES = ["auto", *(str(m) for m in ROW_MINUTES)]


class HelicorderState(TimeWindow):
    """What /helicorder shows: one stream, a span, rows, a band and the amplitude scale."""

    stream = param.String(default="", label="Stream")
    row = param.Selector(default="auto", objects=ROW_CHOICES, label="Row (minutes)")
    band = param.Selector(default="raw", objects=["raw"], label="Band")
    scale = param.String(default="auto", label="Scale (auto, max or half-row value)")
    clip = param.Number(default=1.0, bounds=(0.25, 8.0), label="Clip (rows)")
    units = param.Selector(default="counts", objects=list(UNITS), label="Units")
    refresh = param.Selector(default="off", objects=list(REFRESH_CHOICES), label="Auto-refresh")
    url_options: ClassVar[dict[str, str]] = {"row": "row", "band": "band", "units": "units",
                                             "refresh": "refresh"}

    @property
    def row_ns(self) -> int:
        """The row length (the automatic one for the span when `row` is auto)."""
        m = auto_row_minutes(self.t1_ns - self.t0_ns) if self.row == "auto" else int(self.row)
        return m * 60 * NS

    @property
    def rows(self) -> int:
        """Rows the span takes."""
        return max(math.ceil((self.t1_ns - self.t0_ns) / self.row_ns), 1)

    def scale_value(self) -> str | float:
        """"auto", "max" or the number."""
        text = self.scale.strip().lower()
        return text if text in ("auto", "max") else float(text)

    @classmethod
    def from_query(cls, store: Store, label: str, args: dict[str, str], now: int
                   ) -> tuple[HelicorderState, list[str]]:
        """The view a URL asks for, plus a message for every parameter that could not be used."""
        errors: list[str] = []
        s = cls(store=label)
        regular = [n for n in store.streams() if getattr(store[n], "kind", "") == "regular"]
        name = (args.get("stream") or args.get("streams") or "").strip()
        if name:
            try:
                names = [n for n in store.select(name) if n in regular]
            except (UnknownStreamError, ValueError) as exc:
                errors.append(f"stream={name!r}: {exc}")
                names = []
            if not names and not errors:
                errors.append(f"stream={name!r} is not a stream with samples on a grid")
            name = names[0] if names else ""
        if not name and regular:
            name = max(regular, key=lambda n: (n.endswith("Z"), store[n].n_samples))
        s.stream = name
        stream = store[name] if name else None
        if stream is not None:
            s.param.band.objects = ["raw", *(b.name for b in filters.stored_bands(stream))]
        span = stream.span_ns if stream is not None else None
        s.decode_options(args, errors)
        row_ns = (60 * NS * int(s.row)) if s.row != "auto" else 1800 * NS
        s.decode_span(args, now, errors, span, row_ns)
        text = args.get("scale", "").strip()
        if text:
            s.scale = text
            try:
                value = s.scale_value()
                if isinstance(value, float) and not (value > 0 and math.isfinite(value)):
                    raise ValueError
            except ValueError:
                errors.append(f"scale={text!r}: give auto, max or a positive number (the "
                              "value that reaches half a row spacing); using auto")
                s.scale = "auto"
        text = args.get("clip", "").strip()
        if text:
            try:
                value = float(text)
                if not 0.25 <= value <= 8.0:
                    raise ValueError
                s.clip = value
            except ValueError:
                errors.append(f"clip={text!r}: give the row spacings a trace may reach, "
                              "0.25 to 8; using 1")
        s.check_view_keys(args, errors)
        return s, errors

    def decode_span(self, args: dict[str, str], now: int, errors: list[str],
                    span: tuple[int, int] | None, row_ns: int) -> None:
        """`day=` (a UTC day), else `from`/`to`, else the latest 24 h of data; kept under
        MAX_ROWS rows of a day."""
        day = args.get("day", "").strip()
        latest = latest_window(span, row_ns, now)
        if day:
            try:
                t0 = parse_time(day[:10] if len(day) >= 10 else day, now)
                t0 -= t0 % DAY_NS
                self.param.update(t0_ns=t0, t1_ns=t0 + DAY_NS, from_text=format_time(t0),
                                  to_text=format_time(t0 + DAY_NS))
            except ValueError as exc:
                errors.append(f"day={day!r}: {exc}; showing the latest day of data instead")
                self.decode_window({}, now, errors, latest)
        else:
            self.decode_window(args, now, errors, latest,
                               instead="showing the latest day of data instead")
        if self.t1_ns - self.t0_ns > MAX_SPAN_NS:
            errors.append(f"{format_time(self.t0_ns)} to {format_time(self.t1_ns)} is longer "
                          f"than {MAX_ROWS} rows of a day; showing the last {MAX_ROWS} days")
            self.set_range(self.t1_ns - MAX_SPAN_NS, self.t1_ns)
        if self.row != "auto" and self.rows > MAX_ROWS:
            errors.append(f"row={self.row} cuts this span into {self.rows} rows, more than "
                          f"{MAX_ROWS}; using the automatic row")
            self.row = "auto"

    def to_query(self, store_is_default: bool = False) -> dict[str, str]:
        """URL parameters that restore this view; options at their defaults are left out."""
        q: dict[str, str] = {} if store_is_default else {"store": self.store}
        q["stream"] = self.stream
        t0, t1 = self.t0_ns, self.t1_ns
        if t0 % DAY_NS == 0 and t1 - t0 == DAY_NS:
            q["day"] = format_time(t0)[:10]
        else:
            q |= self.window_query()
        q |= self.encode_options()
        if self.scale != "auto":
            q["scale"] = self.scale
        if self.clip != 1.0:
            q["clip"] = f"{self.clip:g}"
        return q


def latest_window(span: tuple[int, int] | None, row_ns: int, now: int) -> tuple[int, int]:
    """The 24 h ending with the row after the newest sample (from the first sample's row
    when the data is shorter): where a drum would be now."""
    if span is None:
        return now - DAY_NS, now
    t1 = -(-span[1] // row_ns) * row_ns
    t0 = max(t1 - DAY_NS, span[0] // row_ns * row_ns)
    return t0, t1


def follow_span(t0: int, t1: int, row_ns: int, old_end: int | None, new_end: int | None
                ) -> tuple[int, int] | None:
    """The span after new data arrived, when the span held the end of the data (`old_end`)
    and the new end (`new_end`) runs past it: a whole UTC day moves to the day of the new end,
    any other span moves on by whole rows, keeping its length. None when it stays (a span of
    the past, or one the new data still fits in)."""
    if old_end is None or new_end is None or new_end <= old_end or not t0 <= old_end <= t1:
        return None
    if new_end <= t1:
        return None
    if t0 % DAY_NS == 0 and t1 - t0 == DAY_NS:
        day = (new_end - 1) // DAY_NS * DAY_NS
        return day, day + DAY_NS
    shift = -(-(new_end - t1) // row_ns) * row_ns
    return t0 + shift, t1 + shift


def source_of(store: Store, state: HelicorderState):
    """(the stream or its stored band, what it is) for the state's band."""
    stream = store[state.stream]
    if state.band != "raw":
        from pipelines.analysis.filtered import parse_band

        src = filters.band_source(stream, parse_band(state.band))
        if src is not None:
            return src, src.describe()
    return stream, "raw"


def row_px_for(rows: int) -> int:
    """Pixels per row: the rows share about ROW_PX_TARGET pixels, within ROW_PX."""
    return int(min(max(ROW_PX_TARGET // max(rows, 1), ROW_PX[0]), ROW_PX[1]))


def draw(store: Store, state: HelicorderState, width: int = WIDTH,
         row_px: int | None = None) -> tuple[Helicorder, str, str]:
    """(the helicorder, its source's description, its units) for a state."""
    src, what = source_of(store, state)
    rows = state.rows
    divide, units = 1.0, "counts"
    if state.units == "physical":
        phys = physical_units(store[state.stream])
        if phys is not None:
            divide, units = phys
    heli = make_helicorder(src, state.t0_ns, state.row_ns, rows, width,
                           row_px or row_px_for(rows), state.scale_value(), state.clip, divide)
    if state.units == "physical" and units == "counts":
        heli.notes.append(f"{state.stream}: no sensitivity in its metadata, shown in counts")
    if isinstance(src, filters.BandSource):
        note = filters.missing_note(src, state.t0_ns, state.t1_ns, width * rows)
        if note:
            heli.notes.append(note)
    return heli, what, units


def marks(store: Store, state: HelicorderState) -> dict[str, dict[str, list]]:
    """Catalogue earthquakes, network detections and this stream's picks in the span, as
    (x minutes into the row, y row) columns."""
    t0, t1, row = state.t0_ns, state.t1_ns, state.row_ns
    out = {k: {"x": [], "y": [], "label": [], "when": []} for k in ("event", "detection", "pick")}

    def put(kind: str, t: int, label: str) -> None:
        if t0 <= t < t1:
            r = (t - t0) // row
            out[kind]["x"].append((t - t0 - r * row) / (60 * NS))
            # Above the trace's centre line, so a mark does not hide the arrival it marks.
            out[kind]["y"].append(-int(r) + (0.0 if kind == "pick" else 0.25))
            out[kind]["label"].append(label)
            out[kind]["when"].append(format_time(int(t)))

    for e in store.events():
        t = int(e.get("time_ns", 0))
        put("event", t, event_label(e, "event"))
        for p in e.get("picks") or []:
            if p.get("stream") == state.stream and p.get("time_ns") is not None:
                put("pick", int(p["time_ns"]), str(p.get("phase") or "pick"))
    for d in detections(store, t0, t1)[:2000]:
        put("detection", int(d["time_ns"]), f"{d.get('coincidence', '')} streams")
    return out


# The click and the drag open /waveforms in the browser itself: the same in a served page, an
# iframe and a static snapshot (no server round trip).
OPEN_JS = """
const row = Math.round(-ys);
if (row < 0 || row >= rows) { return; }
let a = Math.max(Math.min(x0, x1), 0), b = Math.min(Math.max(x0, x1), row_min);
if (b - a < 0.05) { a = 0; b = row_min; }
const start = t0_ms + row * row_min * 60000;
const q = new URLSearchParams(base);
q.set('from', new Date(start + a * 60000).toISOString().replace('.000Z', 'Z'));
q.set('to', new Date(start + b * 60000).toISOString().replace('.000Z', 'Z'));
const url = 'waveforms?' + q.toString().replace(/%2C/g, ',').replace(/%3A/g, ':');
if (window.top !== window && embed) { window.open(url, '_blank'); }
else { window.location.href = url; }
"""


def waveforms_query(state: HelicorderState, store_is_default: bool) -> dict[str, str]:
    """What /waveforms needs besides the window: the store, the stream, the filter."""
    q = {} if store_is_default else {"store": state.store}
    q["streams"] = state.stream
    if state.band != "raw":
        from pipelines.analysis.filtered import parse_band

        spec = filters.spec_of(parse_band(state.band))
        q["filter"], q["fmin"] = spec.kind, f"{spec.fmin:g}"
        if spec.kind == "bandpass":
            q["fmax"] = f"{spec.fmax:g}"
    if state.units != "counts":
        q["units"] = state.units
    return q


def helicorder_figure(heli: Helicorder, state: HelicorderState, marks_: dict, theme: str,
                      query: dict[str, str], embed: bool = False):
    """The Bokeh figure: the image on a (minutes into the row, -row) plane, the rows labelled
    with their start times, the marks, and the click/drag that opens /waveforms."""
    rows, row_min = heli.rows, heli.row_ns / (60 * NS)
    clip = heli.margin_px / heli.row_px
    height = heli.index.shape[0]
    fig = figure(name="helicorder", height=height + 70,
                 sizing_mode="stretch_both" if embed else "stretch_width",
                 x_range=Range1d(0, row_min), y_range=Range1d(-(rows - 0.5 + clip),
                                                               0.5 + clip),
                 tools=[], toolbar_location="above", min_border_left=10, min_border_right=60,
                 output_backend="canvas")
    img = ColumnDataSource({"url": [encode.png_data_url(heli.index, palette(theme))], "x": [0.0],
                            "y": [-(rows - 0.5 + clip)], "dw": [row_min], "dh": [rows + 2 * clip]},
                           name="helicorder-image")
    fig.image_url(url="url", x="x", y="y", w="dw", h="dh", anchor="bottom_left", source=img)
    step = max(1, math.ceil(rows / 48))  # at most ~48 labels
    ticks = list(range(0, rows, step))
    fig.yaxis.ticker = FixedTicker(ticks=[-r for r in ticks])
    fig.yaxis.major_label_overrides = {-r: row_label(heli.t0_ns + r * heli.row_ns, heli.row_ns)
                                       for r in ticks}
    fig.yaxis.major_label_text_font_size = "11px"
    fig.ygrid.grid_line_color = None
    fig.xaxis.axis_label = "minutes after the row's start (UTC)"
    fig.xgrid.grid_line_alpha = 0.25
    fig.toolbar.logo = None
    renderers = []
    styles = {"event": ("star", 16, "#ffd400", "#6b5200"),
              "detection": ("triangle", 10, "#c03ad0", "#5a1463"),
              "pick": ("dash", 12, "#d11", "#d11")}
    for kind, (marker, size, fill, line) in styles.items():
        data = marks_.get(kind, {})
        if not data.get("x"):
            continue
        src = ColumnDataSource(data)
        r = fig.scatter(x="x", y="y", source=src, marker=marker, size=size, fill_color=fill,
                        line_color=line, line_width=1.5,
                        angle=math.pi / 2 if kind == "pick" else 0.0, name=kind)
        if kind == "event":
            fig.text(x="x", y="y", text="label", source=src, x_offset=9, y_offset=-2,
                     text_font_size="11px", text_baseline="bottom", background_fill_alpha=0.8,
                     text_color="#f0f0f0" if theme == "dark" else "#222",
                     background_fill_color="#1b1f27" if theme == "dark" else "#ffffff")
        renderers.append(r)
    if renderers:
        fig.add_tools(HoverTool(renderers=renderers, tooltips=[("", "@label"), ("", "@when")]))
    args = {"t0_ms": heli.t0_ns / 1e6, "row_min": row_min, "rows": rows, "base": query,
            "embed": embed}
    tap = TapTool(behavior="inspect")
    box = BoxSelectTool(dimensions="both")  # the box's middle says which row
    fig.add_tools(tap, box, SaveTool())
    fig.toolbar.active_tap = tap
    fig.toolbar.active_drag = box
    fig.js_on_event("tap", CustomJS(args=args, code="const x0 = cb_obj.x, x1 = cb_obj.x, "
                                    "ys = cb_obj.y;" + OPEN_JS))
    fig.js_on_event("selectiongeometry", CustomJS(args=args, code=(
        "const g = cb_obj.geometry; if (!cb_obj.final) { return; } "
        "const x0 = g.x0, x1 = g.x1, ys = (g.y0 + g.y1) / 2;" + OPEN_JS)))
    themes.style_figure(fig, theme)
    return fig


def row_label(t_ns: int, row_ns: int) -> str:
    """A row's start: 'HH:MM', with the date at midnight and on rows of a day or more."""
    text = format_time(t_ns)
    if row_ns >= DAY_NS or t_ns % DAY_NS == 0:
        return text[:10] if row_ns >= DAY_NS else text[5:10] + " " + text[11:16]
    return text[11:16]


def status_text(heli: Helicorder, state: HelicorderState, what: str, units: str) -> str:
    """What the helicorder shows, in a line."""
    scale = state.scale_value()
    how = {"auto": f"auto, {PERCENTILE:g} % of the envelope", "max": "largest excursion"
           }.get(scale, "fixed") if isinstance(scale, str) else "fixed"
    level = "samples" if heli.level == 0 else f"envelope L{heli.level}"
    clipped = f" · {heli.clipped_columns} row-columns clipped (orange)" \
        if heli.clipped_columns else ""
    return (f"{state.stream} · {what} · {format_time(state.t0_ns)} → {format_time(state.t1_ns)}"
            f" · {heli.rows} rows of {format_duration(heli.row_ns)} · half a row = "
            f"{heli.amplitude:.3g} {units} ({how}) · clipped at {state.clip:g} row"
            f"{'s' if state.clip != 1 else ''}{clipped} · {level} · click a row, or drag "
            "across part of one, to open it in Waveforms")


class HelicorderPage(Page):
    """One session's helicorder: the controls, the image, and the URL they are kept in."""

    slug = "helicorder"
    title = "Helicorder"

    def __init__(self, sources, args: dict[str, str], **params):
        super().__init__(sources, args, **params)
        label, errors = sources.resolve_or_first(args.get("store"))
        self.store: Store = sources.store(label)
        self.state, more = HelicorderState.from_query(self.store, label, args, now_ns())
        self.messages = pn.Column(*chrome.alerts(errors + more), sizing_mode="stretch_width")
        self.notes = pn.Column(sizing_mode="stretch_width")
        self.status = chrome.status_pane(self.theme)
        self.url = QuerySync(lambda: self.state.to_query(self.default_store))
        self.plot = pn.Column(sizing_mode="stretch_both" if self.embed else "stretch_width")
        self.badge = pn.pane.HTML("", margin=(0, 12), sizing_mode="stretch_width")
        self._drawing = False
        self._wanted = False
        self._fig, self._same = None, None  # the figure shown and what it was drawn for
        self._width = WIDTH  # image columns: the plot's width once the browser has laid it out
        self._data_end = self._stream_end()  # where the data ended at the last look
        self.refresher = Refresh(self.refresh)
        self._build_widgets()
        self.render()
        self._set_refresh()

    def _build_widgets(self) -> None:
        p = self.state.param
        regular = [n for n in self.store.streams()
                   if getattr(self.store[n], "kind", "") == "regular"]
        self.w_stream = pn.widgets.Select.from_param(p.stream, options=regular or [""],
                                                     width=220)
        self.w_from = pn.widgets.TextInput.from_param(p.from_text, width=200)
        self.w_to = pn.widgets.TextInput.from_param(p.to_text, width=200)
        self.w_row = pn.widgets.Select.from_param(p.row, width=110)
        self.w_band = pn.widgets.Select.from_param(p.band, width=120)
        self.w_scale = pn.widgets.TextInput.from_param(p.scale, width=200)
        self.w_clip = pn.widgets.FloatInput.from_param(p.clip, step=0.25, width=90)
        self.w_units = pn.widgets.RadioButtonGroup.from_param(p.units, color="default",
                                                              margin=(22, 10, 5, 10))
        self.w_latest = pn.widgets.Button(name="Latest day", width=100, margin=(22, 10, 5, 10))
        self.w_latest.on_click(lambda e: self.latest())
        self.w_refresh = pn.widgets.Select.from_param(p.refresh, width=100)
        p.watch(lambda e: self._set_refresh(), "refresh")
        p.watch(self._on_stream, "stream")
        p.watch(self._on_texts, ["from_text", "to_text"])
        p.watch(lambda e: self.render(), ["row", "band", "scale", "clip", "units"])

    def _on_stream(self, event) -> None:
        stream = self.store[self.state.stream]
        bands = ["raw", *(b.name for b in filters.stored_bands(stream))]
        self.state.param.band.objects = bands
        if self.state.band not in bands:
            self.state.band = "raw"
        self.render()

    def _on_texts(self, *events) -> None:
        from pipelines.timebase import parse_range

        try:
            t0, t1 = parse_range(self.state.from_text, self.state.to_text, now_ns())
            if t1 - t0 > MAX_SPAN_NS:
                raise ValueError(f"longer than {MAX_ROWS} rows of a day")
        except ValueError as exc:
            self.messages[:] = [chrome.alert(f"{exc}; the helicorder keeps its span")]
            return
        self.messages[:] = []
        if not self.state.shows(t0, t1):
            self.state.param.update(t0_ns=t0, t1_ns=t1)
            self.render()

    def _stream_end(self) -> int | None:
        """The end of the stream's data as the store holds it now."""
        if not self.state.stream:
            return None
        span = self.store[self.state.stream].span_ns
        return span[1] if span else None

    def _set_refresh(self) -> None:
        self.refresher.set(self.state.refresh)
        self._show_badge()
        self.url.write()

    def _show_badge(self) -> None:
        """The stream's latency badge in the header while the page follows the data."""
        if self.state.refresh == "off" or not self.state.stream:
            self.badge.object = ""
            return
        span = self.store[self.state.stream].span_ns
        self.badge.object = (f"<span style='margin-right:6px'>{self.state.stream} latency"
                             "</span>" + latency.badge_html(latency.latency_s(span, now_ns())))

    def refresh(self) -> None:
        """Re-read the stream's end and follow it: a span holding the end of the data draws
        what arrived, and moves on (a day to the next day, other spans by whole rows) when the
        data runs past it; a span of the past stays as it is."""
        old_end, self._data_end = self._data_end, self._stream_end()
        self._show_badge()
        s = self.state
        moved = follow_span(s.t0_ns, s.t1_ns, s.row_ns, old_end, self._data_end)
        if moved is not None:
            s.set_range(*moved)
            self.render()
        elif (self._data_end != old_end and old_end is not None
              and s.t0_ns <= old_end <= s.t1_ns):
            self.render()

    def latest(self) -> None:
        """Move the span to end with the newest data (the span's length kept, within a day:
        a drum shows the last 24 h)."""
        stream = self.store[self.state.stream] if self.state.stream else None
        span = stream.span_ns if stream is not None else None
        t0, t1 = latest_window(span, self.state.row_ns, now_ns())
        self.state.set_range(t0, t1)

    # -- drawing --------------------------------------------------------------------------
    def _on_width(self, attr, old, new) -> None:
        # One image column per screen pixel: drawn again when the plot's width changes.
        width = laid_out_px(new, self._width)
        if width != self._width:
            self._width = width
            self.render()

    def _make(self):
        """(helicorder, what, units, marks) of the state, or the exception (shown, not raised)."""
        try:
            heli, what, units = draw(self.store, self.state, self._width)
            return heli, what, units, marks(self.store, self.state)
        except Exception as exc:  # a broken chunk must not take the page down
            log.exception("helicorder failed")
            return exc

    def render(self) -> None:
        """Draw the state (in the worker pool in a served session, at once while building)."""
        if not self.state.stream:
            self.plot[:] = [chrome.alert(f"store {self.state.store} holds no stream with "
                                         "samples on a grid", "warning")]
            return
        doc = pn.state.curdoc
        if work.on_worker() or doc is None or doc.session_context is None:
            self._show(self._make())
            return
        if self._drawing:
            self._wanted = True
            return
        try:
            future = work.FRAMES.submit(self._make)
        except work.Busy as exc:
            self.notes[:] = [chrome.alert(f"{exc}.", "warning")]
            return
        self._drawing = True
        work.deliver(doc, future, lambda f: self._drawn(f))

    def _drawn(self, future) -> None:
        self._drawing = False
        if self._wanted:
            self._wanted = False
            self.render()
            return
        self._show(future.result())

    def _show(self, made) -> None:
        if isinstance(made, Exception):
            self.notes[:] = [chrome.alert("Could not read this span from the store; the "
                                          "server log has the details.", "danger")]
            return
        heli, what, units, mk = made
        query = waveforms_query(self.state, self.default_store)
        # The image's width is not the figure's (the x axis is minutes into the row).
        same = (heli.t0_ns, heli.row_ns, heli.rows, heli.index.shape[0], mk, query)
        if self._fig is not None and self._same == same:
            # The same rows with new data (a refresh) or at the plot's new width: the image
            # alone changes, in place, so the browser keeps one figure rather than stacking a
            # new one per tick.
            src = self._fig.select_one({"type": ColumnDataSource, "name": "helicorder-image"})
            src.data = dict(src.data, url=[encode.png_data_url(heli.index,
                                                               palette(self.theme))])
        else:
            fig = helicorder_figure(heli, self.state, mk, self.theme, query, self.embed)
            fig.on_change("inner_width", self._on_width)
            self._fig, self._same = fig, same
            self.plot[:] = [pn.pane.Bokeh(fig, sizing_mode="stretch_both" if self.embed
                                          else "stretch_width")]
        chrome.set_status(self.status, status_text(heli, self.state, what, units))
        self.notes[:] = [chrome.alert(n, "warning") for n in heli.notes]
        self.url.write()

    def __panel__(self) -> pn.viewable.Viewable:
        """The whole page."""
        body = [self.messages]
        if not self.embed:
            body.append(chrome.widget_row(self.w_stream, self.w_from, self.w_to, self.w_latest,
                                          self.w_refresh, self.w_row, self.w_band, self.w_scale,
                                          self.w_clip, self.w_units))
        body += [self.badge, self.plot, self.status, self.notes, self.url.view]
        return chrome.page("helicorder", *body, store=self.state.store, embed=self.embed,
                           title=self.title)

    @classmethod
    def snapshot(cls, sources, args: dict[str, str], theme: str,
                 fit: tuple[int, int] | None) -> SnapshotParts:
        """The helicorder figure with its image inline (the click still opens /waveforms
        relative to where the snapshot is served)."""
        label = cls.snapshot_label(sources, args)
        store = sources.store(label)
        state, errors = HelicorderState.from_query(store, label, args, now_ns())
        if errors:
            raise SnapshotError("; ".join(errors))
        if not state.stream:
            raise SnapshotError(f"store {label} holds no stream with samples on a grid")
        row_px = None
        if fit is not None:
            row_px = int(min(max((fit[1] - 120) // max(state.rows, 1), 3), ROW_PX[1]))
        heli, what, units = draw(store, state, WIDTH, row_px)
        fig = helicorder_figure(heli, state, marks(store, state), theme,
                                waveforms_query(state, False))
        figs = style_and_fit([fig], theme, fit)
        meta = {"streams": [state.stream], "from": format_time(state.t0_ns),
                "to": format_time(state.t1_ns), "hint": status_text(heli, state, what, units),
                "query": state.to_query(False)}
        return SnapshotParts(figs, meta, label, store.url)
