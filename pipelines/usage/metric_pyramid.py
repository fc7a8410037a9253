"""A time pyramid for metric series, so a year of thousands of nodes is one screenful to read.

Level k of `metrics/NAME/pyramid/k/` holds, for each series and each bucket of 16**k
consecutive samples (by index: timestamps may be irregular), the `sum`, `count` (present
samples) and `max`, plus `time`, the first timestamp of each bucket. Level k is computed from
level k-1, so an append re-reads only the last partial bucket of each level. Levels stop when a
level holds at most TOP_LEVEL_MAX buckets.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from pipelines.store.backend import Group
from pipelines.store.layout import METRIC_FACTOR as FACTOR
from pipelines.store.layout import METRIC_TOP_LEVEL_MAX as TOP_LEVEL_MAX
from pipelines.store.layout import metric_level_array
from pipelines.store.pyramid import bucket_reduce


def n_levels(n_times: int) -> int:
    """Pyramid levels for a metric of n_times timestamps (0 when raw is small enough)."""
    levels = 0
    while math.ceil(n_times / FACTOR**levels) > TOP_LEVEL_MAX:
        levels += 1
    return levels


def _level_arrays(g: Group, k: int, n_series: int, n_buckets: int) -> Group:
    path = f"pyramid/{k}"
    if path in g:
        lg = g[path]
        if lg["sum"].shape[0] < n_series or lg["sum"].shape[1] < n_buckets:
            shape = (max(lg["sum"].shape[0], n_series), max(lg["sum"].shape[1], n_buckets))
            for name in ("sum", "count", "max"):
                lg[name].resize(shape)
            lg["time"].resize((shape[1],))
        return lg
    lg = g.require_group(path)
    shape = (max(n_series, 1), max(n_buckets, 1))
    for name in ("sum", "count", "max"):
        lg.create_array(name, shape=shape, **metric_level_array(name))
    lg.create_array("time", shape=(shape[1],), **metric_level_array("time"))
    return lg


def _reduce(values: np.ndarray, counts: np.ndarray | None, times: np.ndarray,
            maxes: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Buckets of FACTOR columns: (sum, count, max, first time); the last may be partial."""
    if counts is None:  # raw samples: NaN is absent
        present = ~np.isnan(values)
        s = bucket_reduce(np.where(present, values, 0.0), FACTOR, np.sum, 0.0)
        c = bucket_reduce(present.astype(np.int32), FACTOR, np.sum, 0)
        mx_src = values
    else:
        s = bucket_reduce(values, FACTOR, np.sum, 0.0)
        c = bucket_reduce(counts, FACTOR, np.sum, 0)
        mx_src = maxes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN bucket is simply NaN
        mx = bucket_reduce(mx_src, FACTOR, np.nanmax, np.nan)
    return s, c.astype(np.int32), mx, times[::FACTOR]


def update_pyramid(g: Group, n_series: int, n_times: int, from_index: int = 0) -> None:
    """Recompute every level over samples [from_index, n_times) (widened to bucket edges)."""
    levels = n_levels(n_times)
    before = int(dict(g.attrs.get("pyramid") or {}).get("levels", 0))
    if levels > before:  # a new level (rare: the metric grew 16-fold) is built whole
        from_index = 0
    g.attrs["pyramid"] = {"factor": FACTOR, "levels": levels}
    if levels == 0 or n_series == 0:
        return
    lo = (from_index // FACTOR) * FACTOR
    values = g["values"][:n_series, lo:n_times]
    times = g["time"][lo:n_times]
    counts = maxes = None
    size = n_times
    for k in range(1, levels + 1):
        s, c, mx, t = _reduce(values, counts, times, maxes)
        b0 = lo // FACTOR
        size = math.ceil(size / FACTOR)
        lg = _level_arrays(g, k, n_series, size)
        lg["sum"][:n_series, b0:b0 + s.shape[1]] = s
        lg["count"][:n_series, b0:b0 + s.shape[1]] = c
        lg["max"][:n_series, b0:b0 + s.shape[1]] = mx
        lg["time"][b0:b0 + s.shape[1]] = t
        if k == levels:
            break
        # The next level starts at a bucket edge of its own: re-read this level from there.
        nxt = (b0 // FACTOR) * FACTOR
        if nxt < b0:
            values = lg["sum"][:n_series, nxt:size]
            counts = lg["count"][:n_series, nxt:size]
            maxes = lg["max"][:n_series, nxt:size]
            times = lg["time"][nxt:size]
        else:
            values, counts, maxes, times = s, c, mx, t
        lo = nxt


def choose_level(n: int, max_points: int, levels: int, at_least: bool = True) -> int:
    """Level for n samples on max_points: coarsest with >= max_points buckets (`at_least`),
    or finest with <= max_points buckets (a heatmap wants no more columns than pixels)."""
    if at_least:
        k = 0
        while k < levels and n / FACTOR**(k + 1) >= max_points:
            k += 1
        return k
    k = 0
    while k < levels and n / FACTOR**k > max_points:
        k += 1
    return k


def read_level(g: Group, k: int, i0: int, i1: int, series: np.ndarray | None,
               n_series: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, mean, max) of samples [i0, i1) at level k (0 = raw samples)."""
    rows = slice(0, n_series) if series is None else np.asarray(series, dtype=np.int64)
    if k == 0:
        vals = (g["values"][rows, i0:i1] if series is None
                else g["values"].oindex[rows, i0:i1])
        return g["time"][i0:i1], vals, vals
    step = FACTOR**k
    b0, b1 = i0 // step, math.ceil(i1 / step)
    lg = g[f"pyramid/{k}"]

    def get(name: str) -> np.ndarray:
        a = lg[name]
        return a[rows, b0:b1] if series is None else a.oindex[rows, b0:b1]

    s, c, mx = get("sum"), get("count"), get("max")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    return lg["time"][b0:b1], mean, mx
