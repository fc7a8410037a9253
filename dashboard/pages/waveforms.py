"""The waveforms page: stacked traces of the chosen streams on one UTC time axis.

One Bokeh plot holds one RGBA image of all the bands (see `frames.make_frame`). Every change of
its x range (wheel, box zoom, pan, the range tool of the overview strip, a typed time, a jump to
an event) asks for a new frame at the plot's pixel size, so nothing is ever loaded whole. The
page's state is a `WaveformState`; the widgets are made from its parameters, and the URL is
written back from it after every render.
"""

from __future__ import annotations

import contextlib
import logging

import panel as pn
from bokeh import events as bk_events
from bokeh.models import (
    BoxAnnotation,
    BoxSelectTool,
    ColumnDataSource,
    CrosshairTool,
    PanTool,
    Range1d,
    RangeTool,
    ResetTool,
    SaveTool,
    TapTool,
    WheelZoomTool,
)
from bokeh.plotting import figure

from dashboard import chrome, encode, filters, latency, measure, share, tiles, work
from dashboard import theme as themes
from dashboard.address import QuerySync
from dashboard.bands import band_px, event_label, style_bands
from dashboard.cds import set_data
from dashboard.frames import make_frame, physical_units
from dashboard.pages.base import (
    PatternStreams,
    Refresh,
    SnapshotParts,
    follow_latest,
    laid_out_px,
)
from dashboard.pages.stations import TABLE_CSS
from dashboard.pages.timerange import RENDER_WIDTH, TimeRangePage, ms
from dashboard.picks import MarkLayers
from dashboard.state import (
    EVENT_AFTER_NS,
    EVENT_BEFORE_NS,
    WaveformState,
    data_span,
)
from pipelines.store import Store
from pipelines.timebase import format_duration, format_time, now_ns

log = logging.getLogger(__name__)

OVERVIEW_ROWS = 40  # pixels of the overview strip's frame (at least 4 a stream)
AXES_PX = 70  # height the x axis and toolbar take around the bands
HEADROOM = 0.3  # of a band, above the top one: room for the earthquake markers


