"""The time-range half of a page whose plots are rendered on the server for the range shown.

`/waveforms` and `/mission` both follow one Bokeh x range: a wheel zoom, a drag, the overview
strip's range tool, a typed from/to or a quick range all end in `render()` for the new range,
and the from/to boxes and the URL follow. This mixin holds that logic once.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from pipelines.timebase import NS, now_ns, parse_range

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


def ms(ns: int | float) -> float:
    """Bokeh datetime axes count milliseconds."""
    return float(ns) / 1e6


class TimeRangeView:
    """Mixin: typed times, quick ranges and pan/zoom of one followed x range.

    The page provides `state` (with `t0_ns`, `t1_ns`, `from_text`, `to_text`, `set_range`),
    the widgets `w_from`, `w_to`, `w_quick`, and the methods `range_figure()` (the figure whose
    x range is followed), `data_span()` ((first, end) ns or None), `render()` and
    `show_message(text or None)`.
    """

    settle_ms = 40  # coalesce the burst of range changes a drag or the range tool sends
    _pending = False
    _updating = False
    state: Any
    w_from: Any
    w_to: Any
    w_quick: Any

    def range_figure(self) -> Any:
        """The figure whose x range the page follows."""
        raise NotImplementedError

    def data_span(self) -> tuple[int, int] | None:
        """[first, end) ns of the data shown, or None when there is none."""
        raise NotImplementedError

    def render(self) -> None:
        """Draw the current range."""
        raise NotImplementedError

    def show_message(self, text: str | None) -> None:
        """Show one message above the plots (None clears it)."""
        raise NotImplementedError

    def _sync_widgets(self) -> None:
        self._updating = True
        try:
            self.w_from.value = self.state.from_text
            self.w_to.value = self.state.to_text
        finally:
            self._updating = False

    def _on_range(self, attr, old, new) -> None:
        if self._pending or self._updating:
            return
        self._pending = True
        doc = self.range_figure().document or pn.state.curdoc
        if doc is None:
            self._render_from_range()
        else:
            doc.add_timeout_callback(self._render_from_range, self.settle_ms)

    def _render_from_range(self) -> None:
        self._pending = False
        x = self.range_figure().x_range
        t0, t1 = int(round(x.start * 1e6)), int(round(x.end * 1e6))
        s = self.state
        # Ranges round-trip through float milliseconds: ignore sub-microsecond differences.
        if abs(t0 - s.t0_ns) > 1000 or abs(t1 - s.t1_ns) > 1000:
            if t1 <= t0:
                return
            s.set_range(t0, t1)
        self.render()

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
        self.state.set_range(t0_ns, t1_ns)
        if from_text and to_text:
            self.state.from_text, self.state.to_text = from_text, to_text
        fig = self.range_figure()

        def apply() -> None:
            self._updating = True  # the range moves because we move it: no second render
            try:
                fig.x_range.update(start=ms(t0_ns), end=ms(t1_ns))
            finally:
                self._updating = False
            self.render()

        self.run_locked(apply)

    def _on_time_text(self, event) -> None:
        if self._updating:
            return
        try:
            t0, t1 = parse_range(self.w_from.value, self.w_to.value, now_ns())
        except ValueError as exc:
            self.show_message(str(exc))
            return
        self.show_message(None)
        self.go_to(t0, t1, self.w_from.value.strip(), self.w_to.value.strip())

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
