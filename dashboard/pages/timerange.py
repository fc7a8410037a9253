"""The time-range half of a page whose plots are rendered on the server for the range shown.

`/waveforms` and `/mission` both follow one Bokeh x range and one `TimeWindow` state. A wheel
zoom, a drag or the overview strip's range tool move the x range, which sets the state's range;
typed from/to texts (widgets made from the state's parameters) and quick ranges set its texts,
which resolve to the range. Every change of the range moves the x range to it (when it is not
there already) and renders once; the URL follows the state.
"""

from __future__ import annotations

import time
from typing import Any

import panel as pn
import param
from bokeh.core.property.descriptors import UnsetValueError

from dashboard import chrome
from dashboard.pages.base import Page, laid_out_px
from dashboard.state import TimeWindow
from pipelines.timebase import NS, TIME_MAX_NS, TIME_MIN_NS, now_ns, parse_range

QUICK_RANGES = {  # label -> (from, to); relative to now, as in Grafana
    "Last 15 minutes": ("now-15m", "now"),
    "Last 1 hour": ("now-1h", "now"),
    "Last 6 hours": ("now-6h", "now"),
    "Last 24 hours": ("now-24h", "now"),
    "Last 7 days": ("now-7d", "now"),
}
DATA_RANGES = {  # label -> duration before the end of the data (archives are historical)
    "Last 10 minutes of data": 600 * NS,
    "Last hour of data": 3600 * NS,
    "Last 6 hours of data": 6 * 3600 * NS,
    "Last day of data": 86400 * NS,
}
QUICK_CHOICES = ["—", "Whole span", *DATA_RANGES, *QUICK_RANGES]
RENDER_WIDTH = 1200  # pixels to render until the browser reports the plot's real width


def ms(ns: int | float) -> float:
    """Bokeh datetime axes count milliseconds."""
    return float(ns) / 1e6


