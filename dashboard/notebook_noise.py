"""The noise spectrogram (hourly PSDs, period x time) of a stream as a HoloViews DynamicMap:
each zoom or pan reads `PsdProduct.read` for the new window with one row per plot pixel at
most, so a decade of PSDs is read at its daily level and a day at its 30-minute rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import holoviews as hv
import numpy as np

from dashboard.notebook import DEFAULT_WIDTH, TIME_TOOLS, _dt, _ns
from pipelines.store.products import PSD_STEP_NS, PsdProduct
from pipelines.timebase import DAY_NS, parse_time

__all__ = ["PsdFrame", "PsdSource", "psd_span", "psd_view", "view_of"]
HOVER_TOOLS = {**TIME_TOOLS, "tools": ["hover", *TIME_TOOLS["tools"]]}

PSD_HEIGHT = 260
UNITS = "dB re 1 (m/s²)²/Hz"


@dataclass
class PsdFrame:
    """What one frame read: the window, the rows' step (30 min or a day), rows and columns."""

    t0_ns: int
    t1_ns: int
    step_ns: int
    rows: int
    periods: int

    @property
    def level(self) -> str:
        """`hourly` (the 30-minute rows) or `daily` (the mean of each day's rows)."""
        return "hourly" if self.step_ns == PSD_STEP_NS else "daily"


def psd_span(product: PsdProduct) -> tuple[int, int] | None:
    """[first day, last day + 1) of the days the product holds, in ns; None when empty."""
    days = sorted(product.computed)
    if not days:
        return None
    return parse_time(days[0]), parse_time(days[-1]) + DAY_NS


def _period_ticks(periods: np.ndarray) -> list[tuple[float, str]]:
    """Ticks at 1, 2 and 5 times the powers of ten inside the periods, labelled in s."""
    lo, hi = np.log10(periods[0]), np.log10(periods[-1])
    marks = [m * 10.0 ** e for e in range(int(np.floor(lo)), int(np.ceil(hi)) + 1)
             for m in (1, 2, 5)]
    return [(float(np.log10(p)), f"{p:g} s") for p in marks if lo <= np.log10(p) <= hi]


@dataclass
class PsdSource:
    """The DynamicMap's callback: one spectrogram image per range and width; `last` is the
    latest PsdFrame read."""

    product: PsdProduct
    name: str
    t0_ns: int
    t1_ns: int
    width: int
    height: int
    clim: tuple[float, float]
    cmap: str = "viridis"
    last: PsdFrame | None = None

    def __call__(self, x_range: tuple | None = None, y_range: tuple | None = None,
                 width: int | None = None, height: int | None = None,
                 scale: float | None = None) -> hv.Image:
        t0, t1 = (self.t0_ns, self.t1_ns) if x_range is None else map(_ns, x_range)
        if t1 <= t0:
            t0, t1 = self.t0_ns, self.t1_ns
        # At most one row per device pixel: wider windows read the daily level.
        max_rows = max(int((width or self.width) * (scale or 1.0)), 1)
        times, periods, db, step = self.product.read(t0, t1, max_rows)
        logp = np.log10(periods)
        half = (logp[1] - logp[0]) / 2 if len(logp) > 1 else 0.05
        if len(times):
            x0, x1 = int(times[0]), int(times[-1]) + step
            grid = db.T[::-1]  # rows of an hv.Image go top (longest period) to bottom
        else:  # nothing stored here: one transparent cell over the window
            x0, x1, grid = t0, t1, np.full((1, 1), np.nan, dtype=np.float32)
        self.last = PsdFrame(t0, t1, step, len(times), len(periods))
        level = "30-minute PSDs" if step == PSD_STEP_NS else "daily means"
        return hv.Image(grid, bounds=(_dt(x0), logp[0] - half, _dt(x1), logp[-1] + half),
                        kdims=["time", "period"], vdims=[hv.Dimension("psd", label=UNITS)],
                        label=f"{self.name} · {level}").opts(
            width=self.width, height=self.height, cmap=self.cmap, clim=self.clim,
            colorbar=True, clipping_colors={"NaN": (0, 0, 0, 0)}, xlabel="UTC",
            xlim=(_dt(t0), _dt(t1)),
            ylabel="period", yticks=_period_ticks(periods), **HOVER_TOOLS)


def _default_clim(product: PsdProduct) -> tuple[float, float]:
    """The 2nd and 98th percentiles of the daily level (O(days)): one colour scale for every
    zoom, so colours compare across frames."""
    daily = product.group["daily"][:]
    values = daily[daily != -32768].astype(np.float64) / 100.0
    if not values.size:
        return (-200.0, -80.0)
    lo, hi = np.percentile(values, [2, 98])
    return (float(np.floor(lo)), float(np.ceil(hi)) if hi > lo else float(lo) + 1.0)


def psd_view(product: PsdProduct, name: str, t0_ns: int | None = None,
             t1_ns: int | None = None, width: int = DEFAULT_WIDTH, height: int = PSD_HEIGHT,
             clim: tuple[float, float] | None = None, cmap: str = "viridis") -> hv.DynamicMap:
    """A stream's PSDs (period x time) as a DynamicMap that reads at the plot's resolution.

    Parameters
    ----------
    product : pipelines.store.products.PsdProduct
        `open_psd(store, stream)`: the hourly PSDs `belvedere analyse psd` wrote.
    name : str
        The stream's name (the plot's label).
    t0_ns, t1_ns : int, optional
        The first range shown (int64 ns); the days the product holds by default.
    width, height : int
        The plot's size in pixels; a frame reads at most one row per pixel of width (the
        daily level when the 30-minute rows would be more), the real width once known.
    clim : (float, float), optional
        The colour scale in dB; by default the 2nd-98th percentiles of the daily level.
    cmap : str
        A colour map name HoloViews knows.

    Returns
    -------
    holoviews.DynamicMap
        Of `hv.Image` frames, x the time (datetime, shared with `view` in a layout), y
        log10 of the period in s (ticks labelled in s); `dmap.callback.callable.last` is
        the latest PsdFrame.
    """
    span = psd_span(product)
    if t0_ns is None or t1_ns is None:
        if span is None:
            raise ValueError(f"{name} has no PSDs yet; compute them with "
                             f"`belvedere analyse psd {name} --store STORE`")
        t0_ns = span[0] if t0_ns is None else t0_ns
        t1_ns = span[1] if t1_ns is None else t1_ns
    source = PsdSource(product, name, int(t0_ns), int(t1_ns), width, height,
                       clim or _default_clim(product), cmap)
    range_xy = hv.streams.RangeXY(x_range=(_dt(t0_ns), _dt(t1_ns)))
    size = hv.streams.PlotSize(width=width, height=height)
    return hv.DynamicMap(source, streams=[range_xy, size])


def view_of(store: Any, stream: str, **kwargs: Any) -> hv.DynamicMap:
    """`psd_view` of a store's stream, with a clear error when it has no PSD product."""
    from pipelines.store.products import open_psd

    product = open_psd(store, stream)
    if product is None:
        raise ValueError(f"{stream} has no PSDs in {store.url}; compute them with "
                         f"`belvedere analyse psd {stream} --store {store.url}`")
    return psd_view(product, stream, **kwargs)
