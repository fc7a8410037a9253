"""Irregularly sampled streams: explicit timestamps and a pyramid by time bucket.

A stream group whose `belvedere.kind` attribute is `"irregular"` holds:

- `time`: int64 ns since 1970 (UTC) of every sample, sorted (equal times allowed);
- `data`: the samples, in their own dtype (NaN is never stored: an absent value is no sample);
- `pyramid/<k>/min`, `max`, `start` for k = 1..levels: level k cuts time into fixed buckets of
  `base_ns * 16**k` from `origin_ns` (00:00 UTC of the first sample's day); `min`/`max` are
  those of the samples in each bucket (fill where empty) and `start` is the index of the first
  sample at or after the bucket's start, so bucket b holds raw samples [start[b], start[b+1]).
  `base_ns` is the median sample interval of the first file, so level k holds about 16**k
  samples per bucket, as for regular streams, and a year reads one screenful.
- attributes: `n` (samples committed), `segments` ([first, last + 1 ns) of runs whose
  intervals stay under `gap_ns`), `provenance`, `conflicts`, `pyramid`, `dtype`, `units`.

Arrays are written first and `n` with the segments last, in one attribute write: readers
never look past `n`, so an interrupted append leaves the previous stream.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from pipelines.store import backend, pyramid
from pipelines.store._zarrio import native
from pipelines.store.base import StreamBase
from pipelines.store.errors import StoreError
from pipelines.store.layout import (
    IRREGULAR_KIND,
    OLD_SUFFIX,
    PYRAMID_FACTOR,
    TMP_SUFFIX,
    TOP_LEVEL_MAX,
    check_layout_version,
    fill_value_for,
    irregular_array,
    stream_kind,
    stream_marker,
)
from pipelines.store.segments import extend_segments, prune_segment_arrays, store_segments
from pipelines.timebase import NS, day_start_ns, utc_iso

if TYPE_CHECKING:
    from pipelines.store.store import Store

KIND = IRREGULAR_KIND
GAP_FACTOR = 10  # an interval over GAP_FACTOR x the median interval is a gap
RAW_PER_POINT = PYRAMID_FACTOR  # raw reads stay under max_points * RAW_PER_POINT samples


def is_irregular(attrs: Mapping[str, Any]) -> bool:
    """True when stream attributes describe an irregular (explicit-time) stream."""
    return stream_kind(attrs) == KIND


@dataclass(frozen=True)
class IrregularWindow:
    """A Window-compatible read of an irregular stream: explicit times per point or bucket."""

    stream: str
    level: int  # 0 = raw samples, k = time buckets of base_ns * 16**k
    t0_ns: int
    step_ns: float
    lo: np.ndarray
    hi: np.ndarray
    times: np.ndarray  # int64 ns of each point (raw) or bucket start

    @property
    def times_ns(self) -> np.ndarray:
        """Time of each point (raw) or bucket start, int64 ns."""
        return self.times

    @property
    def is_raw(self) -> bool:
        """True when the window holds the actual samples."""
        return self.level == 0


@dataclass
class IrregularOutcome:
    """What one append did."""

    written: int = 0
    unchanged: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)


class IrregularStream(StreamBase):
    """An irregular stream of a store, opened for reading."""

    kind = KIND
    summary_kind = {"kind": KIND}
    summary_keys = ("units", "mission", "instrument", "time_system")

    def _load_attrs(self) -> None:
        attrs = dict(self.group.attrs)
        check_layout_version(attrs.get("belvedere", {}), f"stream {self.name!r}")
        self.attrs: dict[str, Any] = attrs
        self.dtype = np.dtype(attrs["dtype"])
        self.n = int(attrs.get("n", 0))
        self.origin_ns = int(attrs["origin_ns"])
        self.base_ns = int(attrs["base_ns"])
        self.gap_ns = int(attrs["gap_ns"])
        self.factor = int(attrs.get("pyramid", {}).get("factor", PYRAMID_FACTOR))
        self.levels = int(attrs.get("pyramid", {}).get("levels", 0))
        self._set_stored_segments(attrs.get("segments", []))
        self.sampling_rate = float(attrs.get("sampling_rate") or NS / max(self.base_ns, 1))
        self.period_ns = NS / self.sampling_rate
        span = self.span_ns
        self.start_ns = span[0] if span else self.origin_ns

    # -- geometry --------------------------------------------------------------------------
    def width_ns(self, level: int) -> int:
        """Bucket width of pyramid level `level` in ns."""
        return self.base_ns * self.factor**level

    def n_buckets(self, level: int) -> int:
        """Buckets of level `level` up to the last committed sample."""
        if not self.n:
            return 0
        last = int(self.attrs["last_ns"])
        return (last - self.origin_ns) // self.width_ns(level) + 1

    @property
    def length(self) -> int:
        """Samples stored (all present)."""
        return self.n

    @property
    def n_samples(self) -> int:
        """Number of samples present."""
        return self.n

    # -- reading ---------------------------------------------------------------------------
    def _arr(self, path: str) -> zarr.Array:
        return self.group[path]

    def index_range(self, t0_ns: int, t1_ns: int) -> tuple[int, int]:
        """Raw indices [i0, i1) of the samples with t0 <= time < t1 (bounded reads)."""
        if not self.n:
            return 0, 0
        lo_i, hi_i = 0, self.n
        if self.levels >= 1:  # narrow with the level-1 starts: only one bucket is searched
            nb = self.n_buckets(1)
            starts = self._arr("pyramid/1/start")
            w = self.width_ns(1)

            def bracket(t: int) -> tuple[int, int]:
                b = (int(t) - self.origin_ns) // w
                if b < 0:
                    return 0, 0
                if b >= nb:
                    return self.n, self.n
                a = int(starts[b])
                e = int(starts[b + 1]) if b + 1 < nb else self.n
                return a, e

            a0, e0 = bracket(t0_ns)
            a1, e1 = bracket(t1_ns)
            tarr = self._arr("time")
            i0 = a0 + int(np.searchsorted(tarr[a0:e0], t0_ns, "left")) if e0 > a0 else a0
            i1 = a1 + int(np.searchsorted(tarr[a1:e1], t1_ns, "left")) if e1 > a1 else a1
            return min(max(i0, lo_i), hi_i), min(max(i1, lo_i), hi_i)
        t = self._arr("time")[: self.n]
        return int(np.searchsorted(t, t0_ns, "left")), int(np.searchsorted(t, t1_ns, "left"))

    def read_times(self, t0_ns: int | None = None, t1_ns: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(times int64 ns, values in the stream's dtype) of the samples in [t0, t1).

        Parameters
        ----------
        t0_ns, t1_ns : int or None
            The window in int64 ns since 1970 (UTC); None: from the first or to the last sample.

        Returns
        -------
        times : numpy.ndarray
            int64 ns of each sample, sorted.
        values : numpy.ndarray
            The samples, in the stream's dtype and native byte order.
        """
        if not self.n:
            return np.zeros(0, np.int64), np.zeros(0, self.dtype)
        i0, i1 = self.index_range(
            -(2**62) if t0_ns is None else t0_ns, 2**62 if t1_ns is None else t1_ns)
        if i1 <= i0:
            return np.zeros(0, np.int64), np.zeros(0, self.dtype)
        return native(self._arr("time")[i0:i1]), native(self._arr("data")[i0:i1])

    def read_segments(self, t0_ns: int | None = None, t1_ns: int | None = None
                      ) -> list[tuple[int, np.ndarray]]:
        """The samples of [t0, t1) as (first time, values) per segment (times: `read_times`)."""
        t, v = self.read_times(t0_ns, t1_ns)
        if not len(t):
            return []
        cuts = np.flatnonzero(np.diff(t) > self.gap_ns) + 1
        return [(int(tt[0]), vv) for tt, vv in zip(np.split(t, cuts), np.split(v, cuts),
                                                     strict=True)]

    def choose_level(self, t0_ns: int, t1_ns: int, max_points: int) -> int:
        """The coarsest level with at least one bucket per point, or 0 (raw)."""
        per_point = max(t1_ns - t0_ns, 1) / max(max_points, 1)
        if self.levels < 1 or per_point < self.width_ns(1):
            return 0
        k = int(math.floor(math.log(per_point / self.base_ns, self.factor) + 1e-9))
        return max(1, k)  # past the stored levels: computed on read (`read_window`)

    def read_window(self, t0_ns: int, t1_ns: int, max_points: int = 2000,
                    level: int | None = None) -> IrregularWindow:
        """Read [t0, t1) at screen resolution: raw samples when few, else time buckets.

        Parameters
        ----------
        t0_ns, t1_ns : int
            The window in int64 ns since 1970 (UTC).
        max_points : int
            The points the view has room for; raw samples are read while they number at most
            `max_points * RAW_PER_POINT`, else the coarsest level with a bucket per point.
        level : int or None
            Read this level instead (0: raw samples).

        Returns
        -------
        IrregularWindow
            Explicit `times` per point or bucket with min (`lo`) and max (`hi`) as float64,
            NaN in empty buckets and one NaN point inside each gap of the raw samples. Only
            buckets between the first and the last sample are returned, and a level coarser
            than the stored ones is computed from the coarsest stored level, so the cost is
            bounded by what is returned for any window.
        """
        if level is None:
            level = self.choose_level(t0_ns, t1_ns, max_points)
            if level == 0 and self.levels >= 1:
                i0, i1 = self.index_range(t0_ns, t1_ns)
                if i1 - i0 > max(max_points, 1) * RAW_PER_POINT:
                    level = 1  # too many raw samples: level 1 is still at least 1 per point
        if level == 0:
            return self._raw_window(t0_ns, t1_ns)
        w = self.width_ns(level)
        nb = self.n_buckets(level)
        b0 = max((int(t0_ns) - self.origin_ns) // w, 0)
        b1 = min(-(-(int(t1_ns) - self.origin_ns) // w), nb)
        if b1 <= b0:
            empty = np.zeros(0)
            return IrregularWindow(self.name, level, int(t0_ns), float(w), empty, empty,
                                   np.zeros(0, np.int64))
        stored = min(level, self.levels)
        r = self.factor ** (level - stored)  # stored buckets per bucket read
        grp = self.group[f"pyramid/{stored}"]
        e = min(b1 * r, self.n_buckets(stored))
        mn = grp["min"][b0 * r:e]
        mx = grp["max"][b0 * r:e]
        empty = pyramid.is_fill(mn, self.dtype)
        lo = mn.astype(np.float64)
        hi = mx.astype(np.float64)
        lo[empty] = np.nan
        hi[empty] = np.nan
        if r > 1:
            lo, hi = pyramid.coarsen(lo, r, np.fmin), pyramid.coarsen(hi, r, np.fmax)
        times = self.origin_ns + np.arange(b0, b0 + len(lo), dtype=np.int64) * w
        return IrregularWindow(self.name, level, int(times[0]), float(w), lo, hi, times)

    def _raw_window(self, t0_ns: int, t1_ns: int) -> IrregularWindow:
        t, v = self.read_times(t0_ns, t1_ns)
        vals = v.astype(np.float64)
        step = float(np.median(np.diff(t))) if len(t) > 1 else float(self.base_ns)
        cut = np.flatnonzero(np.diff(t) > self.gap_ns)
        if len(cut):  # a NaN point inside each gap so lines do not bridge it
            t = np.insert(t, cut + 1, t[cut] + 1)
            vals = np.insert(vals, cut + 1, np.nan)
        return IrregularWindow(self.name, 0, int(t[0]) if len(t) else int(t0_ns), step,
                               vals, vals, t)

    def to_xarray(self):
        """The stream as a lazy xarray DataArray with its `time` coordinate."""
        import xarray as xr

        from pipelines.store.lazy import dask_array

        # From the group already open (consolidated metadata when `open_datatree` opened it).
        state = (self.store.url, self.name, self.n)
        data, time = self._arr("data"), self._arr("time")
        times = dask_array(time, "time", *state)[:self.n].astype("datetime64[ns]")
        coords = xr.Coordinates({"time": ("time", times)}, indexes={})
        return xr.DataArray(dask_array(data, "data", *state)[:self.n], dims=("time",),
                            coords=coords, name="data", attrs=dict(data.attrs))


def _median_interval(times: np.ndarray) -> int:
    d = np.diff(times)
    d = d[d > 0]
    return max(int(np.median(d)), 1) if len(d) else NS


def create_irregular(store: Store, name: str, times: np.ndarray, dtype: np.dtype,
                     attrs: dict[str, Any]) -> IrregularWriter:
    """Create an empty irregular stream sized for samples like `times` (the first file's)."""
    store.writable()
    if name in store.root:
        raise StoreError(f"stream {name!r} already exists in {store.url}")
    return _create(store, name, int(times[0]), _median_interval(times), np.dtype(dtype), attrs)


def _create(store: Store, name: str, first_ns: int, median_ns: int, dtype: np.dtype,
            attrs: dict[str, Any]) -> IrregularWriter:
    fill_value_for(dtype)  # refuses unsupported dtypes
    full = {
        "belvedere": stream_marker(KIND),
        "stream": name, "dtype": str(dtype), "units": "", "n": 0,
        "origin_ns": day_start_ns(first_ns), "base_ns": int(median_ns),
        "gap_ns": int(median_ns) * GAP_FACTOR, "sampling_rate": NS / median_ns,
        "pyramid": {"factor": PYRAMID_FACTOR, "levels": 0, "by": "time"},
        "segments": [], "provenance": [], "conflicts": [],
        **attrs,
    }
    grp = store.root.create_group(name, attributes=full)
    grp.create_array("time", shape=(0,), **irregular_array("time", dtype))
    grp.create_array("data", shape=(0,), **irregular_array("data", dtype),
                     attributes={"long_name": name, "units": full.get("units", "")})
    return IrregularWriter(store, name, grp)


class IrregularWriter(IrregularStream):
    """An irregular stream opened for writing: `append`, then `commit` (attributes last)."""

    def append(self, times: np.ndarray, values: np.ndarray, source: str) -> IrregularOutcome:
        """Add samples (any order); equal (time, value) pairs already stored change nothing."""
        out = IrregularOutcome()
        times = np.asarray(times, dtype=np.int64)
        if np.dtype(values.dtype) != self.dtype:
            if not np.can_cast(values.dtype, self.dtype, casting="safe"):
                raise ValueError(f"{source}: samples of type {values.dtype} cannot be stored "
                                 f"losslessly in stream {self.name} of type {self.dtype}")
            values = values.astype(self.dtype)
        if not len(times):
            return out
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[order]
        last = int(self.attrs["last_ns"]) if self.n else None
        if last is None or times[0] > last:
            self._append_tail(times, values)
            out.written = len(times)
            return out
        old_t, old_v = self.read_times()
        pos = np.searchsorted(old_t, times, "left")
        hit = (pos < len(old_t)) & (old_t[np.minimum(pos, len(old_t) - 1)] == times)
        same = hit & (_eq(old_v[np.minimum(pos, len(old_t) - 1)], values))
        differ = hit & ~same
        for i in np.flatnonzero(differ)[:100]:
            out.conflicts.append({"stream": self.name, "file": source,
                                  "start": utc_iso(int(times[i])),
                                  "end": utc_iso(int(times[i]) + 1), "samples": 1,
                                  "reason": "differs from the stored sample",
                                  "kept": "stored samples"})
        if int(differ.sum()) > 100:
            out.conflicts[-1]["samples"] = int(differ.sum()) - 99
        out.unchanged = int(same.sum())
        new = ~hit
        out.written = int(new.sum())
        if not out.written:
            return out
        all_t = np.concatenate([old_t, times[new]])
        all_v = np.concatenate([old_v, values[new]])
        order = np.argsort(all_t, kind="stable")
        self._rebuild(all_t[order], all_v[order])
        return out

    # -- tail append: arrays grow, the pyramid is redone from the first bucket touched ------
    def _append_tail(self, times: np.ndarray, values: np.ndarray) -> None:
        if times[0] < self.origin_ns:
            raise StoreError("internal: tail append before the origin")
        n0 = self.n
        n1 = n0 + len(times)
        for path, vals in (("time", times), ("data", values)):
            arr = self._arr(path)
            arr.resize((n1,))
            arr[n0:n1] = vals
        prev_last = int(self.attrs["last_ns"]) if n0 else None
        self.attrs["last_ns"] = int(times[-1])
        self._pending_n = n1
        self._update_pyramid(times, values, n0)
        self.segments = extend_segments(self.segments, times, prev_last, self.gap_ns)

    def _update_pyramid(self, times: np.ndarray, values: np.ndarray, n0: int) -> None:
        """Recompute the buckets from the one holding times[0] to the end, every level."""
        n1 = n0 + len(times)
        last = int(times[-1])
        levels = 1
        while (last - self.origin_ns) // self.width_ns(levels) + 1 > TOP_LEVEL_MAX:
            levels += 1
        t_from = int(times[0])
        prev_min = prev_max = prev_start = None
        prev_b = 0
        for k in range(1, levels + 1):
            w = self.width_ns(k)
            nb = (last - self.origin_ns) // w + 1
            grp = self.group.require_group(f"pyramid/{k}")
            arrays = {}
            for key in ("min", "max", "start"):
                if key in grp:
                    arrays[key] = grp[key]
                else:
                    arrays[key] = grp.create_array(key, shape=(0,),
                                                   **irregular_array(key, self.dtype))
            built = k > self.levels  # a new level is built whole from the finer one
            old_nb = int(arrays["min"].shape[0]) if not built else 0
            b_from = 0 if built else min((t_from - self.origin_ns) // w, old_nb)
            if k == 1:
                if b_from * w + self.origin_ns < t_from and n0:
                    # the first bucket touched holds stored samples: read them back
                    i_from = int(arrays["start"][b_from]) if b_from < old_nb else n0
                    i_from = min(i_from, n0)
                    t_old = native(self._arr("time")[i_from:n0])
                    v_old = native(self._arr("data")[i_from:n0])
                    t_all = np.concatenate([t_old, times])
                    v_all = np.concatenate([v_old, values])
                else:
                    i_from, t_all, v_all = n0, times, values
                    if built and n0:
                        i_from = 0
                        t_all = native(self._arr("time")[:n1])
                        v_all = native(self._arr("data")[:n1])
                mn, mx, st = _level_from_raw(t_all, v_all, i_from, self.origin_ns, w,
                                             b_from, nb, self.dtype)
            else:
                f = self.factor
                c_from = b_from * f
                lo_min, lo_max, lo_start = prev_min, prev_max, prev_start
                if c_from < prev_b:  # finer buckets before the recomputed ones: read back
                    g = self.group[f"pyramid/{k - 1}"]
                    lo_min = np.concatenate([native(g["min"][c_from:prev_b]), prev_min])
                    lo_max = np.concatenate([native(g["max"][c_from:prev_b]), prev_max])
                    lo_start = np.concatenate([native(g["start"][c_from:prev_b]),
                                               prev_start])
                else:
                    skip = c_from - prev_b
                    lo_min, lo_max, lo_start = prev_min[skip:], prev_max[skip:], \
                        prev_start[skip:]
                mn, mx, st = _level_from_finer(lo_min, lo_max, lo_start, f, nb - b_from,
                                               self.dtype)
            for key, vals in (("min", mn), ("max", mx), ("start", st)):
                arr = arrays[key]
                if arr.shape[0] != nb:
                    arr.resize((nb,))
                arr[b_from:nb] = vals
            prev_min, prev_max, prev_start, prev_b = mn, mx, st, b_from
        self.levels = max(self.levels, levels)
        self.attrs["pyramid"] = {"factor": self.factor, "levels": self.levels, "by": "time"}

    def _rebuild(self, times: np.ndarray, values: np.ndarray) -> None:
        """Rewrite the whole stream (backfill, interleaved times) in a temporary group that
        replaces it when complete, so an interruption leaves the stream as it was."""
        tmp = self.name + TMP_SUFFIX
        if tmp in self.store.root:
            del self.store.root[tmp]
        keep = {k: v for k, v in self.attrs.items()
                if k not in ("belvedere", "n", "origin_ns", "segments", "pyramid", "last_ns",
                             "first_ns")}
        origin = min(self.origin_ns, day_start_ns(int(times[0])))
        new = _create(self.store, tmp, origin, self.base_ns, self.dtype, keep)
        new.attrs["origin_ns"] = new.origin_ns = origin
        new.attrs["stream"] = self.name
        new._append_tail(times, values)
        new.commit()
        backend.swap_group(self.store.zarr_store, tmp, self.name, OLD_SUFFIX)
        self.group = self.store.root[self.name]
        self._load_attrs()
        self._pending_n = self.n

    def commit(self, provenance: list[dict] | None = None,
               conflicts: list[dict] | None = None) -> None:
        """Publish `n`, the segments and provenance in one attribute write: the commit point."""
        self.store.changing()
        attrs = dict(self.attrs)
        n = getattr(self, "_pending_n", self.n)
        t = self._arr("time")
        if n:
            attrs["first_ns"] = int(t[0])
            attrs["last_ns"] = int(attrs.get("last_ns") or t[n - 1])
        attrs["n"] = int(n)
        previous = attrs.get("segments")
        store_segments(self.group, attrs, self.segments)
        if provenance:
            attrs["provenance"] = list(attrs.get("provenance", [])) + provenance
        if conflicts:
            attrs["conflicts"] = list(attrs.get("conflicts", [])) + conflicts
        self.group.attrs.put(attrs)
        prune_segment_arrays(self.group, attrs, previous)
        self.attrs = attrs
        self._pending_n = int(n)
        segments = self.segments
        self._load_attrs()
        self.segments = segments  # as committed: no need to read them back

    def update_attrs(self, extra: dict[str, Any]) -> None:
        """Set metadata attributes without touching samples or segments."""
        self.store.changing()
        self.group.attrs.update(extra)
        self.attrs.update(extra)


def _eq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        return (a == b) | (np.isnan(a) & np.isnan(b))
    return a == b


def _level_from_raw(t: np.ndarray, v: np.ndarray, i_from: int, origin: int, w: int,
                    b_from: int, nb: int, dtype: np.dtype
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min, max and start index of buckets [b_from, nb) from raw samples (indices from
    `i_from`) that cover those buckets from their first sample."""
    size = nb - b_from
    bid = (t - origin) // w - b_from
    keep = bid >= 0
    bid, vv = bid[keep], v[keep]
    off = int(np.argmax(keep)) if len(keep) and keep.any() else len(t)
    edges = np.arange(size, dtype=np.int64)
    st = i_from + off + np.searchsorted(bid, edges, "left").astype(np.int64)
    mn, mx = pyramid.minmax_by_bucket(bid, vv, size, dtype)
    return mn, mx, st


def _level_from_finer(fmin: np.ndarray, fmax: np.ndarray, fstart: np.ndarray, f: int,
                      size: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Buckets of a level from the `f` finer buckets under each (fill where all empty)."""
    fill = fill_value_for(dtype)
    pad = size * f - len(fmin)
    if pad > 0:
        fmin = np.concatenate([fmin, np.full(pad, fill, dtype=dtype)])
        fmax = np.concatenate([fmax, np.full(pad, fill, dtype=dtype)])
    mn, mx = pyramid.next_level(fmin[:size * f], fmax[:size * f], f, dtype)
    st = fstart[::f][:size]
    return mn, mx, st.astype(np.int64)


def open_stream(store: Store, name: str) -> IrregularStream:
    """Open an irregular stream for reading."""
    return IrregularStream(store, name, store.root[name])


def open_writer(store: Store, name: str) -> IrregularWriter:
    """Open an existing irregular stream for writing."""
    store.writable()
    return IrregularWriter(store, name, store.root[name])
