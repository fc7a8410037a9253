"""Rasterise store windows into trace bands (O(pixels): what was read, no more).

A window from the store holds, per bucket, the min and max of the samples in it, and the store
picked the level so that there is at least one bucket per pixel column. Drawn as one zigzag
line (min, max, next min, ...) every column is filled from its lowest to its highest value and
neighbouring columns join, as the trace would look drawn sample by sample; a flat trace stays a
line and absent buckets (NaN) break the line, so gaps stay open. At the raw level the samples
are drawn as the polyline through them, with a mark on each when they are a few pixels apart.

`band_mask` draws that polyline with numpy (`polyline_mask`): every segment lights the rows it
crosses in each column it crosses. Datashader's line kernel drew the same thing in 10-13 ms per
1200 x 120 band of 15k buckets (most of a frame); the numpy one takes under 1 ms there, and
`datashader_band_mask` (kept for the comparison test and the benchmark) draws it the old way.
"""

from __future__ import annotations

import numpy as np

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


def polyline_mask(x: np.ndarray, y: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boolean (height, width) mask of the polyline through (x, y) in pixel units (row 0 at the
    bottom, as Datashader's), antialias-free; NaN in y breaks the line, so gaps stay open.

    Each segment lights, in every column its x extent crosses, the rows between the lowest and
    highest y it takes inside that column (clipped to the canvas). O(points + width)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mask = np.zeros((height, width), dtype=bool)
    if len(x) == 0:
        return mask
    good = ~np.isnan(y)
    if len(x) == 1:
        xa = xb = x
        ya = yb = y
    else:
        both = good[:-1] & good[1:]
        alone = good & ~np.concatenate([[False], both]) & ~np.concatenate([both, [False]])
        xa = np.concatenate([x[:-1][both], x[alone]])
        xb = np.concatenate([x[1:][both], x[alone]])
        ya = np.concatenate([y[:-1][both], y[alone]])
        yb = np.concatenate([y[1:][both], y[alone]])
    if len(x) == 1 and not good[0]:
        return mask
    # Ends snapped to their pixels as Datashader's line does (a point on the right or top edge
    # belongs to the last column or row), then each column c of a segment takes the rows its
    # line covers over [c - 0.5, c + 0.5]: a steep segment splits its rows between the columns
    # it joins, a shallow one lights about one row per column (Bresenham's line, near enough).
    xa, xb = _snap(xa, width), _snap(xb, width)
    ya, yb = _snap(ya, height), _snap(yb, height)
    inside = (np.maximum(xa, xb) >= 0) & (np.minimum(xa, xb) < width)
    xa, xb, ya, yb = xa[inside], xb[inside], ya[inside], yb[inside]
    same = xa == xb  # most segments of an envelope: a vertical run in one column
    col_v, lo_v, hi_v = xa[same], np.minimum(ya[same], yb[same]), np.maximum(ya[same], yb[same])
    col_s, lo_s, hi_s = _slanted(xa[~same], xb[~same], ya[~same], yb[~same], width)
    col = np.concatenate([col_v, col_s])
    lo = np.concatenate([lo_v, lo_s])
    hi = np.concatenate([hi_v, hi_s])
    return _paint(col, lo, hi, width, height)


def _paint(col: np.ndarray, lo: np.ndarray, hi: np.ndarray, width: int, height: int
           ) -> np.ndarray:
    """(height, width) mask lit on rows lo..hi (inclusive, clipped) of each column col."""
    keep = (hi >= 0) & (lo < height) & (col >= 0) & (col < width)
    lo = np.clip(lo[keep], 0, height - 1)
    hi = np.clip(hi[keep], 0, height - 1)
    col = col[keep]
    # Vertical runs as +1/-1 at their ends, summed down each column.
    n = (height + 1) * width
    starts = np.bincount(lo * width + col, minlength=n)
    ends = np.bincount((hi + 1) * width + col, minlength=n)
    depth = np.cumsum((starts - ends).reshape(height + 1, width), axis=0)[:height]
    return depth > 0


def envelope_mask(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, width: int, height: int,
                  one_run: bool = True) -> np.ndarray:
    """`polyline_mask` of the zigzag (x0, lo0), (x0, hi0), (x1, lo1), ... in pixel units,
    faster: the buckets of one column joined by the line light one run from their lowest to
    their highest row, so only the joins between columns are drawn as slanted segments.
    `one_run` False: always the general paint (the reference `_paint_spans` is tested on)."""
    x = np.asarray(x, dtype=np.float64)
    good = ~np.isnan(lo) & ~np.isnan(hi)
    if not good.any():
        return np.zeros((height, width), dtype=bool)
    idx = np.flatnonzero(good)
    c = _snap(x[idx], width)
    rl = _snap(lo[idx], height)
    rh = _snap(hi[idx], height)
    joined = np.diff(idx) == 1  # bucket k and the next present one are neighbours: a line
    new_group = np.ones(len(idx), dtype=bool)
    new_group[1:] = (c[1:] != c[:-1]) | ~joined
    first = np.flatnonzero(new_group)
    col_v = c[first]
    lo_v = np.minimum.reduceat(rl, first)
    hi_v = np.maximum.reduceat(rh, first)
    cross = joined & (c[1:] != c[:-1])  # joins from one column to another
    col_s, lo_s, hi_s = _slanted(c[:-1][cross], c[1:][cross], rh[:-1][cross],
                                 rl[1:][cross], width)
    col, lo, hi = (np.concatenate(p) for p in ((col_v, col_s), (lo_v, lo_s), (hi_v, hi_s)))
    if one_run and joined.all():
        return _paint_spans(col, lo, hi, width, height)
    return _paint(col, lo, hi, width, height)


def _paint_spans(col: np.ndarray, lo: np.ndarray, hi: np.ndarray, width: int, height: int
                 ) -> np.ndarray:
    """`_paint` where each column's runs join into one (a line with no gap, its x never
    decreasing, crosses a column once): its rows from the lowest run's to the highest's,
    about 5x faster than summing run ends down every column."""
    keep = (hi >= 0) & (lo < height) & (col >= 0) & (col < width)
    col, lo, hi = col[keep], lo[keep], hi[keep]
    bottom = np.full(width, height, dtype=np.int64)
    top = np.full(width, -1, dtype=np.int64)
    if len(col):
        order = np.argsort(col, kind="stable")
        col, lo, hi = col[order], lo[order], hi[order]
        first = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
        bottom[col[first]] = np.minimum.reduceat(lo, first)
        top[col[first]] = np.maximum.reduceat(hi, first)
    rows = np.arange(height)[:, None]
    return (rows >= bottom) & (rows <= top)


def _slanted(xa: np.ndarray, xb: np.ndarray, ya: np.ndarray, yb: np.ndarray, width: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(column, lowest row, highest row) of each column that segments between different
    columns cross (snapped integer ends)."""
    flip = xb < xa  # left to right
    xa, xb = np.where(flip, xb, xa), np.where(flip, xa, xb)
    ya, yb = np.where(flip, yb, ya), np.where(flip, ya, yb)
    dx = (xb - xa).astype(np.float64)
    slope = np.divide((yb - ya).astype(np.float64), dx, out=np.zeros_like(dx), where=dx > 0)
    ca, cb = np.maximum(xa, 0), np.minimum(xb, width - 1)  # the columns on the canvas
    ncol = np.maximum(cb - ca + 1, 0)
    seg = np.repeat(np.arange(len(xa)), ncol)  # one entry per (segment, column) it crosses
    col = ca[seg] + (np.arange(len(seg)) - np.repeat(np.cumsum(ncol) - ncol, ncol))
    xs, ys, ye, sl = xa[seg], ya[seg], yb[seg], slope[seg]
    y_left = ys + sl * (col - 0.5 - xs)  # the line at the column's two half-pixel edges
    y_right = ys + sl * (col + 0.5 - xs)
    rising = sl > 0
    lo = np.where(rising, np.ceil(y_left), np.floor(y_right) + 1)
    hi = np.where(rising, np.ceil(y_right) - 1, np.floor(y_left))
    lo = np.maximum(lo, np.minimum(ys, ye))  # no further than the segment's ends
    hi = np.minimum(hi, np.maximum(ys, ye))
    shallow = np.abs(sl) <= 1  # one row per column: the line's at the column's centre
    mid = np.ceil(ys + sl * (col - xs) - 0.5)  # ties to the lower row, as Datashader
    lo = np.where(shallow, mid, lo).astype(np.int64)
    hi = np.where(shallow, mid, hi).astype(np.int64)
    return col, lo, hi


def _snap(v: np.ndarray, size: int) -> np.ndarray:
    """Pixel index of pixel coordinates (the far edge `size` itself in the last pixel)."""
    out = np.floor(v)
    return np.where(v == size, size - 1, out).astype(np.int64)


def _pixels(window: Window, t0_ns: int, t1_ns: int, width: int, height: int,
            center: float, reach: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bucket starts as x pixels and lo/hi as y pixels (row 0 at the bottom), outliers
    clipped just beyond the band so a line leaving it keeps its slope on screen."""
    rel = (window.times_ns - t0_ns).astype(np.float64)
    sx = width / float(t1_ns - t0_ns)
    y0 = center - reach
    sy = height / (2.0 * reach)
    lo = (np.clip(window.lo, center - 2 * reach, center + 2 * reach) - y0) * sy
    hi = (np.clip(window.hi, center - 2 * reach, center + 2 * reach) - y0) * sy
    return rel * sx, lo, hi


def band_mask(window: Window, t0_ns: int, t1_ns: int, width: int, height: int,
              center: float, scale: float) -> np.ndarray:
    """Boolean (height, width) mask of one band, row 0 at the top; `center` is drawn in the
    middle and `center ± scale` just inside the band's edges."""
    mask = np.zeros((height, width), dtype=bool)
    if len(window.lo) == 0 or width < 1 or height < 1 or t1_ns <= t0_ns:
        return mask
    scale = scale if scale > 0 else 1.0
    reach = scale * (height / 2.0) / max(height / 2.0 - MARGIN_PX, 0.5)
    x, lo, hi = _pixels(window, t0_ns, t1_ns, width, height, center, reach)
    if window.is_raw:
        mask = polyline_mask(x, lo, width, height)
        px = (t1_ns - t0_ns) / width
        if window.step_ns / px >= MARK_SPACING_PX:  # a 3x3 mark on each sample
            ok = ~np.isnan(lo) & (x >= 0) & (x <= width) & (lo >= 0) & (lo <= height)
            c, r = _snap(x[ok], width), _snap(lo[ok], height)
            for dc in (-1, 0, 1):
                for dr in (-1, 0, 1):
                    cc, rr = c + dc, r + dr
                    on = (cc >= 0) & (cc < width) & (rr >= 0) & (rr < height)
                    mask[rr[on], cc[on]] = True
    else:
        mask = envelope_mask(x, lo, hi, width, height)
    return np.flipud(mask)  # row 0 at the top


def datashader_band_mask(window: Window, t0_ns: int, t1_ns: int, width: int, height: int,
                         center: float, scale: float) -> np.ndarray:
    """`band_mask` drawn by Datashader's line kernel (the reference the numpy one is tested
    and benchmarked against)."""
    import datashader as ds
    import datashader.transfer_functions as tf
    import pandas as pd

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
    """Draw once at start (first-call costs) rather than on a user's first frame."""
    lo = np.array([0.0, 1.0, np.nan, 2.0, 1.0])
    for level in (0, 1):
        w = Window("warm-up", level, 0, 10.0, lo, lo + level)
        band_mask(w, 0, 50, 40, 10, 1.0, 1.0)
    band_mask(Window("warm-up", 0, 0, 10.0, lo, lo), 0, 50, 5, 10, 1.0, 1.0)  # marks path


def warm_up_datashader() -> None:
    """Compile Datashader's kernels (for the comparison only)."""
    lo = np.array([0.0, 1.0, np.nan, 2.0, 1.0])
    for level in (0, 1):
        datashader_band_mask(Window("warm-up", level, 0, 10.0, lo, lo + level), 0, 50, 40, 10,
                             1.0, 1.0)
    datashader_band_mask(Window("warm-up", 0, 0, 10.0, lo, lo), 0, 50, 5, 10, 1.0, 1.0)