class TimeRangePage(Page):
    """A page that follows one x range: typed times, quick ranges, pan and zoom.

    Subclasses give `state` (a TimeWindow) and implement `range_figure()` (the figure whose
    x range is followed), `data_span()` ((first, end) ns or None) and `render()` (which
    calls `mark_drawn()`).
    """

    state = param.ClassSelector(class_=TimeWindow, doc="what the page shows")
    # A burst of range changes (a drag, the range tool, a trackpad) renders at most once per
    # `settle_ms`; the first change after a quiet spell renders at once (a wheel notch, a
    # click: waiting out a settle there was 40 of the 83 ms a lone zoom took to repaint).
    settle_ms = 40

    def __init__(self, sources, args, **params):
        super().__init__(sources, args, **params)
        self.time_note = pn.Column(sizing_mode="stretch_width")
        self._settling = None  # the render already scheduled for a burst of range changes
        self._settled_at = float("-inf")  # time.monotonic() of the last range followed
        self.drawn: tuple[int, ...] = ()  # (t0, t1, width, height) of the last render

    # -- for subclasses ---------------------------------------------------------------------
    def range_figure(self) -> Any:
        """The figure whose x range the page follows."""
        raise NotImplementedError

    def data_span(self) -> tuple[int, int] | None:
        """[first, end) ns of the data shown, or None when there is none."""
        raise NotImplementedError

    def render(self) -> None:
        """Draw the current range."""
        raise NotImplementedError

    # -- widgets ----------------------------------------------------------------------------
    def time_widgets(self, width: int = 210, quick_width: int = 170
                     ) -> tuple[pn.widgets.Widget, ...]:
        """From, To (made from the state's parameters) and Quick range; watched here."""
        self.w_from = pn.widgets.TextInput.from_param(
            self.state.param.from_text, placeholder="ISO time or now-6h", width=width)
        self.w_to = pn.widgets.TextInput.from_param(
            self.state.param.to_text, placeholder="ISO time or now", width=width)
        self.w_quick = pn.widgets.Select(label="Quick range", options=QUICK_CHOICES, value="—",
                                         width=quick_width)
        self.w_quick.param.watch(self._on_quick, "value")
        self.state.param.watch(self._on_texts, ["from_text", "to_text"])
        self.state.param.watch(self._on_window, ["t0_ns", "t1_ns"])
        return self.w_from, self.w_to, self.w_quick

    def follow(self, fig) -> None:
        """Re-render when this figure's x range or size changes in the browser."""
        fig.x_range.on_change("start", self._on_range)
        fig.x_range.on_change("end", self._on_range)
        fig.on_change("inner_width", self._on_range)
        if self.embed:  # the bands share the height the iframe gives the plot
            fig.on_change("inner_height", self._on_range)

    def plot_width(self) -> int:
        """The plot's width in pixels as the browser laid it out (a guess until then)."""
        try:
            return laid_out_px(self.range_figure().inner_width, RENDER_WIDTH)
        except (UnsetValueError, AttributeError):
            return RENDER_WIDTH

    def plot_size(self) -> tuple[int, int]:
        """(width, height) of the plot as laid out (height 0 until the browser says)."""
        try:
            height = laid_out_px(self.range_figure().inner_height, 0)
        except (UnsetValueError, AttributeError):
            height = 0
        return self.plot_width(), height

    def mark_drawn(self) -> None:
        """Note that the state's range is drawn at the plot's present size."""
        self.drawn = (self.state.t0_ns, self.state.t1_ns, *self.plot_size())

    def is_drawn(self) -> bool:
        """True when the last render drew the state's range at the plot's present size."""
        return self.drawn == (self.state.t0_ns, self.state.t1_ns, *self.plot_size())

    # -- reacting -----------------------------------------------------------------------------
    def _on_texts(self, *events) -> None:
        try:
            self.state.resolve(now_ns())
        except ValueError as exc:
            self.time_note[:] = [chrome.alert(str(exc))]
            return
        self.time_note[:] = []

    def _on_window(self, *events) -> None:
        self.run_locked(self._show_window)

    def _show_window(self) -> None:
        s = self.state
        x = self.range_figure().x_range
        if (x.start, x.end) != (ms(s.t0_ns), ms(s.t1_ns)):
            x.update(start=ms(s.t0_ns), end=ms(s.t1_ns))
        if not self.is_drawn():
            self.render()

    def _on_range(self, attr, old, new) -> None:
        if self._settling is not None:
            return
        doc = self.range_figure().document or pn.state.curdoc
        if doc is None:
            self._range_settled()
            return
        wait_ms = (self._settled_at - time.monotonic()) * 1e3 + self.settle_ms
        if wait_ms <= 0:
            # Next tick, not now: the browser sends start and end in one message, and Bokeh
            # calls this for the first before it has set the second.
            self._settling = doc.add_next_tick_callback(self._range_settled)
        else:
            self._settling = doc.add_timeout_callback(self._range_settled, wait_ms)

    def _range_settled(self) -> None:
        self._settling = None
        self._settled_at = time.monotonic()
        x = self.range_figure().x_range
        try:
            t0, t1 = int(round(x.start * 1e6)), int(round(x.end * 1e6))
        except (TypeError, ValueError, OverflowError):
            t0 = t1 = 0  # not finite: the browser never sends that, a hostile client may
        # Zoomed out past the times the page can name (or a client sent any number): the
        # supported range, and the plot is moved to it (through _on_window).
        t0, t1 = max(t0, TIME_MIN_NS), min(t1, TIME_MAX_NS)
        if t1 <= t0:  # no range at all: the plot goes back to the one drawn
            self._show_window()
            return
        if not self.state.shows(t0, t1):
            self.state.set_range(t0, t1)  # renders through _on_window
        elif not self.is_drawn():
            self.render()  # the same range at another size

    def run_locked(self, fn) -> None:
        """Run `fn` where Bokeh models may change: Panel calls widget watchers outside the
        document lock (changing a plot there fails), a next-tick callback holds it."""
        doc = self.range_figure().document or pn.state.curdoc
        if doc is None or doc.session_context is None:
            fn()
        else:
            doc.add_next_tick_callback(fn)

    def go_to(self, t0_ns: int, t1_ns: int, from_text: str | None = None,
              to_text: str | None = None) -> None:
        """Show [t0, t1) (keeping relative texts such as now-6h when given)."""
        if from_text and to_text:
            self.state.param.update(from_text=from_text, to_text=to_text)
            self._on_texts()
        else:
            self.state.set_range(t0_ns, t1_ns)

    def _on_quick(self, event) -> None:
        choice = event.new
        if choice in ("—", None):
            return
        span = self.data_span()
        if choice in QUICK_RANGES:
            f, t = QUICK_RANGES[choice]
            t0, t1 = parse_range(f, t, now_ns())
            self.go_to(t0, t1, f, t)
        elif span is not None and choice == "Whole span":
            self.go_to(*span)
        elif span is not None and choice in DATA_RANGES:
            self.go_to(max(span[0], span[1] - DATA_RANGES[choice]), span[1])
        self.w_quick.value = "—"
