"""Rasterise store windows into trace bands with Datashader (O(pixels): what was read, no more).

A window from the store holds, per bucket, the min and max of the samples in it, and the store
picked the level so that there is at least one bucket per pixel column. Drawn as one zigzag
line (min, max, next min, ...) every column is filled from its lowest to its highest value and
neighbouring columns join, as the trace would look drawn sample by sample; a flat trace stays a
line and absent buckets (NaN) break the line, so gaps stay open. At the raw level the samples
are drawn as the polyline through them, with a mark on each when they are a few pixels apart.
"""

from __future__ import annotations

import datashader as ds
import datashader.transfer_functions as tf
import numpy as np
import pandas as pd

from pipelines.store import Window

MARK_SPACING_PX = 4.0  # samples further apart than this get a 3x3 mark
MARGIN_PX = 1.5  # kept free above and below a band


def rgba(hex_color: str, alpha: int = 255) -> np.uint32:
    """Pack '#rrggbb' into the uint32 RGBA that Bokeh's image_rgba expects (little-endian)."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return np.uint32((alpha << 24) | (b << 16) | (g << 8) | r)


def visible(window: Window, t0_ns: int, t1_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """The lo/hi of the buckets that overlap [t0, t1) (NaN where absent)."""
    t = window.times_ns
    keep = (t + window.step_ns > t0_ns) & (t < t1_ns)
    return window.lo[keep], window.hi[keep]


def band_mask(window: Window, t0_ns: int, t1_ns: int, width: int, height: int,
              center: float, scale: float) -> np.ndarray:
    """Boolean (height, width) mask of one band, row 0 at the top; `center` is drawn in the
    middle and `center ± scale` just inside the band's edges."""
    mask = np.zeros((height, width), dtype=bool)
    if len(window.lo) == 0 or width < 1 or height < 1 or t1_ns <= t0_ns:
        return mask
    scale = scale if scale > 0 else 1.0
    reach = scale * (height / 2.0) / max(height / 2.0 - MARGIN_PX, 0.5)
    # Relative float64 x keeps sub-microsecond detail that absolute nanoseconds would lose.
    rel = (window.times_ns - t0_ns).astype(np.float64)
    # Datashader draws in band units (center 0, edges +-1), not in the values' own: a band a few
    # ulps high around 8.2e6 (a LISA frequency offset) made its line kernel compute pixel
    # indices outside the canvas and write past its buffer (heap corruption, server abort).
    canvas = ds.Canvas(plot_width=width, plot_height=height, x_range=(0.0, float(t1_ns - t0_ns)),
                       y_range=(-1.0, 1.0))
    # Clip far outliers to just beyond the band so a line leaving it keeps its slope on screen.
    with np.errstate(invalid="ignore", over="ignore"):
        lo = np.clip((np.asarray(window.lo, np.float64) - center) / reach, -2.0, 2.0)
        hi = np.clip((np.asarray(window.hi, np.float64) - center) / reach, -2.0, 2.0)
    if window.is_raw:
        frame = pd.DataFrame({"x": rel, "y": lo})
        agg = canvas.line(frame, "x", "y", agg=ds.any()).values
        agg |= canvas.points(frame, "x", "y", agg=ds.any()).values  # isolated samples too
        px = (t1_ns - t0_ns) / width
        if window.step_ns / px >= MARK_SPACING_PX:
            marks = canvas.points(frame, "x", "y", agg=ds.count())
            agg |= tf.spread(marks, px=1, shape="square").values > 0
    else:
        zig = pd.DataFrame({"x": np.repeat(rel, 2), "y": np.column_stack([lo, hi]).ravel()})
        agg = canvas.line(zig, "x", "y", agg=ds.any()).values
    return np.flipud(agg.astype(bool))  # datashader's row 0 is the bottom


def warm_up() -> None:
    """Compile Datashader's kernels now (about 2 s each) rather than on a user's first frame."""
    lo = np.array([0.0, 1.0, np.nan, 2.0, 1.0])
    for level in (0, 1):
        w = Window("warm-up", level, 0, 10.0, lo, lo + level)
        band_mask(w, 0, 50, 40, 10, 1.0, 1.0)
    band_mask(Window("warm-up", 0, 0, 10.0, lo, lo), 0, 50, 5, 10, 1.0, 1.0)  # marks path
