"""HoloViews views of store streams for notebooks and `panel serve` scripts: the dashboard's
frames (`frames.make_frame`) in a DynamicMap that re-reads the pyramid at the plot's
resolution on every zoom or pan (RangeXY), so a view costs O(pixels) as on the dashboard."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import holoviews as hv
import numpy as np

from dashboard import frames
from pipelines.timebase import NS

__all__ = ["TIME_TOOLS", "FrameSource", "events_overlay", "view"]

DEFAULT_WIDTH, BAND_HEIGHT = 900, 120
# Time views zoom and pan along time only (the bands or periods stay put), in every element
# of an overlay: HoloViews merges the overlay's tools from its elements' and would otherwise
# add its default wheel zoom on both axes and make it the active one.
TIME_TOOLS: dict[str, Any] = {"default_tools": ["save", "reset"],
                              "tools": ["xpan", "xwheel_zoom", "xbox_zoom"],
                              "active_tools": ["xpan", "xwheel_zoom"]}


def _ns(x: Any) -> int:
    """int64 ns of what a datetime axis gives back (datetime64, Timestamp, datetime, ns)."""
    if isinstance(x, (int, np.integer)):
        return int(x)
    return int(np.datetime64(x, "ns").astype(np.int64))


def _dt(ns: int) -> np.datetime64:
    return np.datetime64(int(ns), "ns")


@dataclass
class FrameSource:
    """The DynamicMap's callback: one frame per range and size; `last` is the latest
    Frame drawn (what a test or a curious user can look at)."""

    streams: list[Any]
    t0_ns: int
    t1_ns: int
    width: int = DEFAULT_WIDTH
    height: int | None = None
    options: frames.FrameOptions = field(default_factory=frames.FrameOptions)
    last: frames.Frame | None = None

    def __call__(self, x_range: tuple | None = None, y_range: tuple | None = None,
                 width: int | None = None, height: int | None = None,
                 scale: float | None = None) -> hv.RGB:
        t0, t1 = (self.t0_ns, self.t1_ns) if x_range is None else map(_ns, x_range)
        if t1 <= t0:
            t0, t1 = self.t0_ns, self.t1_ns
        n = max(len(self.streams), 1)
        # One frame column per device pixel (`scale`: the screen's pixel ratio).
        w = int((width or self.width) * (scale or 1.0))
        h = int((height or self.height or BAND_HEIGHT * n) * (scale or 1.0))
        frame = frames.make_frame(self.streams, t0, t1, w, h, self.options)
        self.last = frame
        rgba = frame.image.view(np.uint8).reshape(frame.image.shape + (4,))
        ticks = [(n - i - 0.5, s.name) for i, s in enumerate(self.streams)]
        return hv.RGB(rgba, bounds=(_dt(t0), 0, _dt(t1), n), kdims=["time", "band"],
                      vdims=["R", "G", "B", "A"]).opts(
            width=self.width, height=self.height or BAND_HEIGHT * n, yticks=ticks,
            ylim=(0, n), xlabel="UTC", ylabel="", **TIME_TOOLS)


def view(streams: list[Any], t0_ns: int | None = None, t1_ns: int | None = None,
         width: int = DEFAULT_WIDTH, height: int | None = None,
         options: frames.FrameOptions | None = None) -> hv.DynamicMap:
    """Stacked bands of `streams` as a DynamicMap that reads at the plot's resolution.

    Parameters
    ----------
    streams : list of pipelines.store.Stream or IrregularStream
        The bands, top to bottom.
    t0_ns, t1_ns : int, optional
        The first range shown (int64 ns); the streams' whole span by default.
    width, height : int
        The plot's size in pixels (height: 120 per band by default); a frame has one column
        per pixel, and the plot's real size (PlotSize) is used once it is known.
    options : dashboard.frames.FrameOptions, optional
        Amplitude scale, units and filter, as on the dashboard's waveform page.

    Returns
    -------
    holoviews.DynamicMap
        Of `hv.RGB` frames on a datetime x axis, y from 0 (bottom band) to the number of
        bands; `dmap.callback.callable.last` is the latest Frame. It composes with other
        elements (`*` for overlays such as `events_overlay`, `+` for layouts).
    """
    if not streams:
        raise ValueError("no stream to view; give at least one (store.select('BV.*') lists "
                         "them)")
    spans = [s.span_ns for s in streams if s.span_ns]
    if t0_ns is None or t1_ns is None:
        if not spans:
            raise ValueError("the streams hold no samples; nothing to view")
        t0_ns = min(a for a, _ in spans) if t0_ns is None else t0_ns
        t1_ns = max(b for _, b in spans) if t1_ns is None else t1_ns
    n = len(streams)
    height = height or BAND_HEIGHT * n
    source = FrameSource(list(streams), int(t0_ns), int(t1_ns), width, height,
                         options or frames.FrameOptions())
    range_xy = hv.streams.RangeXY(x_range=(_dt(t0_ns), _dt(t1_ns)), y_range=(0, n))
    size = hv.streams.PlotSize(width=width, height=height)
    # Options are set on each frame, not with `dmap.opts`, which would wrap `source` in a
    # clone's callback and hide `dmap.callback.callable.last`.
    return hv.DynamicMap(source, streams=[range_xy, size])


def events_overlay(events: list[dict[str, Any]], bands: int = 1, color: str = "#b0361f"
                   ) -> hv.Overlay:
    """Catalogue events (`Store.events()`) as vertical lines and labelled points, to lay
    over a `view` with `*`."""
    times = [_dt(e["time_ns"]) for e in events]
    lines = hv.VLines(times, kdims=["time"]).opts(color=color, line_dash="dashed",
                                                  line_width=1, **TIME_TOOLS)
    labels = [(t, bands - 0.1, f"M{e['magnitude']:.1f}" if e.get("magnitude") is not None
               else "event") for t, e in zip(times, events, strict=True)]
    text = hv.Labels(labels, kdims=["time", "band"], vdims=["text"]).opts(
        text_color=color, text_font_size="9pt", text_baseline="top", **TIME_TOOLS)
    return lines * text


def seconds(ns: int) -> float:
    """Seconds of an int64 ns duration (for captions)."""
    return ns / NS
