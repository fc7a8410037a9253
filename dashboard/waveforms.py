"""The waveforms page: stacked traces of the chosen streams on one UTC time axis.

One Bokeh plot holds one RGBA image of all the bands (see `frames.make_frame`). Every change of
its x range (wheel, box zoom, pan, the range tool of the overview strip, a typed time, a jump to
an event) asks for a new frame at the plot's pixel size, so nothing is ever loaded whole. The
state of the view is written back to the URL after every change.
"""

from __future__ import annotations

import logging

import numpy as np
import panel as pn
from bokeh.core.property.descriptors import UnsetValueError
from bokeh.models import (
    ColumnDataSource,
    CrosshairTool,
    FixedTicker,
    PanTool,
    Range1d,
    RangeTool,
    ResetTool,
    SaveTool,
    TapTool,
    WheelZoomTool,
)
from bokeh.plotting import figure

from dashboard import embed, filters, layout, share
from dashboard.frames import SCALES, UNITS, make_frame
from dashboard.sources import Sources
from dashboard.timeview import QUICK_CHOICES, TimeRangeView, ms
from dashboard.viewstate import (
    EVENT_AFTER_NS,
    EVENT_BEFORE_NS,
    REFRESH_CHOICES,
    WaveformState,
    data_span,
    parse_waveform_args,
    select_streams,
)
from pipelines.store import Store, UnknownStreamError
from pipelines.timebase import format_duration, format_time, now_ns, parse_range

log = logging.getLogger(__name__)

RENDER_WIDTH = 1200  # pixels to render until the browser reports the plot's real width
OVERVIEW_HEIGHT = 90
AXES_PX = 70  # height the x axis and toolbar take around the bands