class WaveformsPage(PatternStreams, TimeRangePage):
    """One session's waveform view: widgets, the plot, and the URL they are kept in."""

    slug = "waveforms"
    title = "Waveforms"

    def __init__(self, sources, args: dict[str, str], **params):
        label, errors = sources.resolve_or_first(args.get("store"))
        store: Store = sources.store(label)
        state, more = WaveformState.from_query(store, label, args, now_ns())
        super().__init__(sources, args, state=state, **params)
        self.store = store
        self.messages = pn.Column(*chrome.alerts(errors + more),
                                  *chrome.paging(self.slug, state, args),
                                  *chrome.alerts(state.notes, "info"),
                                  sizing_mode="stretch_width")
        self.notes = pn.Column(sizing_mode="stretch_width")
        self.measured = pn.pane.HTML("", sizing_mode="stretch_width", margin=(4, 12),
                                     stylesheets=themes.stylesheets(self.theme, TABLE_CSS))
        self.share: share.ShareControl | None = None
        self.url = QuerySync(lambda: self.state.to_query(self.default_store))
        self.refresher = Refresh(self.refresh)
        self._wanted = None  # the render job waiting for the one being drawn
        self._drawing = False
        self.frame_bytes = 0  # PNG bytes of the last frame sent
        self.streams = [store[n] for n in state.streams]
        span = data_span(store, state.streams) if state.streams else None
        self._data_end = span[1] if span else None  # where the data ended at the last look
        self.events = store.events()
        self._build_widgets()
        self.plot_holder = pn.Column(sizing_mode="stretch_both" if self.embed
                                     else "stretch_width")
        self.status = chrome.status_pane(self.theme)
        self._build_plot()
        self._set_refresh()

    # -- widgets --------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        p = self.state.param
        self.w_pattern = pn.widgets.TextInput.from_param(p.pattern, placeholder="BV.*.00.HH?",
                                                         width=260)
        self.w_streams = pn.widgets.MultiChoice.from_param(
            p.streams, options=self.store.streams(), width=420, max_items=None, solid=False)
        self.time_widgets()
        self.w_scale = pn.widgets.RadioButtonGroup.from_param(
            p.scale, options={"robust": "robust", "max": "trace", "shared": "shared"},
            color="default", margin=(22, 10, 5, 10))
        self.w_units = pn.widgets.RadioButtonGroup.from_param(
            p.units, options={"counts": "counts", "physical": "physical"}, color="default",
            margin=(22, 10, 5, 10))
        self.w_filter = pn.widgets.Select.from_param(
            p.filter_kind, options={"none": "none", "high-pass": "highpass",
                                    "band-pass": "bandpass", "low-pass": "lowpass"}, width=110)
        self.w_band = filters.band_choice(self.state, self.streams)  # stored: any span
        self.w_fmin = pn.widgets.FloatInput.from_param(p.fmin, start=1e-4, step=0.5, width=90)
        self.w_fmax = pn.widgets.FloatInput.from_param(p.fmax, start=1e-4, step=0.5, width=90)
        self.w_refresh = pn.widgets.Select.from_param(p.refresh, width=100)
        ev_options = {"—": ""}
        for e in self.events:
            ev_options[f"{format_time(int(e['time_ns']))} {event_label(e, 'M?')} "
                       f"{e.get('id', '')}"] = str(e.get("id", ""))
        self.w_event = pn.widgets.Select(label="Jump to earthquake", options=ev_options,
                                         value="", width=330)
        self.state.param.watch(self._on_pattern, "pattern")
        self.state.param.watch(self._on_streams, "streams")
        self.state.param.watch(self._on_options, ["scale", "units", "filter_kind", "fmin",
                                                  "fmax"])
        self.state.param.watch(lambda e: self._set_refresh(), "refresh")
        self.w_event.param.watch(self._on_event_choice, "value")

    def controls(self) -> pn.viewable.Viewable:
        """The widget rows above the plot."""
        return pn.Column(
            chrome.widget_row(self.w_pattern, self.w_streams, self.w_event),
            chrome.widget_row(self.w_from, self.w_to, self.w_quick, self.w_refresh,
                              self.w_scale, self.w_units, self.w_filter, self.w_fmin,
                              self.w_fmax, self.w_band),
            sizing_mode="stretch_width")

    # -- the plot -------------------------------------------------------------------------
    def _build_plot(self) -> None:
        n = max(len(self.streams), 1)
        self.band = band_px(n)
        s = self.state
        span = data_span(self.store, s.streams) if s.streams else None
        reset = span or (s.t0_ns, s.t1_ns)
        x_range = Range1d(ms(s.t0_ns), ms(s.t1_ns), reset_start=ms(reset[0]),
                          reset_end=ms(reset[1]))
        y_range = Range1d(-0.5, n - 0.5 + HEADROOM)
        wheel = WheelZoomTool(dimensions="width")
        select = BoxSelectTool(dimensions="width", name="measure",
                               description="Measure: drag over a window (peak-to-peak, RMS, "
                                           "mean, dominant frequency of its samples)")
        tools = [PanTool(dimensions="width"), wheel, "xbox_zoom", select, ResetTool(),
                 SaveTool(), CrosshairTool(dimensions="height", line_alpha=0.4)]
        # Embedded, the plot fills its iframe (the bands share whatever height it has); else
        # its frame is the bands' pixels exactly, so a frame is drawn 1:1, never resampled.
        size = ({"sizing_mode": "stretch_both", "min_height": n * 40 + AXES_PX} if self.embed
                else {"sizing_mode": "stretch_width",
                      "frame_height": round((n + HEADROOM) * self.band)})
        fig = figure(name="waveforms", x_axis_type="datetime", x_range=x_range, y_range=y_range,
                     **size, tools=tools, toolbar_location="above",
                     min_border_left=10, min_border_right=20, output_backend="canvas")
        style_bands(fig, wheel, s.streams)
        # The frame as a palette PNG (see `encode`): bands in the theme's colours.
        self.img_src = ColumnDataSource({"url": [], "x": [], "y": [], "dw": [], "dh": []})
        fig.image_url(url="url", x="x", y="y", w="dw", h="dh", anchor="bottom_left",
                      source=self.img_src)
        self.label_src = ColumnDataSource({"x": [], "y": [], "text": []})
        fig.text(x="x", y="y", text="text", source=self.label_src, text_font_size="11px",
                 text_color="#556", x_offset=6, text_baseline="top", name="band_labels",
                 background_fill_color=themes.DARK_BG if self.theme == "dark" else "#ffffff",
                 background_fill_alpha=0.75)
        self.badge_src = ColumnDataSource({"x": [], "y": [], "text": [], "color": []})
        fig.text(x="x", y="y", text="text", source=self.badge_src, text_font_size="11px",
                 text_color="#ffffff", text_align="right", text_baseline="top", x_offset=-4,
                 background_fill_color="color", border_radius=3, padding=2, name="latency")
        self._add_events(fig, n)
        self._add_measure(fig, select)
        themes.style_figure(fig, self.theme)
        self.fig = fig
        self.follow(fig)
        self.overview = None if self.embed else self._build_overview(n, reset, x_range)
        items = [pn.pane.Bokeh(fig, sizing_mode="stretch_both" if self.embed
                               else "stretch_width")]
        if self.overview is not None:
            items.append(pn.pane.Bokeh(self.overview, sizing_mode="stretch_width"))
        self.plot_holder[:] = items
        self.render()

    def _add_events(self, fig, n: int) -> None:
        """Picks, earthquakes and detections (see `picks`), laid out again for each frame."""
        self.marks = MarkLayers(fig, n, self.events, self.store)
        self.event_src = self.marks.event_src
        fig.add_tools(TapTool(renderers=[self.marks.event_marker], behavior="select"))
        self.event_src.selected.on_change("indices", self._on_event_tap)

    def _add_measure(self, fig, select: BoxSelectTool) -> None:
        """A dragged selection measures the raw samples under it (see `measure`)."""
        # The select tool needs a renderer to select in; an empty one never holds a point.
        target = fig.scatter(x=[], y=[], size=0, name="measure_target")
        select.renderers = [target]
        self.selection = BoxAnnotation(visible=False, fill_color="#ffb000",
                                       fill_alpha=0.12, line_color="#b07800", line_alpha=0.6,
                                       name="measured", level="underlay")
        fig.add_layout(self.selection)
        fig.on_event(bk_events.SelectionGeometry, self._on_select)

    def _on_select(self, event) -> None:
        geometry = event.geometry or {}
        if not event.final or geometry.get("type") != "rect":
            return
        t0, t1 = sorted((int(round(geometry["x0"] * 1e6)), int(round(geometry["x1"] * 1e6))))
        if t1 > t0:
            self.measure_window(t0, t1)

    def measure_window(self, t0_ns: int, t1_ns: int) -> None:
        """Measure [t0, t1) on every stream shown and show the table (off the event loop)."""
        self.selection.update(left=ms(t0_ns), right=ms(t1_ns), visible=True)
        streams, units = list(self.streams), self.state.units
        doc = self.fig.document or pn.state.curdoc
        if work.on_worker() or doc is None or doc.session_context is None:
            self.measured.object = self._measure(streams, units, t0_ns, t1_ns)
            return
        try:
            future = work.FRAMES.submit(self._measure, streams, units, t0_ns, t1_ns)
        except work.Busy as exc:
            self.notes[:] = [chrome.alert(f"{exc}.", "warning")]
            return
        work.deliver(doc, future, lambda f: setattr(self.measured, "object", f.result()))

    @staticmethod
    def _measure(streams, units: str, t0_ns: int, t1_ns: int) -> str:
        found = []
        for st in streams:
            phys = physical_units(st) if units == "physical" else None
            try:
                found.append(measure.measure(st, t0_ns, t1_ns, *(phys or (None, "counts"))))
            except Exception:  # a broken chunk: say so in its row, measure the others
                log.exception("measurement failed")
                found.append(measure.Measurement(st.name, "", why="could not be read"))
        return measure.table_html(found, t0_ns, t1_ns)

    def _build_overview(self, n: int, span: tuple[int, int], main_range: Range1d):
        if not self.streams:
            return None
        pad = (span[1] - span[0]) * 0.01
        lo, hi = span[0] - pad, span[1] + pad
        rows = max(OVERVIEW_ROWS, n * 4)
        ov = figure(name="overview", x_axis_type="datetime", frame_height=rows,
                    sizing_mode="stretch_width",
                    x_range=Range1d(ms(lo), ms(hi)), y_range=Range1d(-0.5, n - 0.5),
                    toolbar_location=None, tools="", min_border_left=10, min_border_right=20)
        ov.yaxis.visible = False
        ov.ygrid.grid_line_color = None
        ov.xaxis.major_label_text_font_size = "10px"
        self._overview_job = (list(self.streams), int(lo), int(hi), rows)
        self.overview_src = ColumnDataSource(
            {"url": [self._overview_url(self._overview_job, RENDER_WIDTH)]})
        ov.image_url(url="url", x=ms(lo), y=-0.5, w=ms(hi - lo), h=n, anchor="bottom_left",
                     source=self.overview_src)
        ov.on_change("inner_width", self._on_overview_width)
        tool = RangeTool(x_range=main_range)
        tool.overlay.fill_color = "#2d6cb5"
        tool.overlay.fill_alpha = 0.15
        ov.add_tools(tool)
        ov.title.text = "Overview: drag the box to move, its edges to zoom"
        ov.title.text_font_size = "11px"
        ov.title.text_font_style = "normal"
        return themes.style_figure(ov, self.theme)

    def _overview_url(self, job: tuple, width: int) -> str:
        streams, lo, hi, rows = job
        frame = make_frame(streams, lo, hi, width, rows)
        return encode.png_data_url(frame.index, themes.trace_palette(self.theme))

    def _on_overview_width(self, attr, old, new) -> None:
        # Built before the browser laid the page out: drawn again at the strip's own width,
        # one column per pixel, off the event loop like any frame.
        doc = self.overview.document if self.overview is not None else None
        width = laid_out_px(new, 0)
        if not width or doc is None or doc.session_context is None:
            return
        job = self._overview_job
        try:
            future = work.FRAMES.submit(self._overview_url, job, width)
        except work.Busy:
            return  # the strip keeps the image it has, stretched
        work.deliver(doc, future, lambda f: self._overview_drawn(job, f))

    def _overview_drawn(self, job: tuple, future) -> None:
        if job is not self._overview_job:
            return  # the streams changed meanwhile: a new strip was built
        try:
            url = future.result()
        except Exception:  # a broken chunk: the strip keeps the image it has
            log.exception("overview failed")
            return
        self.overview_src.data = {"url": [url]}

    # -- rendering ------------------------------------------------------------------------
    def range_figure(self):
        """The waveforms figure: its x range is the view's."""
        return self.fig

    def data_span(self) -> tuple[int, int] | None:
        """The span of the streams shown."""
        return data_span(self.store, self.state.streams)

    def render(self) -> None:
        """Draw the current range at the plot's pixel size and update the URL.

        In a served session the frame is made in the worker pool and shown when it is done
        (the event loop never waits on the store); a newer range asked for meanwhile replaces
        the one waiting, so a fast zoom draws its last range, not every step."""
        s = self.state
        width = self.plot_width()
        n = max(len(self.streams), 1)
        self.mark_drawn()
        job = (list(self.streams), s.t0_ns, s.t1_ns, width, self._plot_height(n), s.options)
        doc = self.fig.document or pn.state.curdoc
        if work.on_worker() or doc is None or doc.session_context is None:
            self._show(job, self._make(job))  # building the page: already off the loop
            return
        self._wanted = job
        if not self._drawing:
            self._start(doc)

    def _start(self, doc) -> None:
        job, self._wanted = self._wanted, None
        try:
            future = work.FRAMES.submit(self._make, job)
        except work.Busy as exc:
            self.notes[:] = [chrome.alert(f"{exc}.", "warning")]
            return
        self._drawing = True
        work.deliver(doc, future, lambda f: self._drawn(doc, job, f))

    def _drawn(self, doc, job, future) -> None:
        self._drawing = False
        if self._wanted is not None:  # the view moved on: draw where it is now
            self._start(doc)
            return
        # One message to the browser: one repaint, not one per change. Not before Panel counts
        # the session as loaded: it drops what a hold collected until then, and the browser's
        # first layout (the plot's real width, so the first frame redrawn at it) comes earlier.
        held = pn.io.hold(doc) if pn.state.loaded else contextlib.nullcontext()
        with held:
            self._show(job, future.result())

    def _make(self, job):
        """(frame, PNG bytes, marks) of a render job, or the exception (shown, not raised)."""
        streams, t0, t1, width, height, options = job
        try:
            frame = make_frame(streams, t0, t1, width, height, options)
            marks = self.marks.layout([s.name for s in streams], t0, t1, width,
                                      frame.band_height)
            return frame, encode.png_bytes(frame.index, themes.trace_palette(self.theme)), marks
        except Exception as exc:  # a broken chunk must not take the page down
            log.exception("frame failed")
            return exc, b"", None

    def _show(self, job, made) -> None:
        frame, png, marks = made
        if isinstance(frame, Exception):
            self.notes[:] = [chrome.alert("Could not read this window from the store; the "
                                          "server log has the details.", "danger")]
            return
        _streams, t0, t1, width, _height, options = job
        n = max(len(frame.traces), 1)
        self.frame_bytes = len(png)
        self.img_src.data = {"url": [encode.data_url(png)], "x": [ms(t0)], "y": [-0.5],
                             "dw": [ms(t1 - t0)], "dh": [n]}
        set_data(self.label_src, {"x": [ms(t0)] * len(frame.traces),
                                  "y": [n - 1 - i + 0.47 for i in range(len(frame.traces))],
                                  "text": [t.label for t in frame.traces]})
        self.marks.show(marks)
        set_data(self.badge_src, self._latency_badges(frame))
        px = (t1 - t0) / width
        filt = ""
        spec = options.filter
        if spec.active:
            done = sum(t.filtered for t in frame.traces)
            filt = f" · {spec.describe()} on {done} of {len(frame.traces)} traces"
        chrome.set_status(self.status, f"{format_time(t0)} → {format_time(t1)} "
                          f"({format_duration(t1 - t0)}) · 1 pixel ≈ {format_duration(px)}{filt}")
        self.notes[:] = [chrome.alert(note, "warning") for note in frame.notes
                         + filters.missing_notes(self.streams, options.filter, t0, t1,
                                                 width)]
        self.url.write()
        if self.share is not None:
            self.share.update()

    def _plot_height(self, n: int) -> int:
        # Embedded, the bands share the height the iframe gives the plot.
        if self.embed:
            _, height = self.plot_size()
            if height:
                return int(height * n / (n + HEADROOM))
        return n * self.band

    # -- reacting -------------------------------------------------------------------------
    def _on_streams(self, event) -> None:
        if self.state.pattern and not self.state.pattern_applies():
            self.state.pattern = ""  # picked by hand: the wildcards no longer say what is shown
        self.streams = [self.store[n] for n in self.state.streams]
        self.run_locked(self._build_plot)

    def _on_options(self, *events) -> None:
        s = self.state
        try:
            filters.check_spec(filters.FilterSpec(s.filter_kind, float(s.fmin or 1.0),
                                                  float(s.fmax or 10.0)))
        except ValueError as exc:
            self.messages[:] = [chrome.alert(f"{exc}; the filter is off")]
        else:
            self.messages[:] = []
        self.run_locked(self.render)

    def _on_event_choice(self, event) -> None:
        if event.new:
            self.jump_to_event(event.new)

    def _on_event_tap(self, attr, old, new) -> None:
        if new:
            self.jump_to_event(self.event_src.data["id"][new[0]])
            self.event_src.selected.indices = []

    def jump_to_event(self, event_id: str) -> None:
        """Show an earthquake of the catalogue from a minute before to four after."""
        for e in self.events:
            if str(e.get("id")) == event_id:
                t = int(e["time_ns"])
                self.go_to(t - EVENT_BEFORE_NS, t + EVENT_AFTER_NS)
                return

    def _set_refresh(self) -> None:
        self.refresher.set(self.state.refresh)
        self.url.write()

    def refresh(self) -> None:
        """Re-read the streams (new data may have arrived) and follow it: a relative range
        (now-1h) follows `now`; a view that reached the end of the data moves on with it,
        keeping its length; a view of the past stays where it is."""
        old_end = self._data_end
        self.streams = [self.store[n] for n in self.state.streams]
        span = self.data_span()
        self._data_end = span[1] if span else None
        s = self.state
        if "now" in (s.from_text + s.to_text).lower():
            try:
                s.resolve(now_ns())  # a new range renders through the window watcher
            except ValueError:
                return
            if self.is_drawn():
                self.render()
            return
        moved = follow_latest(s.t0_ns, s.t1_ns, old_end, self._data_end)
        if moved is not None:
            s.set_range(*moved)  # renders through the window watcher
        else:
            self.render()

    def _latency_badges(self, frame) -> dict[str, list]:
        """One badge per band at its right end while the page follows the data."""
        cols: dict[str, list] = {"x": [], "y": [], "text": [], "color": []}
        if self.state.refresh == "off":
            return cols
        now, n = now_ns(), max(len(frame.traces), 1)
        for i, st in enumerate(self.streams):
            text, colour = latency.badge(latency.latency_s(st.span_ns, now))
            cols["x"].append(ms(frame.t1_ns))
            cols["y"].append(n - 1 - i + 0.47)
            cols["text"].append(text)
            cols["color"].append(colour)
        return cols

    # -- page -----------------------------------------------------------------------------
    def __panel__(self) -> pn.viewable.Viewable:
        """The whole page."""
        body = [self.messages, self.time_note]
        if not self.embed:
            self.share = share.ShareControl(
                "waveforms", self._share_query, figure="waveforms",
                locked=lambda: self._share_query(locked=True))
            body += [self.controls(), self.share.view()]
        body += [self.plot_holder, self.status, self.notes, self.measured, self.url.view]
        return chrome.page("waveforms", *body, store=self.state.store, embed=self.embed,
                           title=self.title)

    def _share_query(self, locked: bool = False) -> dict[str, str]:
        q = self.state.to_query(self.default_store)
        if locked:
            q |= self.state.locked_query()
            q.pop("refresh", None)
        return q

    @classmethod
    def snapshot(cls, sources, args: dict[str, str], theme: str,
                 fit: tuple[int, int] | None) -> SnapshotParts:
        """The bands as zoomable tiles (see `tiles`), with the earthquakes of the range."""
        label, store, state = cls.snapshot_state(sources, args, WaveformState, now_ns())
        body, meta = tiles.tiled_bands(store, state, theme, fit)
        meta["query"] = state.to_query(False)
        return SnapshotParts(body, meta, label, store.url)
