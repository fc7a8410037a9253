"""Regular streams: samples on a fixed grid from the stream's `start`, read and written.

A regular stream group holds `data` (the samples, fill where absent), `time` (the grid's
times, for xarray), `pyramid/<k>/min|max` (buckets of PYRAMID_FACTOR**k samples) and the
`segments` attribute, written last by `StreamWriter.commit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from pipelines.store import _zarrio, backend, pyramid
from pipelines.store._zarrio import native, read_region, write_region, write_regions
from pipelines.store.base import StreamBase
from pipelines.store.errors import StoreError
from pipelines.store.layout import (
    DATA_CHUNK,
    DATA_SHARD,
    DEFAULT_SNAP_TOLERANCE,
    GAP_CLUSTER,
    OLD_SUFFIX,
    PYRAMID_CHUNK,
    PYRAMID_FACTOR,
    PYRAMID_SHARD,
    STREAM_KIND,
    TMP_SUFFIX,
    TOP_LEVEL_MAX,
    aligned_origin,
    check_layout_version,
    fill_value_for,
    stream_array,
    stream_marker,
)
from pipelines.store.segments import (
    mask_of,
    merge_segments,
    prune_segment_arrays,
    runs_of,
    store_segments,
)
from pipelines.timebase import NS, TIME_MIN_NS, day_start_ns, utc_iso

if TYPE_CHECKING:
    from pipelines.store.store import Store


@dataclass(frozen=True)
class Window:
    """What a view needs for one time window: envelopes or raw samples on a regular grid.

    `t0_ns + i * step_ns` is the start of bucket (or sample) i; `lo`/`hi` are its min and
    max (equal at the raw level), NaN where no sample was present.
    """

    stream: str
    level: int  # 0 = raw samples, k = buckets of PYRAMID_FACTOR**k samples
    t0_ns: int
    step_ns: float
    lo: np.ndarray
    hi: np.ndarray

    @property
    def times_ns(self) -> np.ndarray:
        """Start time of each bucket as int64 nanoseconds."""
        return self.t0_ns + np.round(np.arange(len(self.lo)) * self.step_ns).astype(np.int64)

    @property
    def is_raw(self) -> bool:
        """True when the window holds the actual samples."""
        return self.level == 0


class Stream(StreamBase):
    """One regular stream (a channel epoch) of a store, opened for reading: samples on the
    grid `start_ns + i * period_ns`, fill where absent."""

    kind = "regular"
    summary_keys = ("network", "station", "location", "channel", "units", "coordinates",
                    "instrument", "sensitivity", "epoch")

    def _load_attrs(self) -> None:
        attrs = dict(self.group.attrs)
        check_layout_version(attrs.get("belvedere", {}), f"stream {self.name!r}")
        self.attrs: dict[str, Any] = attrs
        self.sampling_rate = float(attrs["sampling_rate"])
        self.start_ns = int(attrs["start_ns"])
        self.period_ns = period_ns(self.sampling_rate)
        self.dtype = np.dtype(attrs["dtype"])
        self._set_stored_segments(attrs.get("segments", []))
        pyr = attrs.get("pyramid", {})
        self.factor = int(pyr.get("factor", PYRAMID_FACTOR))
        self.levels = int(pyr.get("levels", 0))

    # -- geometry -------------------------------------------------------------------------
    def index_of(self, t_ns: int | float) -> float:
        """Fractional sample index of a time on this stream's grid."""
        return (t_ns - self.start_ns) / self.period_ns

    def time_of(self, index: int | np.ndarray) -> int | np.ndarray:
        """Time in int64 nanoseconds of sample index (or indices) on the grid."""
        if float(self.period_ns).is_integer():
            return self.start_ns + np.asarray(index, dtype=np.int64) * int(self.period_ns)
        return self.start_ns + np.round(np.asarray(index, dtype=np.float64) * self.period_ns
                                        ).astype(np.int64)

    def grid_times(self, i0: int, i1: int) -> np.ndarray:
        """Times (int64 ns) of grid indices [i0, i1); NaT (int64 minimum) where they would
        run past int64 nanoseconds (the grid's padding beyond a low-rate stream's data)."""
        idx = np.arange(i0, i1, dtype=np.int64)
        limit = int((_INT64_MAX - self.start_ns) // self.period_ns) - 1
        ok = idx <= limit
        out = np.full(len(idx), _NAT, dtype=np.int64)
        out[ok] = self.time_of(idx[ok])
        return out

    @property
    def data(self) -> zarr.Array:
        """The raw sample array (fill value where absent)."""
        return self.group["data"]

    @property
    def length(self) -> int:
        """Number of samples on the grid so far (present or not)."""
        return int(self.data.shape[0])

    @property
    def n_samples(self) -> int:
        """Number of samples actually present."""
        seg = self.segment_indices()
        return int((seg[:, 1] - seg[:, 0]).sum()) if len(seg) else 0

    def segment_indices(self) -> np.ndarray:
        """Segments as [i0, i1) sample indices on the grid (computed once per segment list:
        every presence test of a write uses them)."""
        seg = self.segments
        cached = self._segment_idx
        if cached is not None and cached[0] is seg:
            return cached[1]
        if not len(seg):
            idx = np.zeros((0, 2), dtype=np.int64)
        else:
            idx = np.round((seg - self.start_ns) / self.period_ns).astype(np.int64)
        self._segment_idx = (seg, idx)
        return idx

    def present_mask(self, i0: int, i1: int) -> np.ndarray:
        """Boolean mask of the samples in [i0, i1) that are present per the segment list."""
        return mask_of(self.segment_indices(), i0, i1)

    # -- reading --------------------------------------------------------------------------
    def read_raw(self, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray]:
        """Samples [i0, i1) clipped to the grid, with their presence mask."""
        i0, i1 = max(i0, 0), min(i1, self.length)
        if i1 <= i0:
            return np.zeros(0, dtype=self.dtype), np.zeros(0, dtype=bool)
        return native(_read_settled(self.data, i0, i1)), self.present_mask(i0, i1)

    def read_segments(self, t0_ns: int | None = None, t1_ns: int | None = None
                      ) -> list[tuple[int, np.ndarray]]:
        """The present samples in [t0, t1) as (start_ns, values) per contiguous run, exact dtype.

        Only the segments that overlap the window are looked at, so the cost is that of
        what is returned whatever the window and the number of segments.

        Parameters
        ----------
        t0_ns, t1_ns : int or None
            The window in int64 ns since 1970 (UTC); None: from the first or to the last sample.

        Returns
        -------
        list of (int, numpy.ndarray)
            Per contiguous run of present samples, the time of its first sample (ns) and its
            samples in the stream's own dtype and native byte order.
        """
        out = []
        seg = self.segment_indices()
        lo_i = -math.inf if t0_ns is None else math.ceil(self.index_of(t0_ns) - 1e-9)
        hi_i = math.inf if t1_ns is None else math.ceil(self.index_of(t1_ns) - 1e-9)
        j0 = 0 if t0_ns is None else int(np.searchsorted(seg[:, 1], lo_i, side="right"))
        j1 = len(seg) if t1_ns is None else int(np.searchsorted(seg[:, 0], hi_i, side="left"))
        for a, b in seg[j0:j1]:
            a2, b2 = int(max(a, lo_i)), int(min(b, hi_i))
            if b2 > a2:
                out.append((int(self.time_of(a2)), native(_read_settled(self.data, a2, b2))))
        return out

    def choose_level(self, t0_ns: int, t1_ns: int, max_points: int) -> int:
        """The coarsest level that still gives at least one bucket per point (0 = raw).

        Levels beyond the stored ones are computed on read from the coarsest stored level
        (`read_window`), so any window, however long, is read at screen resolution.
        """
        samples = max((t1_ns - t0_ns) / self.period_ns, 1.0)
        per_point = samples / max(max_points, 1)
        if per_point < self.factor:
            return 0
        return int(math.floor(math.log(per_point, self.factor) + 1e-9))

    def data_end(self) -> int:
        """Grid index one past the last present sample (0 when empty)."""
        seg = self.segment_indices()
        return int(seg[-1, 1]) if len(seg) else 0

    def read_window(self, t0_ns: int, t1_ns: int, max_points: int = 2000,
                    level: int | None = None) -> Window:
        """Read [t0, t1) at screen resolution: at most ~max_points*factor values, never more.

        The cost is bounded by what is returned, for any window: the window is clipped to
        the stream's grid up to its last sample, and a level coarser than the stored ones
        is computed from the coarsest stored level (at most `TOP_LEVEL_MAX` buckets).

        Parameters
        ----------
        t0_ns, t1_ns : int
            The window in int64 ns since 1970 (UTC); any values, even far outside the data.
        max_points : int
            The points the view has room for (its width in pixels); the coarsest pyramid
            level that still gives at least one bucket per point is read.
        level : int or None
            Read this level instead (0: raw samples); the cost is then the window's length
            in buckets of that level (clipped to the stream), which the caller bounds.

        Returns
        -------
        Window
            Bucket starts `t0_ns + i * step_ns` with their min (`lo`) and max (`hi`) as
            float64, NaN where no sample is present; `lo is hi` at the raw level. Only the
            buckets between the stream's start and its last sample are returned (none when
            the window does not meet the stream).
        """
        if level is None:
            level = self.choose_level(t0_ns, t1_ns, max_points)
        level = max(int(level), 0)
        f = self.factor
        bucket = f**level
        step = self.period_ns * bucket
        i0 = math.floor(self.index_of(t0_ns) / bucket)
        i1 = math.ceil(self.index_of(t1_ns) / bucket)
        end = self.data_end()  # never past the grid's length (no array lookup needed)
        a, b = max(i0, 0), min(i1, -(-end // bucket))
        if b <= a:
            empty = np.zeros(0)
            t0 = int(self.time_of(a * bucket)) if a * bucket < end else self.start_ns
            return Window(self.name, level, t0, step, empty, empty)
        stored = min(level, self.levels)
        r = f ** (level - stored)  # stored buckets per bucket read
        lo, hi = self._read_level(stored, a * r, b * r)
        if not len(lo):
            return Window(self.name, level, int(self.time_of(a * bucket)), step, lo, lo)
        if r > 1:
            lo, hi = pyramid.coarsen(lo, r, np.fmin), pyramid.coarsen(hi, r, np.fmax)
        if level == 0:
            hi = lo
        return Window(self.name, level, int(self.time_of(a * bucket)), step, lo, hi)

    def _read_level(self, level: int, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Min and max (float64, NaN where absent) of stored level `level` over [a, b),
        cut at the level's length (fewer values then, never an allocation beyond it)."""
        if level == 0:
            vals, mask = self.read_raw(a, min(b, self.data_end()))
            lo = vals.astype(np.float64)
            lo[~mask] = np.nan
            return lo, lo
        grp = self.group[f"pyramid/{level}"]
        amin, amax = grp["min"], grp["max"]  # each lookup reads zarr.json: once each
        # Levels are allocated in whole shards ahead of the data: stop at its last bucket.
        e = min(b, amin.shape[0], -(-self.data_end() // self.factor**level))
        lo = np.full(max(e - a, 0), np.nan)
        hi = np.full(max(e - a, 0), np.nan)
        if e > a:
            mn = _read_settled(amin, a, e)
            mx = _read_settled(amax, a, e)
            empty = pyramid.is_fill(mn, self.dtype)
            mn = mn.astype(np.float64)
            mx = mx.astype(np.float64)
            mn[empty] = np.nan
            mx[empty] = np.nan
            lo[:e - a] = mn
            hi[:e - a] = mx
        return lo, hi

    def to_xarray(self):
        """The stream as a lazy xarray DataArray with a lazy time coordinate.

        Returns
        -------
        xarray.DataArray
            The `data` array along `time` (datetime64[ns]); absent samples are the fill
            value (NaN once xarray masks it), nothing is read until asked for.
        """
        import dask.array as dsa
        import xarray as xr

        from pipelines.store.lazy import dask_array

        # From the group already open (consolidated metadata when `open_datatree` opened it).
        arr = self.data
        state = (self.store.url, self.name, self.start_ns, self.segments[-1:].tolist())
        data = dask_array(arr, *state)
        # The coordinate is computed from the grid (lazily, chunk by chunk): the stored one
        # is not written across gaps (see `layout.TIME_CHUNKS`).
        n, tc = self.length, int(self.group["time"].chunks[0])
        def block(block_info=None):
            (c0, c1), = block_info[None]["array-location"]
            return self.grid_times(c0, c1).view("datetime64[ns]")

        times = dsa.map_blocks(block, dtype="datetime64[ns]", chunks=(_split(n, tc),),
                               name=data.name.replace("belvedere-", "belvedere-time-"))
        # No index: building one would compute every time of the grid.
        coords = xr.Coordinates({"time": ("time", times)}, indexes={})
        return xr.DataArray(data, dims=("time",), coords=coords, name="data",
                            attrs=dict(arr.attrs))


def period_ns(sampling_rate: float) -> float:
    """The sample period in ns: an integer when it is one but for float rounding (1e-5 Hz
    gives 99999999999999.98, whose products with large indices would be 16 ns off)."""
    p = NS / float(sampling_rate)
    r = round(p)
    return float(r) if r and abs(p - r) <= 1e-12 * p else p


def _read_settled(arr: zarr.Array, a: int, b: int) -> np.ndarray:
    """`arr[a:b]`, read once more if it failed: zarr reads a shard's index, then the chunks
    it points to, and an ingest may replace that shard (by rename) in between, when it
    appends to it. A second failure is a real one and is raised."""
    try:
        return arr[a:b]
    except Exception:
        return arr[a:b]


def create_regular(store: Store, name: str, sampling_rate: float, start_ns: int,
                   dtype: np.dtype, attrs: dict[str, Any]) -> StreamWriter:
    """Create a regular stream whose grid starts at `start_ns`; its writer."""
    dtype = np.dtype(dtype)
    full = {
        "belvedere": stream_marker(STREAM_KIND),
        "stream": name,
        "sampling_rate": float(sampling_rate),
        "start_ns": int(start_ns),
        "start": utc_iso(start_ns),
        "dtype": str(dtype),
        "units": "counts",
        "snap_tolerance": DEFAULT_SNAP_TOLERANCE,
        "pyramid": {"factor": PYRAMID_FACTOR, "levels": 0, "chunk": PYRAMID_CHUNK},
        "segments": [],
        "provenance": [],
        "conflicts": [],
        **attrs,
    }
    # The first pyramid levels come along (sized for the first ~2**24 samples), so that the
    # first file's pyramid needs no round trip of its own.
    pc = PYRAMID_SHARD  # whole shards: the levels then seldom grow (a metadata write each)
    levels = {f"{name}/pyramid/{k}/{key}":
              ("pyramid", dtype, -(-(2**24 // PYRAMID_FACTOR**k) // pc) * pc, None)
              for k in range(1, 5) for key in ("min", "max")}
    data_attrs = {"long_name": attrs.get("stream", name), "units": attrs.get("units", "counts")}
    made = _zarrio.create_nodes(store.root, {name: full},
                                {f"{name}/data": ("data", dtype, 0, data_attrs),
                                 f"{name}/time": ("time", dtype, 0, None), **levels})
    w = StreamWriter(store, name, made[name])
    w._arrays.update(data=made[f"{name}/data"], time=made[f"{name}/time"])
    w._arrays.update({path.split("/", 1)[1]: made[path] for path in levels})
    return w


class StreamWriter(Stream):
    """A stream opened for writing: samples, pyramid, then the commit of segments last."""

    def _load_attrs(self) -> None:
        super()._load_attrs()
        self._arrays: dict[str, zarr.Array] = {}  # opened once: each open reads zarr.json
        self._chunks: dict[str, dict[int, np.ndarray]] = {}  # see `write_region`
        self._level1: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # see `_chunk_written`
        self._pending_attrs: dict[str, Any] = {}  # written by the next `commit`

    def _cache(self, path: str) -> dict[int, np.ndarray]:
        return self._chunks.setdefault(path, {})

    def _array(self, path: str) -> zarr.Array:
        arr = self._arrays.get(path)
        if arr is None:
            arr = self._arrays[path] = self.group[path]
        return arr

    @property
    def data(self) -> zarr.Array:
        """The raw sample array (fill value where absent)."""
        return self._array("data")

    def _grow(self, n: int) -> None:
        """Lengthen the grid to hold index n (metadata only: no chunk is written)."""
        new = int(math.ceil(n / DATA_CHUNK) * DATA_CHUNK)
        _zarrio.grow_arrays([(self.data, new), (self._array("time"), new)])

    def _write_time(self, i0: int, i1: int) -> None:
        """Write the time-coordinate chunks that samples [i0, i1) fall in and that hold no
        present sample yet (so were not written): a gap of any length costs no chunk."""
        tarr = self._array("time")
        tc = int(tarr.chunks[0])
        todo = [k for k in range(i0 // tc, -(-i1 // tc))
                if not self.present_any(k * tc, (k + 1) * tc)]
        for k0, k1 in _ranges(todo):
            if _zarrio.write_time_chunks(tarr, self.start_ns, self.period_ns, k0, k1):
                continue
            for k in range(k0, k1):  # one chunk at a time: bounded memory
                c0, c1 = k * tc, min((k + 1) * tc, self.length)
                tarr[c0:c1] = self.grid_times(c0, c1)

    def write(self, i0: int, values: np.ndarray) -> None:
        """Write samples at grid index i0 (extending the grid); invisible until `commit`.

        Parameters
        ----------
        i0 : int
            Grid index of the first sample (`index_of` gives it for a time); never negative
            (`rebase` moves the origin back first).
        values : numpy.ndarray
            The samples, cast to the stream's dtype.
        """
        if i0 < 0:
            raise StoreError(f"write before the start of stream {self.name}; rebase first")
        self.store.changing()
        i1 = i0 + len(values)
        if i1 > self.length:
            self._grow(i1)
        self._write_time(i0, i1)
        write_region(self.data, i0, values.astype(self.dtype, copy=False),
                     absent=lambda a, b: not self.present_any(a, b), cache=self._cache("data"),
                     on_chunk=self._chunk_written)
        # Pending until commit; the pyramid update needs to see these samples as present.
        self.segments = merge_segments(self.segments, [(int(self.time_of(i0)),
                                                        int(self.time_of(i1)))])

    def _chunk_written(self, k: int, chunk: np.ndarray, whole: bool) -> None:
        """Level-1 min/max of a data chunk just encoded, computed while it is in the cache;
        `update_pyramid` uses them where the chunk's samples are all present."""
        f = self.factor
        if whole and f > 1 and f & (f - 1) == 0 and len(chunk) % f == 0:
            self._level1[k] = pyramid.minmax_pow2(chunk, f)
        else:
            self._level1.pop(k, None)

    def _level1_minmax(self, a: int, b: int, pieces: list[tuple[int, np.ndarray]]
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Level 1 over raw [a, b): from `_chunk_written` where it can, else from the raw
        samples (`_raw_values`), so whole chunks need neither their samples nor a copy."""
        f, c = self.factor, int(self.data.chunks[0])
        cached = sorted(k for k in self._level1
                        if a <= k * c and (k + 1) * c <= b and self.present_all(k * c, (k + 1) * c))
        if not cached or c % f or a % f:
            self._level1.clear()
            return self._raw_minmax(a, b, pieces)
        nb = math.ceil((b - a) / f)
        mn, mx = np.empty(nb, dtype=self.dtype), np.empty(nb, dtype=self.dtype)
        pos = a
        for k in [*cached, None]:
            end = b if k is None else k * c
            if end > pos:
                m1, m2 = self._raw_minmax(pos, end, pieces)
                o = (pos - a) // f
                mn[o:o + len(m1)], mx[o:o + len(m2)] = m1, m2
            if k is not None:
                m1, m2 = self._level1[k]
                o = (k * c - a) // f
                mn[o:o + len(m1)], mx[o:o + len(m2)] = m1, m2
                pos = (k + 1) * c
        self._level1.clear()
        return mn, mx

    def _raw_minmax(self, a: int, b: int, pieces: list[tuple[int, np.ndarray]]
                    ) -> tuple[np.ndarray, np.ndarray]:
        mask = None if self.present_all(a, b) else self.present_mask(a, b)
        return pyramid.bucket_minmax(self._raw_values(a, b, pieces), mask, self.factor, self.dtype)

    def _raw_values(self, a: int, b: int, pieces: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """The stored samples [a, b): from `pieces` ((start index, samples) just written, later
        ones win), read back only where present samples are not in them, fill elsewhere."""
        over = [(s, v) for s, v in pieces if s < b and s + len(v) > a]
        if len(over) == 1 and over[0][0] <= a and b <= over[0][0] + len(over[0][1]):
            s, v = over[0]
            return v[a - s:b - s]  # the common case: a view, no copy
        buf = np.full(b - a, fill_value_for(self.dtype), dtype=self.dtype)
        covered = np.zeros(b - a, dtype=bool)
        for s, v in over:
            lo, hi = max(s, a), min(s + len(v), b)
            buf[lo - a:hi - a] = v[lo - s:hi - s]
            covered[lo - a:hi - a] = True
        if not covered.all():
            for r0, r1 in runs_of(self.present_mask(a, b) & ~covered):
                buf[r0:r1] = read_region(self.data, a + r0, a + r1, self._cache("data"))
        return buf

    def present_any(self, i0: int, i1: int) -> bool:
        """True when any sample in [i0, i1) is present per the segment list."""
        if i1 <= i0 or not len(self.segments):
            return False
        seg = self.segment_indices()
        j = np.searchsorted(seg[:, 1], i0, side="right")
        return bool(j < len(seg) and seg[j, 0] < i1)

    def present_all(self, i0: int, i1: int) -> bool:
        """True when every sample in [i0, i1) is present (one segment covers them)."""
        if i1 <= i0:
            return True
        if not len(self.segments):
            return False
        seg = self.segment_indices()
        j = np.searchsorted(seg[:, 1], i0, side="right")
        return bool(j < len(seg) and seg[j, 0] <= i0 and seg[j, 1] >= i1)

    def update_pyramid(self, i0: int, i1: int,
                       values: np.ndarray | list[tuple[int, np.ndarray]] | None = None) -> None:
        """Recompute every pyramid level over raw samples [i0, i1) (widened to bucket edges).

        `values`, when given, are the raw samples now stored at [i0, i1) (as just written), or
        the writes since the last update as (start index, samples): the levels are then
        computed from memory, and only samples they do not hold are read back from the
        store, and only where present. A change in the number of levels is published by the
        next `commit`.
        """
        n = self.length
        factor = self.factor
        levels = 1
        while math.ceil(n / factor**levels) > TOP_LEVEL_MAX:
            levels += 1
        lo_i, hi_i, n_prev = i0, i1, n
        pieces = [(i0, values)] if isinstance(values, np.ndarray) else list(values or [])
        # Level k-1 over [mem_lo, mem_hi), in memory (from level 2 on: level 1 is computed).
        mem, mem_lo, mem_hi = None, i0, i0
        need = [k for k in range(self.levels + 1, levels + 1) if not self._has_level(k)]
        if need:  # one level ahead too: the stream is likely to keep growing
            self._create_levels(need + ([] if self._has_level(levels + 1) else [levels + 1]), n)
        arrays = {}
        for k in range(1, levels + 1):
            size = math.ceil(n / factor**k)
            try:
                amin, amax = self._array(f"pyramid/{k}/min"), self._array(f"pyramid/{k}/max")
            except KeyError:
                grp = self.group.require_group(f"pyramid/{k}")
                amin, amax = (grp.create_array(key, shape=(size,),
                                               **stream_array("pyramid", self.dtype))
                              for key in ("min", "max"))
                self._arrays[f"pyramid/{k}/min"], self._arrays[f"pyramid/{k}/max"] = amin, amax
            arrays[k] = (amin, amax)
        # Whole chunks: the levels then grow (a metadata write each) only now and then.
        _zarrio.grow_arrays([(a, _zarrio.whole_chunks(a, math.ceil(n / factor**k)))
                      for k, pair in arrays.items() for a in pair])
        # Every level is computed from the finer one in memory (edges read back from chunks
        # the writes below leave unchanged there), then all are written in one go.
        regions: list[tuple] = []
        later: list[tuple[int, list[tuple[int, int]], int]] = []
        for k in range(1, levels + 1):
            size = math.ceil(n / factor**k)
            amin, amax = arrays[k]
            if self.levels < k and k > 1:
                # A new level is built whole from the finer one: over the touched range
                # here, then over the rest after the writes below, each run of samples on
                # its own (`_build_level`), so a gap of any length costs nothing.
                lo_i, hi_i, rest = self._present_around(k - 1, lo_i, hi_i, n_prev)
                later.append((k, rest, n_prev))
            b0, b1 = lo_i // factor, math.ceil(hi_i / factor)
            a, b = b0 * factor, min(b1 * factor, n_prev)
            span = factor ** (k - 1)  # raw samples per bucket of level k-1
            if k == 1:
                mn, mx = self._level1_minmax(a, b, pieces)
            else:
                pmin = self._assemble(f"pyramid/{k - 1}/min", a, b, mem_lo, mem_hi,
                                      mem and mem[0], span)
                pmax = self._assemble(f"pyramid/{k - 1}/max", a, b, mem_lo, mem_hi,
                                      mem and mem[1], span)
                mn, mx = pyramid.next_level(pmin, pmax, factor, self.dtype)
            bucket = factor**k

            def absent(a: int, b: int, bucket: int = bucket) -> bool:
                return not self.present_any(a * bucket, b * bucket)

            regions += [(amin, b0, mn, absent, self._cache(f"pyramid/{k}/min")),
                        (amax, b0, mx, absent, self._cache(f"pyramid/{k}/max"))]
            mem, mem_lo, mem_hi = (mn, mx), b0, b0 + len(mn)
            lo_i, hi_i, n_prev = b0, b0 + len(mn), size
        write_regions(regions)
        for k, rest, n_finer in later:
            self._build_level(k, rest, n_finer, arrays[k])
        self.levels = max(levels, self.levels)
        pyr = {"factor": factor, "levels": self.levels, "chunk": int(arrays[1][0].chunks[0])}
        if self.group.attrs.get("pyramid") != pyr:
            self._pending_attrs["pyramid"] = pyr  # published by `commit`, with the segments

    def _present_around(self, j: int, lo: int, hi: int, n_j: int
                        ) -> tuple[int, int, list[tuple[int, int]]]:
        """Buckets [lo, hi) of level j (the touched ones), and the runs of buckets of level j
        holding present samples that are not wholly inside them (runs joined across gaps
        under a chunk of buckets), within [0, n_j): a new level k = j + 1 is computed over
        [lo, hi) from memory, then rebuilt over those runs from level j as stored."""
        span = self.factor**j
        seg = self.segment_indices()
        runs = clusters(seg[:, 0] // span, -(-seg[:, 1] // span), PYRAMID_CHUNK)
        rest = [(max(r0, 0), min(r1, n_j)) for r0, r1 in runs]
        return lo, hi, [(a, b) for a, b in rest if b > a and not (lo <= a and b <= hi)]

    def _build_level(self, k: int, runs: list[tuple[int, int]], n_finer: int,
                     pair: tuple[zarr.Array, zarr.Array]) -> None:
        """Level k over `runs` (buckets of level k-1) from level k-1 as stored."""
        f, bucket = self.factor, self.factor**k
        amin, amax = pair

        def absent(a: int, b: int) -> bool:
            return not self.present_any(a * bucket, b * bucket)

        for r0, r1 in runs:
            b0, b1 = r0 // f, -(-r1 // f)
            a, b = b0 * f, min(b1 * f, n_finer)
            pmin = read_region(self._array(f"pyramid/{k - 1}/min"), a, b,
                               self._cache(f"pyramid/{k - 1}/min"))
            pmax = read_region(self._array(f"pyramid/{k - 1}/max"), a, b,
                               self._cache(f"pyramid/{k - 1}/max"))
            mn, mx = pyramid.next_level(pmin, pmax, f, self.dtype)
            write_regions([(amin, b0, mn, absent, self._cache(f"pyramid/{k}/min")),
                           (amax, b0, mx, absent, self._cache(f"pyramid/{k}/max"))])

    def _has_level(self, k: int) -> bool:
        try:
            self._array(f"pyramid/{k}/min")
            self._array(f"pyramid/{k}/max")
        except KeyError:
            return False
        return True

    def _create_levels(self, ks: list[int], n: int) -> None:
        """Create the arrays of pyramid levels `ks` in one concurrent write.

        A level whose arrays exist but that the `pyramid` attribute does not count yet is
        built whole from the finer level when it is first needed."""
        if not ks:
            return
        c = PYRAMID_SHARD
        nodes = {f"pyramid/{k}/{key}":
                 ("pyramid", self.dtype, -(-math.ceil(n / self.factor**k) // c) * c, None)
                 for k in ks for key in ("min", "max")}
        try:
            made = _zarrio.create_nodes(self.group, {}, nodes, direct=False)
        except Exception:  # e.g. left over by an interrupted run: open or create one by one
            return
        for path in nodes:
            self._arrays[path] = made[path]

    def _assemble(self, path: str, a: int, b: int, lo: int, hi: int,
                  mem: np.ndarray | None, span: int) -> np.ndarray:
        """Values [a, b) of array `path`, taking [lo, hi) from `mem` when given; the rest is
        read only where it covers present samples (`span` raw samples per value)."""
        arr, cache = self._array(path), self._cache(path)
        if mem is None or lo >= b or hi <= a:
            return read_region(arr, a, b, cache)
        parts = []
        fill = fill_value_for(self.dtype)
        for p0, p1 in ((a, lo), (hi, b)):
            if p1 <= p0:
                parts.append(None)
            elif self.present_any(p0 * span, p1 * span):
                parts.append(read_region(arr, p0, p1, cache))
            else:
                parts.append(np.full(p1 - p0, fill, dtype=self.dtype))
        inner = mem[max(a, lo) - lo:min(b, hi) - lo]
        if parts[0] is None and parts[1] is None:
            return inner
        return np.concatenate([p for p in (parts[0], inner, parts[1]) if p is not None])

    def commit(self, provenance: list[dict] | None = None, conflicts: list[dict] | None = None,
               extra: dict | None = None) -> None:
        """Publish the segment list (plus provenance) in one attribute write: the commit point.

        Parameters
        ----------
        provenance : list of dict, optional
            Records of the files just written (appended to the stream's `provenance`).
        conflicts : list of dict, optional
            Samples that disagreed with stored ones (appended to `conflicts`).
        extra : dict, optional
            Further attributes to set in the same write.
        """
        self.store.changing()
        attrs = dict(self.group.attrs)
        previous = attrs.get("segments")
        store_segments(self.group, attrs, self.segments)
        if provenance:
            attrs["provenance"] = list(attrs.get("provenance", [])) + provenance
        if conflicts:
            attrs["conflicts"] = list(attrs.get("conflicts", [])) + conflicts
        attrs.update(self._pending_attrs)
        if extra:
            attrs.update(extra)
        # One put of zarr.json, atomic (temp file + rename) on a local store.
        _zarrio.put_group_attrs(self.group, attrs)
        prune_segment_arrays(self.group, attrs, previous)
        self.attrs = attrs
        self._segments_attr = attrs["segments"]
        self._pending_attrs.clear()

    def update_attrs(self, extra: dict[str, Any]) -> None:
        """Set metadata attributes (coordinates, instrument...) without touching segments."""
        self.store.changing()
        self.group.attrs.update(extra)
        self.attrs.update(extra)

    def rebase(self, first_ns: int) -> StreamWriter:
        """Move the grid origin back before `first_ns`, rewriting the stream safely.

        The origin moves back by at least a tenth of the stream's length, so backfilling day
        by day costs amortised O(n). The rewrite goes to a temporary group that replaces the
        stream only when complete, so an interrupted rebase leaves the old stream intact.
        """
        tmp_name = self.name + TMP_SUFFIX
        if tmp_name in self.store.root:
            del self.store.root[tmp_name]
        period = self.period_ns
        seg = self.segment_indices()
        extent = int(seg[-1, 1]) if len(seg) else 0  # the data, not the grid's padding
        target = min(day_start_ns(first_ns),
                     day_start_ns(int(self.start_ns - 0.1 * extent * period)))
        target = max(target, min(day_start_ns(first_ns), TIME_MIN_NS))
        new_start = aligned_origin(self.start_ns, target, period)
        shift = int(round((self.start_ns - new_start) / period))
        attrs = {k: v for k, v in self.attrs.items()
                 if k not in ("start_ns", "start", "segments", "pyramid", "belvedere")}
        new = create_regular(self.store, tmp_name, self.sampling_rate, new_start,
                                   self.dtype, attrs)
        new.group.attrs["stream"] = self.name
        if len(seg):
            end = int(seg[-1, 1])
            new._grow(end + shift)
            # Only the shards that hold samples: a gap of any length is not copied.
            shards = sorted({c for a, b in seg for c in range(a // DATA_SHARD * DATA_SHARD,
                                                               int(b), DATA_SHARD)})
            for c0 in shards:  # whole shards where the shift allows
                c1 = min(c0 + DATA_SHARD, end)
                write_region(new.data, c0 + shift, native(self.data[c0:c1]),
                             cache=new._cache("data"))
            for a, b in seg:
                new._write_time(int(a) + shift, int(b) + shift)
            new.segments = self.segments
            for a, b in clusters(seg[:, 0], seg[:, 1], GAP_CLUSTER):
                new.update_pyramid(a + shift, b + shift)
        new.segments = self.segments
        new.commit()
        backend.swap_group(self.store.zarr_store, tmp_name, self.name, OLD_SUFFIX)
        return self.store.writer(self.name)


_INT64_MAX = int(np.iinfo(np.int64).max)
_NAT = int(np.iinfo(np.int64).min)


def _ranges(ks: list[int]) -> list[tuple[int, int]]:
    """Sorted integers as [k0, k1) runs of consecutive values."""
    out: list[tuple[int, int]] = []
    for k in ks:
        if out and out[-1][1] == k:
            out[-1] = (out[-1][0], k + 1)
        else:
            out.append((k, k + 1))
    return out


def clusters(starts: np.ndarray, ends: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Sorted disjoint [start, end) runs joined where less than `gap` apart, as runs."""
    if not len(starts):
        return []
    cut = np.flatnonzero(starts[1:] - ends[:-1] > gap)
    firsts = np.concatenate([[0], cut + 1])
    lasts = np.concatenate([cut, [len(starts) - 1]])
    return [(int(starts[a]), int(ends[b])) for a, b in zip(firsts, lasts, strict=True)]


def _split(n: int, c: int) -> tuple[int, ...]:
    """Chunk lengths of n items in chunks of c."""
    return tuple([c] * (n // c) + ([n % c] if n % c else [])) or (0,)

