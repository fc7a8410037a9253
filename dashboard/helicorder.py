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

from dashboard.amplitude import ROBUST_PERCENTILE, envelope
from pipelines.store import Window

# Row colours cycling as on a drum (ObsPy's dayplot cycles four; these read on white).
ROW_COLOURS = ("#1a1a1a", "#b2000f", "#0e3fd0", "#0b6b2a")
CLIP_COLOUR = "#ff8c00"  # clipped columns (index len(ROW_COLOURS) + 1)
PALETTE = (*ROW_COLOURS, CLIP_COLOUR)
# The same hues lightened for the dark theme (black ink would vanish on its background).
DARK_PALETTE = ("#e8e8e8", "#ff7a7a", "#7fb0ff", "#5fd38d", CLIP_COLOUR)
CLIP_INDEX = len(ROW_COLOURS) + 1
CLIP_MARK_PX = 2  # rows of pixels marked at a clipped extreme
PERCENTILE = ROBUST_PERCENTILE
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


def palette(theme: str) -> tuple[str, ...]:
    """The image's colours (rows, then the clip mark) in a theme."""
    return DARK_PALETTE if theme == "dark" else PALETTE


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
    # Offsets as float64 ns from t0: exact to a few ns over a year, far under a pixel.
    rel = (window.t0_ns - t0_ns) + np.arange(len(window.lo)) * float(window.step_ns)
    ok = (rel >= 0) & (rel < rows * row_ns) & ~np.isnan(window.lo)
    if not ok.any():
        return lo, hi
    rel = rel[ok]
    cell = np.minimum((rel * (width / row_ns)).astype(np.int64), rows * width - 1)
    r = cell // width
    # A bucket's column within its row (the row's own start, not the previous row's end).
    c = np.minimum(((rel - r * row_ns) * (width / row_ns)).astype(np.int64), width - 1)
    key = r * width + c  # sorted: the buckets are in time order
    first = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    cells = key[first]
    lo.ravel()[cells] = np.minimum.reduceat(window.lo[ok], first)
    hi.ravel()[cells] = np.maximum.reduceat(window.hi[ok], first)
    return lo, hi


