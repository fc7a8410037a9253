"""Helicorder rows: one long span of a stream cut into rows, drawn as on a drum.

The whole span is read once from the pyramid (raw, or a stored filtered band) at the
resolution of the rows: at least one bucket per pixel column of every row, so a day, a week or
a year costs the pixels drawn. Buckets are reduced to one min/max per (row, column); each row
is centred on its own median level (a slow drift does not push rows into one another) and
scaled by one amplitude for the whole helicorder: automatic (the 99.5th percentile of the
envelope's distance from the centre, as ObsPy's dayplot, so an earthquake does not flatten
the rest of the day), the largest value, or fixed. A trace reaches at most `clip` row
spacings from its row's centre; beyond, it is clipped and the clipped columns are marked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dashboard import raster
from pipelines.store import Window

# Row colours cycling as on a drum (ObsPy's dayplot cycles four; these read on white).
ROW_COLOURS = ("#1a1a1a", "#b2000f", "#0e3fd0", "#0b6b2a")
CLIP_COLOUR = "#ff8c00"  # clipped columns (index len(ROW_COLOURS) + 1)
PALETTE = (*ROW_COLOURS, CLIP_COLOUR)
CLIP_INDEX = len(ROW_COLOURS) + 1
CLIP_MARK_PX = 2  # rows of pixels marked at a clipped extreme
PERCENTILE = 99.5
ROW_MINUTES = (15, 30, 60, 120, 360, 720, 1440)
MAX_ROWS = 400


@dataclass
class Helicorder:
    """A helicorder image (row 0 at the top) and what it shows."""

    index: np.ndarray  # (height, width) uint8: 0 background, k PALETTE[k - 1]
    t0_ns: int
    row_ns: int
    rows: int
    row_px: int
    margin_px: int  # above the first row's centre band and below the last's
    amplitude: float  # the value that reaches half a row spacing from a row's centre
    level: int  # pyramid level read (0: samples)
    clipped_columns: int = 0
    present: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def t1_ns(self) -> int:
        """The end of the last row."""
        return self.t0_ns + self.rows * self.row_ns

    def row_of(self, t_ns: int) -> int:
        """The row a time falls in."""
        return int((t_ns - self.t0_ns) // self.row_ns)


def auto_row_minutes(span_ns: int) -> int:
    """The shortest row of ROW_MINUTES that cuts the span into at most 96 rows (24 h in
    15 min rows), else at most MAX_ROWS."""
    for limit in (96, MAX_ROWS):
        for m in ROW_MINUTES:
            if math.ceil(span_ns / (m * 60 * 10**9)) <= limit:
                return m
    return ROW_MINUTES[-1]


def row_envelopes(window: Window, t0_ns: int, row_ns: int, rows: int, width: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(rows, width) min and max of the window's buckets per row and pixel column (NaN where
    none): each bucket goes to the column its start falls in. O(buckets)."""
    lo = np.full((rows, width), np.nan)
    hi = np.full((rows, width), np.nan)
    if not len(window.lo):
        return lo, hi
    rel = window.times_ns - t0_ns
    ok = (rel >= 0) & (rel < rows * row_ns) & ~np.isnan(window.lo)
    if not ok.any():
        return lo, hi
    rel = rel[ok]
    r = rel // row_ns
    c = np.minimum(((rel - r * row_ns) * width) // row_ns, width - 1)
    key = (r * width + c).astype(np.int64)  # sorted: the buckets are in time order
    first = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    cells = key[first]
    lo.ravel()[cells] = np.minimum.reduceat(window.lo[ok], first)
    hi.ravel()[cells] = np.maximum.reduceat(window.hi[ok], first)
    return lo, hi


def robust_amplitude(lo: np.ndarray, hi: np.ndarray, centre: np.ndarray,
                     percentile: float = PERCENTILE) -> float:
    """The `percentile` of the envelope's distance from each row's centre (0 when flat)."""
    dev = np.fmax(hi - centre[:, None], centre[:, None] - lo)
    dev = dev[np.isfinite(dev)]
    return float(np.percentile(dev, percentile)) if len(dev) else 0.0


def make_helicorder(source, t0_ns: int, row_ns: int, rows: int, width: int, row_px: int,
                    scale: str | float = "auto", clip: float = 1.0, divide: float = 1.0
                    ) -> Helicorder:
    """Draw `rows` rows of `row_ns` from `t0_ns` of `source` (a stream, or a stored band:
    anything with `read_window`) into a (height, width) palette image.

    `scale`: "auto" (robust percentile), "max" (the largest excursion fits), or the value
    (counts, or units after `divide`) that reaches half a row spacing. `clip`: how many row
    spacings a trace may reach from its row's centre. `divide`: values are divided by it
    (the sensitivity, for physical units)."""
    width, row_px, rows = max(int(width), 16), max(int(row_px), 2), max(int(rows), 1)
    clip = float(min(max(clip, 0.25), 8.0))
    margin = int(math.ceil(clip * row_px))
    height = rows * row_px + 2 * margin
    index = np.zeros((height, width), dtype=np.uint8)
    t1 = t0_ns + rows * row_ns
    window = source.read_window(t0_ns, t1, max_points=width * rows)
    lo, hi = row_envelopes(window, t0_ns, row_ns, rows, width)
    if divide != 1.0:
        lo, hi = lo / divide, hi / divide
    heli = Helicorder(index, t0_ns, row_ns, rows, row_px, margin, 0.0, window.level)
    if np.isnan(lo).all():
        heli.notes.append("no data in this span")
        return heli
    heli.present = True
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # rows without data: NaN centre
            centre = np.nanmedian((lo + hi) / 2, axis=1)
    if scale == "auto":
        amp = robust_amplitude(lo, hi, centre)
    elif scale == "max":
        amp = robust_amplitude(lo, hi, centre, 100.0)
    else:
        amp = float(scale)
    amp = amp if amp > 0 and math.isfinite(amp) else 1.0
    heli.amplitude = amp
    half = row_px / 2.0
    band_h = 2 * margin + 1  # a row's drawing band: its centre +- clip row spacings
    x = np.arange(width) + 0.5
    reach = margin  # pixels from the centre to the clip level
    for r in range(rows):
        rlo, rhi = lo[r], hi[r]
        if np.isnan(rlo).all():
            continue
        ylo = (rlo - centre[r]) / amp * half
        yhi = (rhi - centre[r]) / amp * half
        over_hi, under_lo = yhi > reach, ylo < -reach
        ylo = np.clip(ylo, -reach, reach) + margin + 0.5
        yhi = np.clip(yhi, -reach, reach) + margin + 0.5
        mask = np.flipud(raster.envelope_mask(x, ylo, yhi, width, band_h))
        top = r * row_px + int(round(half))  # band row 0: the row's centre - margin
        a, b = max(top, 0), min(top + band_h, height)
        sub = index[a:b]
        m = mask[a - top:b - top]
        sub[m] = (r % len(ROW_COLOURS)) + 1
        cols_hi, cols_lo = np.flatnonzero(over_hi), np.flatnonzero(under_lo)
        heli.clipped_columns += len(cols_hi) + len(cols_lo)
        for cols, rows_px in ((cols_hi, range(0, CLIP_MARK_PX + 1)),
                              (cols_lo, range(band_h - 1 - CLIP_MARK_PX, band_h))):
            for dy in rows_px:
                y = top + dy
                if 0 <= y < height and len(cols):
                    index[y, cols] = CLIP_INDEX
    return heli