def band_px(n: int) -> int:
    """Height of one band: tall for a few streams, compact for many."""
    return int(max(40, min(120, 640 // max(n, 1))))


def style_bands(fig: figure, wheel: WheelZoomTool, names: list[str], n: int | None = None,
                label_px: int = 12) -> None:
    """The band figures' look (waveforms, mission): wheel zoom on, a UTC axis, `n` bands
    (default one per name), the top ones labelled with `names`."""
    n = max(len(names), 1) if n is None else n  # an empty view keeps one blank band
    fig.toolbar.active_scroll = wheel
    fig.toolbar.logo = None
    fig.xaxis.axis_label = "UTC"
    fig.yaxis.ticker = FixedTicker(ticks=list(range(n)))
    fig.yaxis.major_label_overrides = {n - 1 - i: name for i, name in enumerate(names)}
    fig.yaxis.major_label_text_font_size = f"{label_px}px"
    fig.ygrid.grid_line_color = None
    fig.xgrid.grid_line_alpha = 0.4


class WaveformsPage(TimeRangeView):
    """One session's waveform view: widgets, the plot, and the URL they are kept in."""

    def __init__(self, sources: Sources, args: dict[str, str]):
        self.sources = sources
        self.args = args
        self.embed = layout.is_embed(args)
        self.theme = embed.theme_of(args)
        self.messages = pn.Column(sizing_mode="stretch_width")
        self.notes = pn.Column(sizing_mode="stretch_width")
        label, errors = sources.resolve_or_first(args.get("store"))
        self.store: Store = sources.store(label)
        state, more = parse_waveform_args(self.store, label, args, now_ns())
        self.state: WaveformState = state
        self._url_errors = errors + more
        self._pending = False
        self._updating = False
        self._refresh_cb = None
        self.share: share.ShareControl | None = None
        self.streams = [self.store[n] for n in self.state.streams]
        self.events = self.store.events()
        self._build_widgets()
        self.plot_holder = pn.Column(sizing_mode="stretch_both" if self.embed
                                     else "stretch_width")
        self.status = pn.pane.Markdown("", sizing_mode="stretch_width", margin=(0, 12),
                                       styles={"color": "#aab6c4" if self.theme == "dark"
                                               else "#445", "font-size": "13px"})
        self._build_plot()
        self._show_messages(self._url_errors)
        self._set_refresh(self.state.refresh)

    # -- widgets --------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        s = self.state
        names = self.store.streams()
        self.w_pattern = pn.widgets.TextInput(
            label="Streams (wildcards, comma separated)", value=s.pattern,
            placeholder="BV.*.00.HH?", width=260)
        self.w_streams = pn.widgets.MultiChoice(
            label="Streams", options=names, value=list(s.streams), width=420,
            max_items=None, solid=False)
        self.w_from = pn.widgets.TextInput(label="From (UTC, ISO or now-6h)", value=s.from_text,
                                           placeholder="ISO time or now-6h", width=210)
        self.w_to = pn.widgets.TextInput(label="To", value=s.to_text, placeholder="ISO time or now",
                                         width=210)
        self.w_quick = pn.widgets.Select(
            label="Quick range",
            options=QUICK_CHOICES, value="—", width=170)
        self.w_scale = pn.widgets.RadioButtonGroup(
            label="Amplitude", options={"per trace": "trace", "shared": "shared"},
            value=s.scale, color="default", margin=(22, 10, 5, 10))
        self.w_units = pn.widgets.RadioButtonGroup(
            label="Units", options={"counts": "counts", "physical": "physical"}, value=s.units,
            color="default", margin=(22, 10, 5, 10))
        self.w_filter = pn.widgets.Select(
            label="Filter", options={"none": "none", "high-pass": "highpass",
                                    "band-pass": "bandpass"}, value=s.filter.kind, width=110)
        self.w_fmin = pn.widgets.FloatInput(label="fmin (Hz)", value=s.filter.fmin, start=1e-4,
                                            step=0.5, width=90)
        self.w_fmax = pn.widgets.FloatInput(label="fmax (Hz)", value=s.filter.fmax, start=1e-4,
                                            step=0.5, width=90)
        self.w_refresh = pn.widgets.Select(label="Auto-refresh", options=list(REFRESH_CHOICES),
                                           value=s.refresh, width=100)
        ev_options = {"—": ""}
        for e in self.events:
            mag = e.get("magnitude")
            mag_text = f"M{mag:.1f}" if isinstance(mag, int | float) else "M?"
            ev_options[f"{format_time(int(e['time_ns']))} {mag_text} {e.get('id', '')}"] = \
                str(e.get("id", ""))
        self.w_event = pn.widgets.Select(label="Jump to earthquake", options=ev_options,
                                         value="", width=330)
        self.w_pattern.param.watch(self._on_pattern, "value")
        self.w_streams.param.watch(self._on_streams, "value")
        self.w_from.param.watch(self._on_time_text, "value")
        self.w_to.param.watch(self._on_time_text, "value")
        self.w_quick.param.watch(self._on_quick, "value")
        for w in (self.w_scale, self.w_units, self.w_filter, self.w_fmin, self.w_fmax):
            w.param.watch(self._on_options, "value")
        self.w_refresh.param.watch(lambda e: self._set_refresh(e.new), "value")
        self.w_event.param.watch(self._on_event_choice, "value")

    def controls(self) -> pn.viewable.Viewable:
        """The widget rows above the plot."""
        return pn.Column(
            pn.Row(self.w_pattern, self.w_streams, self.w_event),
            pn.Row(self.w_from, self.w_to, self.w_quick, self.w_refresh, self.w_scale,
                   self.w_units, self.w_filter, self.w_fmin, self.w_fmax),
            sizing_mode="stretch_width")

    # -- the plot -------------------------------------------------------------------------
    def _build_plot(self) -> None:
        n = max(len(self.streams), 1)
        self.band = band_px(n)
        s = self.state
        height = n * self.band + AXES_PX
        span = data_span(self.store, s.streams) if s.streams else None
        reset = span or (s.t0_ns, s.t1_ns)
        x_range = Range1d(ms(s.t0_ns), ms(s.t1_ns), reset_start=ms(reset[0]),
                          reset_end=ms(reset[1]))
        # Headroom above the top band for the earthquake markers.
        y_range = Range1d(-0.5, n - 0.5 + 0.3)
        wheel = WheelZoomTool(dimensions="width")
        tools = [PanTool(dimensions="width"), wheel, "xbox_zoom", ResetTool(), SaveTool(),
                 CrosshairTool(dimensions="height", line_alpha=0.4)]
        # Embedded, the plot fills its iframe (the bands share whatever height it has).
        size = ({"sizing_mode": "stretch_both", "min_height": n * 40 + AXES_PX} if self.embed
                else {"sizing_mode": "stretch_width", "height": height})
        fig = figure(name="waveforms", x_axis_type="datetime", x_range=x_range, y_range=y_range,
                     **size, tools=tools, toolbar_location="above",
                     min_border_left=10, min_border_right=20, output_backend="canvas")
        style_bands(fig, wheel, s.streams)
        self.img_src = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": []})
        fig.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=self.img_src)
        self.label_src = ColumnDataSource({"x": [], "y": [], "text": []})
        fig.text(x="x", y="y", text="text", source=self.label_src, text_font_size="11px",
                 text_color="#556", x_offset=6, text_baseline="top")
        self._add_events(fig, n)
        embed.style_figure(fig, self.theme)
        fig.x_range.on_change("start", self._on_range)
        fig.x_range.on_change("end", self._on_range)
        fig.on_change("inner_width", self._on_range)
        if self.embed:
            fig.on_change("inner_height", self._on_range)
        self.fig = fig
        self.overview = None if self.embed else self._build_overview(n, reset, x_range)
        items = [pn.pane.Bokeh(fig, sizing_mode="stretch_both" if self.embed
                               else "stretch_width")]
        if self.overview is not None:
            items.append(pn.pane.Bokeh(self.overview, sizing_mode="stretch_width"))
        self.plot_holder[:] = items
        self.render()

    def _add_events(self, fig, n: int) -> None:
        evs = self.events
        xs = [ms(e["time_ns"]) for e in evs]
        labels = []
        for e in evs:
            mag = e.get("magnitude")
            labels.append(f"M{mag:.1f}" if isinstance(mag, int | float) else "event")
        self.event_src = ColumnDataSource({"x": xs, "label": labels,
                                           "id": [str(e.get("id", "")) for e in evs]})
        top = n - 0.5 + 0.18
        fig.segment(x0="x", x1="x", y0=-0.5, y1=top, source=self.event_src, line_color="#c0392b",
                    line_dash="dashed", line_alpha=0.7, line_width=1.5)
        marks = fig.scatter(x="x", y=top, source=self.event_src, marker="inverted_triangle",
                            size=14, fill_color="#c0392b", line_color="#7b241c",
                            nonselection_fill_alpha=1.0, nonselection_line_alpha=1.0)
        fig.text(x="x", y=top, text="label", source=self.event_src, x_offset=9, y_offset=1,
                 text_font_size="11px", text_color="#7b241c", text_baseline="middle")
        fig.add_tools(TapTool(renderers=[marks], behavior="select"))
        self.event_src.selected.on_change("indices", self._on_event_tap)
        # Picks of the shown streams: a short tick in their band.
        rows = {name: n - 1 - i for i, name in enumerate(self.state.streams)}
        px, py0, py1, ptext = [], [], [], []
        for e in evs:
            for p in e.get("picks") or []:
                if p.get("stream") in rows and p.get("time_ns") is not None:
                    y = rows[p["stream"]]
                    px.append(ms(p["time_ns"]))
                    py0.append(y - 0.42)
                    py1.append(y + 0.42)
                    ptext.append(str(p.get("phase") or "pick"))
        if px:
            src = ColumnDataSource({"x": px, "y0": py0, "y1": py1, "text": ptext})
            fig.segment(x0="x", x1="x", y0="y0", y1="y1", source=src, line_color="#111",
                        line_width=2)
            fig.text(x="x", y="y1", text="text", source=src, x_offset=3, text_font_size="10px",
                     text_baseline="top")

    def _build_overview(self, n: int, span: tuple[int, int], main_range: Range1d):
        if not self.streams:
            return None
        pad = (span[1] - span[0]) * 0.01
        lo, hi = span[0] - pad, span[1] + pad
        ov = figure(name="overview", x_axis_type="datetime", height=OVERVIEW_HEIGHT,
                    sizing_mode="stretch_width",
                    x_range=Range1d(ms(lo), ms(hi)), y_range=Range1d(-0.5, n - 0.5),
                    toolbar_location=None, tools="", min_border_left=10, min_border_right=20)
        ov.yaxis.visible = False
        ov.ygrid.grid_line_color = None
        ov.xaxis.major_label_text_font_size = "10px"
        frame = make_frame(self.streams, int(lo), int(hi), RENDER_WIDTH,
                           max(OVERVIEW_HEIGHT - 30, n * 4))
        ov.image_rgba(image=[np.flipud(embed.recolor(frame.image, self.theme))], x=ms(lo),
                      y=-0.5, dw=ms(hi - lo), dh=n)
        tool = RangeTool(x_range=main_range)
        tool.overlay.fill_color = "#2d6cb5"
        tool.overlay.fill_alpha = 0.15
        ov.add_tools(tool)
        ov.title.text = "Overview: drag the box to move, its edges to zoom"
        ov.title.text_font_size = "11px"
        ov.title.text_font_style = "normal"
        return embed.style_figure(ov, self.theme)

    # -- rendering ------------------------------------------------------------------------
    def render(self) -> None:
        """Draw the current range at the plot's pixel size and update the URL."""
        s = self.state
        width = self._plot_width()
        n = max(len(self.streams), 1)
        try:
            frame = make_frame(self.streams, s.t0_ns, s.t1_ns, width, self._plot_height(n),
                               s.options)
        except Exception:  # a broken chunk must not take the page down; say it, keep serving
            log.exception("frame failed")
            self.notes[:] = [layout.alert("Could not read this window from the store; the "
                                          "server log has the details.", "danger")]
            return
        image = embed.recolor(frame.image, self.theme)
        self.img_src.data = {"image": [np.flipud(image)], "x": [ms(s.t0_ns)],
                             "y": [-0.5], "dw": [ms(s.t1_ns - s.t0_ns)], "dh": [n]}
        self.label_src.data = {"x": [ms(s.t0_ns)] * len(frame.traces),
                               "y": [n - 1 - i + 0.47 for i in range(len(frame.traces))],
                               "text": [t.label for t in frame.traces]}
        px = (s.t1_ns - s.t0_ns) / width
        filt = ""
        if s.filter.active:
            done = sum(t.filtered for t in frame.traces)
            filt = f" · {s.filter.describe()} on {done} of {len(frame.traces)} traces"
        self.status.object = (
            f"{format_time(s.t0_ns)} → {format_time(s.t1_ns)} "
            f"({format_duration(s.t1_ns - s.t0_ns)}) · 1 pixel ≈ {format_duration(px)}{filt}")
        self.notes[:] = [layout.alert(note, "warning") for note in frame.notes]
        self._sync_widgets()
        self._write_url()
        if self.share is not None:
            self.share.update()

    def _write_url(self) -> None:
        layout.set_query(self.state.to_query(self.state.store == self.sources.labels[0]))

    def _plot_width(self) -> int:
        # The browser reports the frame's width once laid out; until then render a guess.
        try:
            return int(self.fig.inner_width) or RENDER_WIDTH
        except UnsetValueError:
            return RENDER_WIDTH

    def _plot_height(self, n: int) -> int:
        # Embedded, the bands share the height the iframe gives the plot.
        if self.embed:
            try:
                if self.fig.inner_height:
                    return int(self.fig.inner_height)
            except UnsetValueError:
                pass
        return n * self.band

    # -- callbacks ------------------------------------------------------------------------
    def _show_messages(self, errors: list[str]) -> None:
        self.messages[:] = [layout.alert(e) for e in errors]

    def show_message(self, text: str | None) -> None:
        """One message above the plot (None clears the messages)."""
        self._show_messages([text] if text else [])

    def range_figure(self):
        """The waveforms figure: its x range is the view's."""
        return self.fig

    def data_span(self) -> tuple[int, int] | None:
        """The span of the streams shown."""
        return data_span(self.store, self.state.streams)

    def _on_pattern(self, event) -> None:
        pattern = event.new.strip()
        if not pattern:
            return
        try:
            names = select_streams(self.store, pattern)
        except (UnknownStreamError, ValueError) as exc:
            self._show_messages([f"streams={pattern!r}: {exc}"])
            return
        self._show_messages([])
        self.state.pattern = pattern
        self._set_streams(names)

    def _on_streams(self, event) -> None:
        if self._updating:
            return
        names = list(event.new)
        if names == self.state.streams:
            return
        self.state.pattern = ""
        self._set_streams(names)

    def _set_streams(self, names: list[str]) -> None:
        self.state.streams = list(names)
        self.streams = [self.store[n] for n in names]
        self._updating = True
        try:
            self.w_streams.value = list(names)
            if not self.state.pattern:
                self.w_pattern.value = ""
        finally:
            self._updating = False
        self.run_locked(self._build_plot)

    def _on_options(self, event) -> None:
        s = self.state
        s.scale = self.w_scale.value if self.w_scale.value in SCALES else "trace"
        s.units = self.w_units.value if self.w_units.value in UNITS else "counts"
        spec = filters.FilterSpec(self.w_filter.value, float(self.w_fmin.value or 1.0),
                                  float(self.w_fmax.value or 10.0))
        try:
            filters.check_spec(spec)
        except ValueError as exc:
            self._show_messages([f"{exc}; the filter is off"])
            spec = filters.FilterSpec()
        else:
            self._show_messages([])
        s.filter = spec
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

    def _set_refresh(self, choice: str) -> None:
        self.state.refresh = choice
        if self._refresh_cb is not None:
            self._refresh_cb.stop()
            self._refresh_cb = None
        seconds = REFRESH_CHOICES.get(choice, 0)
        if seconds and pn.state.curdoc is not None:
            self._refresh_cb = pn.state.add_periodic_callback(self.refresh, seconds * 1000)
        self._write_url()

    def refresh(self) -> None:
        """Re-read the streams (new data may have arrived) and follow `now` in relative ranges."""
        self.streams = [self.store[n] for n in self.state.streams]
        s = self.state
        if "now" in (s.from_text + s.to_text).lower():
            try:
                t0, t1 = parse_range(s.from_text, s.to_text, now_ns())
            except ValueError:
                return
            self.go_to(t0, t1, s.from_text, s.to_text)
        else:
            self.render()

    def view(self) -> pn.viewable.Viewable:
        """The whole page."""
        body = [self.messages]
        if not self.embed:
            self.share = share.ShareControl(
                "waveforms", self._share_query, figure="waveforms",
                locked=lambda: self._share_query(locked=True))
            body += [self.controls(), self.share.view()]
        body += [self.plot_holder, self.status, self.notes]
        return layout.page("waveforms", *body, store=self.state.store, embed=self.embed,
                           title="Waveforms")

    def _share_query(self, locked: bool = False) -> dict[str, str]:
        q = self.state.to_query(self.state.store == self.sources.labels[0])
        if locked:
            q["from"], q["to"] = format_time(self.state.t0_ns), format_time(self.state.t1_ns)
            q.pop("refresh", None)
        return q


def waveforms_page(sources: Sources) -> pn.viewable.Viewable:
    """Page factory for /waveforms: any failure becomes a message, never a traceback."""
    return layout.guarded_page("waveforms", lambda args: WaveformsPage(sources, args).view())
