"""The min/max (and sum/count) kernels of every pyramid: regular streams, irregular streams
and the usage store's metrics compute their levels with these.

A level's bucket holds the min and max of the `factor` finer values under it, absent values
ignored, the fill value where all are absent. Pairwise halving (for power-of-two factors) is
several times faster than a reduction along a short axis, and gives the same values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from pipelines.store.layout import fill_value_for
from pipelines.store.segments import runs_of
from pipelines.store.workers import pool


def sentinels(dtype: np.dtype) -> tuple[Any, Any]:
    """Values above and below every sample of a dtype (what an absent sample becomes for a
    min and for a max)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.inf, -np.inf
    info = np.iinfo(dtype)
    return info.max, info.min


def is_fill(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Where `values` hold the fill value of `dtype` (absent samples, empty buckets)."""
    if np.dtype(dtype).kind == "f":
        return np.isnan(values)
    return values == fill_value_for(dtype)


def reduce_pow2(values: np.ndarray, factor: int, op) -> np.ndarray:
    """`op` (np.minimum or np.maximum) over each run of `factor` (a power of two) values."""
    out = op(values[0::2], values[1::2])
    f = factor // 2
    while f > 1:
        out = op(out[0::2], out[1::2])
        f //= 2
    return out


def minmax_pow2(values: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of each run of `factor` (a power of two) values by pairwise halving:
    several times faster than a reduction along a short axis."""
    return reduce_pow2(values, factor, np.minimum), reduce_pow2(values, factor, np.maximum)


def bucket_minmax(values: np.ndarray, present: np.ndarray | None, factor: int,
                  dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of each run of `factor` values, ignoring absent ones (fill where empty;
    `present` None: all present)."""
    n = len(values)
    nb = math.ceil(n / factor)
    pad = nb * factor - n
    dtype = np.dtype(dtype)
    hi_s, lo_s = sentinels(dtype)
    if present is None:
        present = np.ones(n, dtype=bool) if pad else None
    if not pad and (present is None or present.all()):  # the common case: no masking copies
        if factor > 1 and factor & (factor - 1) == 0:
            step = factor * 2**18
            if n > step:  # in parallel slices (numpy releases the GIL)
                parts = list(pool().map(lambda a: minmax_pow2(values[a:a + step], factor),
                                        range(0, n, step)))
                mn = np.concatenate([p[0] for p in parts])
                mx = np.concatenate([p[1] for p in parts])
            else:
                mn, mx = minmax_pow2(values, factor)
            return mn.astype(dtype, copy=False), mx.astype(dtype, copy=False)
        v = values.reshape(nb, factor)
        return v.min(axis=1).astype(dtype), v.max(axis=1).astype(dtype)
    v = values
    if pad:
        v = np.concatenate([v, np.zeros(pad, dtype=v.dtype)])
        present = np.concatenate([present, np.zeros(pad, dtype=bool)])
    v = v.reshape(nb, factor)
    p = present.reshape(nb, factor)
    with np.errstate(all="ignore"):  # thread-local, unlike warnings.catch_warnings
        mn = np.where(p, v, hi_s).min(axis=1)
        mx = np.where(p, v, lo_s).max(axis=1)
    empty = ~p.any(axis=1)
    fill = fill_value_for(dtype)
    mn = mn.astype(dtype)
    mx = mx.astype(dtype)
    mn[empty] = fill
    mx[empty] = fill
    return mn, mx


def level_minmax_pow2(pmin: np.ndarray, pmax: np.ndarray, present: np.ndarray, factor: int,
                      dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The next pyramid level from the finer one (`present`: its non-empty buckets), by
    pairwise halving; `bucket_minmax`'s result, without its 2-D masked reductions (which
    cost ~10x more). Runs of whole present groups take the plain halving; only the groups
    holding empty buckets (e.g. the fill past the end of a level) are masked."""
    if bool(present.all()):  # no empty bucket: only the needed halves
        return reduce_pow2(pmin, factor, np.minimum), reduce_pow2(pmax, factor, np.maximum)
    dtype = np.dtype(dtype)
    groups = present.reshape(-1, factor)
    full = groups.all(axis=1)
    runs = runs_of(full)
    if len(runs) > 64:  # gaps everywhere: one masked pass beats many small ones
        return level_minmax_masked(pmin, pmax, present, factor, dtype)
    mn = np.empty(len(full), dtype=dtype)
    mx = np.empty(len(full), dtype=dtype)
    for r0, r1 in runs:
        mn[r0:r1] = reduce_pow2(pmin[r0 * factor:r1 * factor], factor, np.minimum)
        mx[r0:r1] = reduce_pow2(pmax[r0 * factor:r1 * factor], factor, np.maximum)
    part = np.flatnonzero(~full)
    if len(part):  # the groups holding empty buckets, by the masked reduction
        p = groups[part].ravel()
        mn[part] = bucket_minmax(pmin.reshape(-1, factor)[part].ravel(), p, factor, dtype)[0]
        mx[part] = bucket_minmax(pmax.reshape(-1, factor)[part].ravel(), p, factor, dtype)[1]
    return mn, mx


def level_minmax_masked(pmin: np.ndarray, pmax: np.ndarray, present: np.ndarray, factor: int,
                        dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """`level_minmax_pow2` for levels with empty buckets everywhere, in whole-array passes."""
    hi_s, lo_s = sentinels(dtype)
    mn = reduce_pow2(np.where(present, pmin, hi_s).astype(dtype, copy=False), factor,
                     np.minimum)
    mx = reduce_pow2(np.where(present, pmax, lo_s).astype(dtype, copy=False), factor,
                     np.maximum)
    empty = ~reduce_pow2(present, factor, np.logical_or)
    if empty.any():
        fill = fill_value_for(dtype)
        mn[empty] = fill
        mx[empty] = fill
    return mn, mx


def next_level(pmin: np.ndarray, pmax: np.ndarray, factor: int, dtype: np.dtype
               ) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of each run of `factor` buckets of a finer level (fill: empty buckets)."""
    present = ~is_fill(pmin, dtype)
    if len(pmin) % factor == 0 and factor > 1 and factor & (factor - 1) == 0:
        return level_minmax_pow2(pmin, pmax, present, factor, dtype)
    return (bucket_minmax(pmin, present, factor, dtype)[0],
            bucket_minmax(pmax, present, factor, dtype)[1])


def minmax_by_bucket(bucket: np.ndarray, values: np.ndarray, size: int, dtype: np.dtype
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of `values` per bucket number in [0, `size`) (`bucket` sorted, one per
    value); the fill value where a bucket holds none."""
    fill = fill_value_for(dtype)
    mn = np.full(size, fill, dtype=dtype)
    mx = np.full(size, fill, dtype=dtype)
    if len(bucket):
        ub, first = np.unique(bucket, return_index=True)
        mn[ub] = np.minimum.reduceat(values, first)
        mx[ub] = np.maximum.reduceat(values, first)
    return mn, mx


def bucket_reduce(values: np.ndarray, factor: int, reduce: Callable[..., np.ndarray],
                  pad_value: Any) -> np.ndarray:
    """`reduce(..., axis=-1)` over each run of `factor` values along the last axis; the last
    run, when partial, is completed with `pad_value`."""
    n = values.shape[-1]
    nb = math.ceil(n / factor)
    pad = [(0, 0)] * (values.ndim - 1) + [(0, nb * factor - n)]
    padded = np.pad(values, pad, constant_values=pad_value)
    return reduce(padded.reshape(*values.shape[:-1], nb, factor), axis=-1)


def coarsen(values: np.ndarray, r: int, ufunc: np.ufunc) -> np.ndarray:
    """Float64 buckets reduced by runs of `r` with `np.fmin` or `np.fmax` (NaN ignored, NaN
    where all are), the last run possibly shorter: a level coarser than the stored ones,
    computed on read."""
    whole = len(values) // r * r
    out = ufunc.reduce(values[:whole].reshape(-1, r), axis=1)
    if whole < len(values):  # the last run is short: no padding (r may be huge)
        out = np.append(out, ufunc.reduce(values[whole:]))
    return out
