"""Coverage arithmetic on segment lists ([start, end) ns, sorted, disjoint): O(segments + bins)."""

from __future__ import annotations

import numpy as np

from pipelines.timebase import DAY_NS, day_start_ns


def present_before(segments: np.ndarray, t_ns: np.ndarray) -> np.ndarray:
    """Nanoseconds of data present before each time in `t_ns` (a cumulative coverage curve)."""
    t = np.asarray(t_ns, dtype=np.int64)
    seg = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    if not len(seg):
        return np.zeros(t.shape, dtype=np.int64)
    lengths = seg[:, 1] - seg[:, 0]
    cum = np.concatenate([[0], np.cumsum(lengths)])  # present time before segment k
    k = np.searchsorted(seg[:, 0], t, side="right") - 1  # last segment starting at or before t
    kk = np.clip(k, 0, len(seg) - 1)
    partial = np.clip(t - seg[kk, 0], 0, lengths[kk])
    return np.where(k >= 0, cum[kk] + partial, 0)


def coverage_per_bin(segments: np.ndarray, edges_ns: np.ndarray) -> np.ndarray:
    """Fraction (0-1) of each bin [edges[i], edges[i+1]) that holds data."""
    edges = np.asarray(edges_ns, dtype=np.int64)
    present = np.diff(present_before(segments, edges))
    return present / np.diff(edges)


def bin_edges(t0_ns: int, t1_ns: int, max_bins: int) -> tuple[np.ndarray, int]:
    """UTC-midnight edges of bins of whole days covering [t0, t1), and the days per bin: one
    day while that gives at most `max_bins` bins, else weeks, else whole multiples of weeks
    (so the cost is bounded by `max_bins`, never by the range's length in days)."""
    first = day_start_ns(t0_ns)
    last = day_start_ns(max(t1_ns - 1, t0_ns)) + DAY_NS
    days = (last - first) // DAY_NS
    per = 1 if days <= max_bins else 7 * -(-days // (7 * max_bins))
    n = -(-days // per)
    return first + np.arange(n + 1, dtype=np.int64) * (per * DAY_NS), int(per)


def day_edges(t0_ns: int, t1_ns: int) -> np.ndarray:
    """UTC midnights from the day holding t0 to the one after the day holding t1 - 1."""
    first = day_start_ns(t0_ns)
    last = day_start_ns(max(t1_ns - 1, t0_ns)) + DAY_NS
    return np.arange(first, last + 1, DAY_NS, dtype=np.int64)


def clip_segments(segments: np.ndarray, t0_ns: int, t1_ns: int) -> np.ndarray:
    """The parts of the segments inside [t0, t1)."""
    seg = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    s = np.clip(seg[:, 0], t0_ns, t1_ns)
    e = np.clip(seg[:, 1], t0_ns, t1_ns)
    keep = e > s
    return np.stack([s[keep], e[keep]], axis=1) if keep.any() else np.zeros((0, 2), np.int64)


def gaps_within(segments: np.ndarray, t0_ns: int, t1_ns: int) -> np.ndarray:
    """Gaps between consecutive segments that overlap [t0, t1) (the data's own gaps, not the
    time before the first or after the last sample)."""
    seg = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    if len(seg) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    gaps = np.stack([seg[:-1, 1], seg[1:, 0]], axis=1)
    keep = (gaps[:, 1] > t0_ns) & (gaps[:, 0] < t1_ns)
    return gaps[keep]