def row_centres(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Each row's median bucket mid-point (NaN for a row without data): its level, not
    pulled by an earthquake. By one sort of the whole (rows, width) array: `np.nanmedian`
    along an axis loops in Python per row (100 ms for 96 rows here)."""
    mid = np.sort((lo + hi) / 2, axis=1)  # NaN sorts last
    n = np.isfinite(mid).sum(axis=1)
    out = np.full(len(mid), np.nan)
    have = n > 0
    rows = np.flatnonzero(have)
    a, b = (n[have] - 1) // 2, n[have] // 2
    out[have] = (mid[rows, a] + mid[rows, b]) / 2
    return out


def robust_amplitude(lo: np.ndarray, hi: np.ndarray, centre: np.ndarray,
                     percentile: float = PERCENTILE) -> float:
    """The `percentile` of the envelope's distance from each row's centre (0 when flat).

    The envelope is the waveform page's (`dashboard.amplitude`); its `robust_scale` is not
    used: it takes one centre for the whole trace (here each row has its own) and puts the
    percentile at 40 % of the band, where a helicorder puts it at half a row spacing."""
    dev = envelope(lo, hi, centre[:, None])
    dev = dev[np.isfinite(dev)]
    return float(np.percentile(dev, percentile)) if len(dev) else 0.0


def _paint_runs(index: np.ndarray, col: np.ndarray, top: np.ndarray, bottom: np.ndarray,
                value: np.ndarray | int) -> None:
    """Set rows `top` to `bottom` (inclusive) of each column `col` of `index` to `value`
    (later runs over earlier ones): O(pixels lit), not O(image) per colour."""
    lengths = np.maximum(bottom - top + 1, 0)
    total = int(lengths.sum())
    if not total:
        return
    offset = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    yy = np.repeat(top, lengths) + offset
    xx = np.repeat(col, lengths)
    index[yy, xx] = np.repeat(value, lengths) if np.ndim(value) else value


def make_helicorder(source, t0_ns: int, row_ns: int, rows: int, width: int, row_px: int,
                    scale: str | float = "auto", clip: float = 1.0, divide: float = 1.0
                    ) -> Helicorder:
    """Draw `rows` rows of `row_ns` from `t0_ns` of `source` (a stream, or a stored band:
    anything with `read_window`) into a (height, width) palette image.

    `scale`: "auto" (robust percentile), "max" (the largest excursion fits), or the value
    (counts, or units after `divide`) that reaches half a row spacing. `clip`: how many row
    spacings a trace may reach from its row's centre. `divide`: values are divided by it
    (the sensitivity, for physical units).

    Every (row, column) is one vertical run from its min to its max, stretched to meet the
    previous column's run (the zigzag through the buckets, as ObsPy's dayplot draws it), and
    all runs are painted in one pass: O(pixels), no loop over rows."""
    width, row_px, rows = max(int(width), 16), max(int(row_px), 2), max(int(rows), 1)
    clip = float(min(max(clip, 0.25), 8.0))
    margin = int(math.ceil(clip * row_px))
    height = rows * row_px + 2 * margin
    index = np.zeros((height, width), dtype=np.uint8)
    window = source.read_window(t0_ns, t0_ns + rows * row_ns, max_points=width * rows)
    lo, hi = row_envelopes(window, t0_ns, row_ns, rows, width)
    if divide != 1.0:
        lo, hi = lo / divide, hi / divide
    heli = Helicorder(index, t0_ns, row_ns, rows, row_px, margin, 0.0, window.level)
    if np.isnan(lo).all():
        heli.notes.append("no data in this span")
        return heli
    heli.present = True
    centre = row_centres(lo, hi)
    if scale == "auto":
        amp = robust_amplitude(lo, hi, centre)
    elif scale == "max":
        amp = robust_amplitude(lo, hi, centre, 100.0)
    else:
        amp = float(scale)
    amp = amp if amp > 0 and math.isfinite(amp) else 1.0
    heli.amplitude = amp
    half = row_px / 2.0
    with np.errstate(invalid="ignore"):
        up = (hi - centre[:, None]) * (half / amp)  # pixels above the row's centre
        down = (lo - centre[:, None]) * (half / amp)
    over, under = up > margin, down < -margin
    up, down = np.clip(up, -margin, margin), np.clip(down, -margin, margin)
    prev_up = np.concatenate([np.full((rows, 1), np.nan), up[:, :-1]], axis=1)
    prev_down = np.concatenate([np.full((rows, 1), np.nan), down[:, :-1]], axis=1)
    up, down = np.fmax(up, prev_down), np.fmin(down, prev_up)  # meet the previous column
    ok = np.isfinite(up) & np.isfinite(down)
    yc = margin + np.arange(rows)[:, None] * row_px + half  # each row's centre line
    top = np.clip(np.floor(yc - up), 0, height - 1)
    bottom = np.clip(np.floor(yc - down), 0, height - 1)
    r, c = np.nonzero(ok)  # row by row: a later row's ink lies over an earlier one's
    colour = (r % len(ROW_COLOURS) + 1).astype(np.uint8)
    _paint_runs(index, c, top[ok].astype(np.int64), bottom[ok].astype(np.int64), colour)
    # The clipped columns: CLIP_MARK_PX + 1 rows at the clip level they reach.
    for hit, edge, sign in ((over, yc - margin, 1), (under, yc + margin, -1)):
        rr, cc = np.nonzero(hit)
        heli.clipped_columns += len(rr)
        e = np.broadcast_to(edge, hit.shape)[rr, cc].astype(np.int64)
        a = e if sign > 0 else e - CLIP_MARK_PX
        _paint_runs(index, cc, np.clip(a, 0, height - 1),
                    np.clip(a + CLIP_MARK_PX, 0, height - 1), CLIP_INDEX)
    return heli
