"""The store layout (version 1): the one module that knows how streams sit in Zarr.

Pipelines write through `Store`/`StreamWriter`; the dashboard reads through `Store`/`Stream`.
See DESIGN.md ("Store layout") for the contract this module implements.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import posixpath
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec, ZstdCodec
from zarr.codecs.numcodecs import Delta

from pipelines import __version__
from pipelines.timebase import NS, day_start_ns, utc_iso

LAYOUT_VERSION = 1
PYRAMID_FACTOR = 16
# Chunk lengths of new streams (the first layout had 2**18 samples, 2**18 times and 2**16
# buckets, unsharded, with keys "c/<k>"; such streams keep theirs). A new file costs ~0.3-0.8
# ms to create on a local ext4 disk (more when many were deleted shortly before), more than
# encoding 1 MB of samples, so chunks sit in shards (zarr's sharding codec): one file holds
# 16 data chunks or 8 pyramid chunks, and a reader still decodes only the chunks it needs.
# Beyond 2**19 samples (2 MB of int32) encoding slows down (out of cache), and raw-level
# reads, which decode whole chunks, would cost more.
DATA_CHUNK = 2**19  # samples per chunk
DATA_SHARD = 2**23  # samples per file
TIME_CHUNK = 2**22  # times: ~3 KB stored each, 32 MB when xarray decodes one
PYRAMID_CHUNK = 2**18  # buckets per chunk at every level
PYRAMID_SHARD = 2**21  # buckets per file
TOP_LEVEL_MAX = 4096  # the coarsest level holds at most this many buckets
# "c.<k>" keys: no folder of chunks per array (a folder costs as much as a file to create).
CHUNK_KEYS = {"name": "default", "separator": "."}
DEFAULT_SNAP_TOLERANCE = 0.25  # fraction of a sample
CATALOG_GROUP = "_catalog"

warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3")

# The first codec of data and pyramid arrays (streams written before still use it): delta +
# bitshuffle + zstd level 1 stores int32 counts at ~0.99x their Steim2 size.
_COMPRESSOR = BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")
# The raw samples of new streams (delta first): 128 KiB blocks encode ~25% faster than the
# default 32 KiB and decode faster too. With them, zstd level 1 encodes as fast as blosc
# level 2 (zstd 3) and stores real records smaller: ObsPy's ref_STS2 at 1.03x its Steim2
# size (1.09x at level 2), ref_unknown at 0.98x (1.20x); the benchmark's synthetic counts
# at 1.03x either way. Streams written before keep their codec (zarr reads it per array).
_DATA_COMPRESSOR = BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle", blocksize=2**17)
# Pyramid levels of new streams: delta (integers) + bitshuffle + lz4 encodes min/max buckets
# ~2.5x faster than zstd and decodes faster for every view, for ~9% more pyramid bytes.
_PYRAMID_COMPRESSOR = BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")
# The time coordinate, delta-encoded, is one value then a constant step: plain zstd stores a
# chunk of 2**20 times in ~200 bytes, and `_write_time_chunks` encodes it without zarr's
# pipeline (no arange, no diff), which made the coordinate ~20x cheaper to write.
_TIME_COMPRESSOR = ZstdCodec(level=1)


def _pyramid_array_kwargs(dtype: np.dtype) -> dict[str, Any]:
    """How new pyramid arrays (`pyramid/<k>/min|max`) are created."""
    dtype = np.dtype(dtype)
    return {"chunks": (PYRAMID_CHUNK,), "shards": (PYRAMID_SHARD,),
            "chunk_key_encoding": CHUNK_KEYS, "dtype": dtype, "fill_value": fill_value_for(dtype),
            "filters": [Delta(dtype=str(dtype))] if dtype.kind in "iu" else None,
            "compressors": [_PYRAMID_COMPRESSOR], "dimension_names": ("bucket",)}


class StoreError(Exception):
    """A store cannot be opened or used as asked; the message says what to do."""


class StoreVersionError(StoreError):
    """The store was written by a newer layout version than this program understands."""


class UnknownStreamError(StoreError, KeyError):
    """A stream name that the store does not hold."""

    def __str__(self) -> str:
        return str(self.args[0])


def fs_call(zstore: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call a filesystem method of a remote store: zarr's FsspecStore holds an asynchronous
    filesystem bound to zarr's event loop, whose blocking methods fail outside that loop."""
    fs = zstore.fs
    if getattr(fs, "asynchronous", False):
        from zarr.core.sync import sync

        return sync(getattr(fs, "_" + method)(*args, **kwargs))
    return getattr(fs, method)(*args, **kwargs)


def check_layout_version(meta: dict[str, Any], what: str) -> None:
    """Refuse anything written by a newer layout version than this program understands."""
    version = int(meta.get("layout_version", 0))
    if version > LAYOUT_VERSION:
        raise StoreVersionError(
            f"{what} was written with layout version {version}, newer than version "
            f"{LAYOUT_VERSION} that this belvedere ({__version__}) understands; upgrade "
            "belvedere (pip install -U belvedere) to read it; nothing was changed")


def fill_value_for(dtype: np.dtype) -> int | float:
    """The fill value marking absent samples for a dtype (NaN for floats, the minimum for ints)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return float("nan")
    if dtype.kind in "iu":
        return int(np.iinfo(dtype).min)
    raise StoreError(f"unsupported sample dtype {dtype}; expected integers or floats")


def aligned_origin(first_ns: int, target_ns: int, period_ns: float) -> int:
    """The grid time at or before `target_ns` that lies on the grid through `first_ns`."""
    # Integer arithmetic: float64 cannot hold epoch nanoseconds exactly.
    diff = int(first_ns) - int(target_ns)
    if float(period_ns).is_integer():
        p = int(period_ns)
        return int(first_ns) - (-(-diff // p)) * p
    return int(first_ns) - int(round(math.ceil(diff / period_ns) * period_ns))


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


class StreamBase:
    """What regular and irregular streams share: their group, its attributes (`_load_attrs`
    sets `segments`, `dtype`, `sampling_rate`, `levels` and `n_samples` comes from the
    kind), the span, the gaps and the summary."""

    summary_kind: dict[str, str] = {}  # first keys of `summary` after the name
    summary_keys: tuple[str, ...] = ()  # attributes copied into `summary` when present

    def __init__(self, store: Store, name: str, group: zarr.Group):
        self.store = store
        self.name = name
        self.group = group
        self._load_attrs()

    def _load_attrs(self) -> None:
        raise NotImplementedError

    @property
    def span_ns(self) -> tuple[int, int] | None:
        """[first sample, one past the last sample) in ns, or None when empty."""
        if not len(self.segments):
            return None
        return int(self.segments[0, 0]), int(self.segments[-1, 1])

    def gaps(self) -> np.ndarray:
        """The gaps between segments as (N, 2) int64 ns [start, end)."""
        if len(self.segments) < 2:
            return np.zeros((0, 2), dtype=np.int64)
        return np.stack([self.segments[:-1, 1], self.segments[1:, 0]], axis=1)

    def nbytes_stored(self) -> int:
        """Bytes this stream occupies in the store (compressed data, time, pyramid, metadata)."""
        return self.store._du(self.name)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description: span, samples, gaps, rate, metadata."""
        span = self.span_ns
        gaps = self.gaps()
        return {
            "stream": self.name,
            **self.summary_kind,
            "sampling_rate": self.sampling_rate,
            "dtype": str(self.dtype),
            "start": utc_iso(span[0]) if span else None,
            "end": utc_iso(span[1]) if span else None,
            "samples": self.n_samples,
            "segments": int(len(self.segments)),
            "gaps": int(len(gaps)),
            "gap_seconds": float((gaps[:, 1] - gaps[:, 0]).sum() / NS) if len(gaps) else 0.0,
            "pyramid_levels": self.levels,
            **{k: self.attrs[k] for k in self.summary_keys if k in self.attrs},
            "conflicts": len(self.attrs.get("conflicts", [])),
            "files": len(self.attrs.get("provenance", [])),
        }


class Stream(StreamBase):
    """One stream (a channel epoch) of a store, opened for reading."""

    summary_keys = ("network", "station", "location", "channel", "units", "coordinates",
                    "instrument", "sensitivity", "epoch")

    def _load_attrs(self) -> None:
        attrs = dict(self.group.attrs)
        check_layout_version(attrs.get("belvedere", {}), f"stream {self.name!r}")
        self.attrs: dict[str, Any] = attrs
        self.sampling_rate = float(attrs["sampling_rate"])
        self.start_ns = int(attrs["start_ns"])
        self.period_ns = NS / self.sampling_rate
        self.dtype = np.dtype(attrs["dtype"])
        self.segments = np.asarray(attrs.get("segments", []), dtype=np.int64).reshape(-1, 2)
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
        if not len(self.segments):
            return 0
        return int(sum(self._segment_indices(s, e)[1] - self._segment_indices(s, e)[0]
                       for s, e in self.segments))

    def _segment_indices(self, s_ns: int, e_ns: int) -> tuple[int, int]:
        return int(round(self.index_of(s_ns))), int(round(self.index_of(e_ns)))

    def segment_indices(self) -> np.ndarray:
        """Segments as [i0, i1) sample indices on the grid."""
        if not len(self.segments):
            return np.zeros((0, 2), dtype=np.int64)
        return np.round((self.segments - self.start_ns) / self.period_ns).astype(np.int64)

    def present_mask(self, i0: int, i1: int) -> np.ndarray:
        """Boolean mask of the samples in [i0, i1) that are present per the segment list."""
        mask = np.zeros(max(i1 - i0, 0), dtype=bool)
        seg = self.segment_indices()
        if not len(seg) or i1 <= i0:
            return mask
        lo = np.searchsorted(seg[:, 1], i0, side="right")
        hi = np.searchsorted(seg[:, 0], i1, side="left")
        for a, b in seg[lo:hi]:
            mask[max(a, i0) - i0:min(b, i1) - i0] = True
        return mask

    # -- reading --------------------------------------------------------------------------
    def read_raw(self, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray]:
        """Samples [i0, i1) clipped to the grid, with their presence mask."""
        i0, i1 = max(i0, 0), min(i1, self.length)
        if i1 <= i0:
            return np.zeros(0, dtype=self.dtype), np.zeros(0, dtype=bool)
        return _native(_read_settled(self.data, i0, i1)), self.present_mask(i0, i1)

    def read_segments(self, t0_ns: int | None = None, t1_ns: int | None = None
                      ) -> list[tuple[int, np.ndarray]]:
        """The present samples in [t0, t1) as (start_ns, values) per contiguous run, exact dtype."""
        out = []
        seg = self.segment_indices()
        lo_i = -math.inf if t0_ns is None else math.ceil(self.index_of(t0_ns) - 1e-9)
        hi_i = math.inf if t1_ns is None else math.ceil(self.index_of(t1_ns) - 1e-9)
        for a, b in seg:
            a2, b2 = int(max(a, lo_i)), int(min(b, hi_i))
            if b2 > a2:
                out.append((int(self.time_of(a2)), _native(_read_settled(self.data, a2, b2))))
        return out

    def choose_level(self, t0_ns: int, t1_ns: int, max_points: int) -> int:
        """The coarsest level that still gives at least one bucket per point (0 = raw)."""
        samples = max((t1_ns - t0_ns) / self.period_ns, 1.0)
        per_point = samples / max(max_points, 1)
        if per_point < self.factor:
            return 0
        return int(min(math.floor(math.log(per_point, self.factor) + 1e-9), self.levels))

    def read_window(self, t0_ns: int, t1_ns: int, max_points: int = 2000,
                    level: int | None = None) -> Window:
        """Read [t0, t1) at screen resolution: at most ~max_points*factor values, never more."""
        if level is None:
            level = self.choose_level(t0_ns, t1_ns, max_points)
        bucket = self.factor**level
        i0 = math.floor(self.index_of(t0_ns) / bucket)
        i1 = math.ceil(self.index_of(t1_ns) / bucket)
        step = self.period_ns * bucket
        if level == 0:
            n = self.length
            a, b = max(i0, 0), min(max(i1, 0), n)
            lo = np.full(max(i1 - i0, 0), np.nan)
            if b > a:
                vals, mask = self.read_raw(a, b)
                chunk = vals.astype(np.float64)
                chunk[~mask] = np.nan
                lo[a - i0:b - i0] = chunk
            return Window(self.name, 0, int(self.time_of(i0)), step, lo, lo)
        grp = self.group[f"pyramid/{level}"]
        n = grp["min"].shape[0]
        a, b = max(i0, 0), min(max(i1, 0), n)
        lo = np.full(max(i1 - i0, 0), np.nan)
        hi = np.full(max(i1 - i0, 0), np.nan)
        if b > a:
            mn = _read_settled(grp["min"], a, b)
            mx = _read_settled(grp["max"], a, b)
            empty = _is_fill(mn, self.dtype)
            mn = mn.astype(np.float64)
            mx = mx.astype(np.float64)
            mn[empty] = np.nan
            mx[empty] = np.nan
            lo[a - i0:b - i0] = mn
            hi[a - i0:b - i0] = mx
        return Window(self.name, level, int(self.time_of(i0 * bucket)), step, lo, hi)

    def to_xarray(self):
        """The stream as a lazy xarray DataArray with a lazy time coordinate."""
        import xarray as xr

        ds = xr.open_zarr(self.store.zarr_store, group=self.name, create_default_indexes=False,
                          consolidated=False)
        return ds["data"]


def _read_settled(arr: zarr.Array, a: int, b: int) -> np.ndarray:
    """`arr[a:b]`, read once more if it failed: zarr reads a shard's index, then the chunks
    it points to, and an ingest may replace that shard (by rename) in between, when it
    appends to it. A second failure is a real one and is raised."""
    try:
        return arr[a:b]
    except Exception:
        return arr[a:b]


def _native(values: np.ndarray) -> np.ndarray:
    """The array in native byte order: zarr returns '<i4', which ObsPy's Steim2 writer rejects."""
    if values.dtype.byteorder == "=" or not values.dtype.isnative:
        return values if values.dtype.isnative else values.astype(values.dtype.newbyteorder("="))
    return values.view(np.dtype(values.dtype.name))


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """[a, b) index runs where mask is True."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.view(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(),
                    strict=True))


def _is_fill(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return np.isnan(values)
    return values == fill_value_for(dtype)


class Store:
    """A Belvedere store: one Zarr v3 group, one child group per stream."""

    def __init__(self, url: str, mode: str = "r", storage_options: dict | None = None):
        self.url = str(url)
        self.mode = mode
        self.storage_options = storage_options or {}
        self.zarr_store = self._make_zarr_store(self.url, mode == "r")
        try:
            self.root = zarr.open_group(self.zarr_store, mode="r" if mode == "r" else "a",
                                        zarr_format=3)
        except FileNotFoundError as exc:
            raise StoreError(
                f"no store at {self.url}; create one with `belvedere ingest ... --store {self.url}`"
            ) from exc
        except Exception as exc:  # zarr raises several types for "not a zarr v3 group"
            raise StoreError(f"{self.url} is not a readable Belvedere store: {exc}") from exc
        meta = dict(self.root.attrs).get("belvedere")
        if meta is None:
            if mode == "r":
                raise StoreError(f"{self.url} is a Zarr group but not a Belvedere store "
                                 "(no 'belvedere' attributes)")
            if list(self.root.keys()):
                raise StoreError(f"{self.url} already holds a Zarr group that is not a "
                                 "Belvedere store; choose another --store")
            meta = {"layout_version": LAYOUT_VERSION, "created_by": f"belvedere {__version__}",
                    "created_at": utc_iso(time.time_ns())}
            self.root.attrs["belvedere"] = meta
        check_layout_version(meta, f"store {self.url}")
        self.meta = meta

    @staticmethod
    def _make_zarr_store(url: str, read_only: bool):
        if "://" in url and not url.startswith("file://"):
            return zarr.storage.FsspecStore.from_url(url, read_only=read_only)
        path = url.removeprefix("file://")
        if read_only:
            if not os.path.isdir(path):
                raise StoreError(f"no store at {path}: the folder does not exist")
        return zarr.storage.LocalStore(path, read_only=read_only)

    # -- listing --------------------------------------------------------------------------
    def streams(self) -> list[str]:
        """Names of the streams in the store, sorted."""
        return sorted(k for k in self.root.group_keys()
                      if not k.startswith("_") and not k.endswith(_TMP_SUFFIX))

    def _streams_named(self, wanted) -> list[str]:
        """The streams whose names satisfy `wanted(name)`, sorted: lists the store's top level
        and opens only those, where `streams()` opens every member (slow on big stores)."""
        from zarr.core.sync import sync

        zs, base = self.zarr_store, self.root.path

        async def names() -> list[str]:
            return [k async for k in zs.list_dir(base)]

        out = []
        for name in sync(names()):
            if name.startswith("_") or name.endswith(_TMP_SUFFIX) or not wanted(name):
                continue
            try:
                if isinstance(self.root[name], zarr.Group):
                    out.append(name)
            except KeyError:
                continue
        return sorted(out)

    def __contains__(self, name: str) -> bool:
        return name in self.streams()

    def __iter__(self) -> Iterator[Stream]:
        for name in self.streams():
            yield self[name]

    def __getitem__(self, name: str) -> Stream:
        try:
            group = self.root[name]
        except KeyError:
            raise UnknownStreamError(
                f"no stream {name!r} in store {self.url}; `belvedere info {self.url}` lists them"
            ) from None
        if dict(group.attrs.get("belvedere") or {}).get("kind") == "irregular":
            from pipelines.irregular import IrregularStream  # explicit timestamps (issue 5)

            return IrregularStream(self, name, group)
        return Stream(self, name, group)

    def select(self, patterns: str | list[str]) -> list[str]:
        """Stream names matching comma-separated or listed wildcards (`BV.*.00.HH?`)."""
        import fnmatch

        if isinstance(patterns, str):
            patterns = [p for p in patterns.split(",") if p.strip()]
        names = self.streams()
        out = []
        for pat in patterns:
            matched = [n for n in names if fnmatch.fnmatchcase(n, pat.strip())]
            if not matched:
                raise UnknownStreamError(f"no stream matches {pat.strip()!r} in store {self.url}")
            out.extend(m for m in matched if m not in out)
        return out

    def events(self) -> list[dict[str, Any]]:
        """The store's earthquake catalogue (time_ns, latitude, longitude, depth, magnitude)."""
        if CATALOG_GROUP not in self.root.group_keys():
            return []
        return list(self.root[CATALOG_GROUP].attrs.get("events", []))

    def nbytes(self) -> int:
        """Bytes the whole store occupies."""
        return self._du("")

    def _du(self, prefix: str) -> int:
        zs = self.zarr_store
        if isinstance(zs, zarr.storage.LocalStore):
            top = os.path.join(str(zs.root), prefix)
            return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(top)
                       for f in fs)
        return int(fs_call(zs, "du", posixpath.join(zs.path, prefix)))

    # -- writing --------------------------------------------------------------------------
    def writable(self) -> None:
        """Raise unless the store was opened for writing."""
        if self.mode == "r":
            raise StoreError(f"store {self.url} is open read-only")

    def set_events(self, events: list[dict[str, Any]]) -> int:
        """Merge events into the catalogue by id; returns how many were new."""
        self.writable()
        current = {e["id"]: e for e in self.events()}
        new = sum(1 for e in events if e["id"] not in current)
        current.update({e["id"]: e for e in events})
        grp = self.root.require_group(CATALOG_GROUP)
        grp.attrs["events"] = sorted(current.values(), key=lambda e: e["time_ns"])
        return new

    def writer(self, name: str) -> StreamWriter:
        """A writer for an existing stream."""
        self.writable()
        return StreamWriter(self, name, self.root[name])

    def create_stream(self, name: str, sampling_rate: float, first_ns: int, dtype: np.dtype,
                      attrs: dict[str, Any]) -> StreamWriter:
        """Create a stream whose grid starts on the UTC day of `first_ns`, through `first_ns`."""
        self.writable()
        if name in self.root:
            raise StoreError(f"stream {name!r} already exists in {self.url}")
        start_ns = aligned_origin(first_ns, day_start_ns(first_ns), NS / sampling_rate)
        return _create_stream_group(self, name, sampling_rate, start_ns, dtype, attrs)


_TMP_SUFFIX = ".rebase-tmp"


def _create_stream_group(store: Store, name: str, sampling_rate: float, start_ns: int,
                         dtype: np.dtype, attrs: dict[str, Any]) -> StreamWriter:
    dtype = np.dtype(dtype)
    data_meta = _template_metadata("data", dtype).update_attributes(
        {"long_name": attrs.get("stream", name), "units": attrs.get("units", "counts")})
    full = {
        "belvedere": {"layout_version": LAYOUT_VERSION, "kind": "stream",
                      "written_by": f"belvedere {__version__}"},
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
    from zarr.core.group import GroupMetadata

    # One concurrent write of the three nodes (zarr.json each) instead of one round trip
    # per node and per attribute.
    # The first pyramid levels come along (sized for the first ~2**24 samples), so that the
    # first file's pyramid needs no round trip of its own.
    pyr = _template_metadata("pyramid", dtype)
    pc = PYRAMID_SHARD  # whole shards: the levels then seldom grow (a metadata write each)
    levels = {f"{name}/pyramid/{k}/{key}":
              pyr.update_shape((-(-(2**24 // PYRAMID_FACTOR**k) // pc) * pc,))
              for k in range(1, 5) for key in ("min", "max")}
    nodes = {name: GroupMetadata(attributes=full, zarr_format=3),
             f"{name}/data": data_meta, f"{name}/time": _template_metadata("time", dtype),
             **levels}
    made = _create_nodes_local(store.root, nodes)
    if made is None:
        made = dict(store.root.create_hierarchy(nodes))
    w = StreamWriter(store, name, made[name])
    w._arrays.update(data=made[f"{name}/data"], time=made[f"{name}/time"])
    w._arrays.update({path.split("/", 1)[1]: made[path] for path in levels})
    return w


def _save_metadata_local(node: Any, metadata: Any) -> bool:
    """Write a node's zarr.json straight to a local store (temporary file + rename, as
    LocalStore does), without a round trip through zarr's event loop (~1-5 ms each, a
    sizeable part of a file's ingest); False when the store is not local."""
    base = _local_dir(node)
    if base is None:
        return False
    from zarr.core.buffer import default_buffer_prototype

    for key, buf in metadata.to_buffer_dict(default_buffer_prototype()).items():
        _write_local(base, key, buf.to_bytes())
    return True


def _create_nodes_local(root: zarr.Group, nodes: dict[str, Any]) -> dict[str, Any] | None:
    """`root.create_hierarchy(nodes)` for a new subtree of a local store, written directly:
    the missing intermediate groups and the arrays first, the top group's zarr.json last (a
    reader never sees the group without its arrays). None when the store is not local or
    the subtree's folder already exists (left over by an interrupted run): use zarr then."""
    from zarr.core.array import AsyncArray
    from zarr.core.group import AsyncGroup, GroupMetadata

    base = _local_dir(root)
    top = min(nodes, key=len)
    if base is None or os.path.exists(os.path.join(base, top)):
        return None
    full = dict(nodes)
    for path in nodes:
        parts = path.split("/")
        for i in range(1, len(parts)):
            full.setdefault("/".join(parts[:i]), GroupMetadata(zarr_format=3))
    made = {}
    for path in sorted(full, key=lambda p: (p == top, p)):
        meta = full[path]
        sp = root.store_path / path
        if isinstance(meta, GroupMetadata):
            node = zarr.Group(AsyncGroup(metadata=meta, store_path=sp))
        else:
            node = zarr.Array(AsyncArray(meta, sp))
        _save_metadata_local(node, meta)
        made[path] = node
    return made


_TEMPLATES: dict[tuple[str, str], Any] = {}


def _template_metadata(kind: str, dtype: np.dtype):
    """Zarr metadata (shape 0) of a stream's `data`, `time` or pyramid arrays for a dtype."""
    key = (kind, np.dtype(dtype).str)
    meta = _TEMPLATES.get(key)
    if meta is None:
        dtype = np.dtype(dtype)
        scratch = zarr.open_group(zarr.storage.MemoryStore(), mode="w", zarr_format=3)
        if kind == "data":
            filters = [Delta(dtype=str(dtype))] if dtype.kind in "iu" else None
            arr = scratch.create_array("a", shape=(0,), chunks=(DATA_CHUNK,), shards=(DATA_SHARD,),
                                       chunk_key_encoding=CHUNK_KEYS, dtype=dtype,
                                       fill_value=fill_value_for(dtype), filters=filters,
                                       compressors=[_DATA_COMPRESSOR], dimension_names=("time",))
        elif kind == "time":
            arr = scratch.create_array(
                "a", shape=(0,), chunks=(TIME_CHUNK,), chunk_key_encoding=CHUNK_KEYS, dtype="int64",
                fill_value=np.iinfo(np.int64).min, filters=[Delta(dtype="int64")],
                compressors=[_TIME_COMPRESSOR], dimension_names=("time",),
                attributes={"units": "nanoseconds since 1970-01-01T00:00:00",
                            "calendar": "proleptic_gregorian", "standard_name": "time"})
        else:
            arr = scratch.create_array("a", shape=(0,), **_pyramid_array_kwargs(dtype))
        meta = _TEMPLATES[key] = arr.metadata
    return meta


def merge_segments(segments: np.ndarray, new: list[tuple[int, int]]) -> np.ndarray:
    """Union of [start, end) spans; touching spans join."""
    allseg = np.concatenate([segments.reshape(-1, 2), np.asarray(new, dtype=np.int64
                                                                  ).reshape(-1, 2)])
    if not len(allseg):
        return allseg
    allseg = allseg[np.argsort(allseg[:, 0], kind="stable")]
    out = [list(allseg[0])]
    for s, e in allseg[1:]:
        if s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return np.asarray(out, dtype=np.int64)


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
        old = self.length
        new = int(math.ceil(n / DATA_CHUNK) * DATA_CHUNK)
        tarr = self._array("time")
        _grow_arrays([(self.data, new), (tarr, new)])
        if _write_time_chunks(self, tarr, old, new):
            return
        for c0 in range(old, new, DATA_CHUNK):  # bounded memory over long gaps
            tarr[c0:c0 + DATA_CHUNK] = self.time_of(np.arange(c0, c0 + DATA_CHUNK,
                                                              dtype=np.int64))

    def write(self, i0: int, values: np.ndarray) -> None:
        """Write samples at grid index i0 (extending the grid); invisible until `commit`."""
        if i0 < 0:
            raise StoreError(f"write before the start of stream {self.name}; rebase first")
        i1 = i0 + len(values)
        if i1 > self.length:
            self._grow(i1)
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
            self._level1[k] = _minmax_pow2(chunk, f)
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
        return _bucket_minmax(self._raw_values(a, b, pieces), mask, self.factor, self.dtype)

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
                                               **_pyramid_array_kwargs(self.dtype))
                              for key in ("min", "max"))
                self._arrays[f"pyramid/{k}/min"], self._arrays[f"pyramid/{k}/max"] = amin, amax
            arrays[k] = (amin, amax)
        # Whole chunks: the levels then grow (a metadata write each) only now and then.
        _grow_arrays([(a, _whole_chunks(a, math.ceil(n / factor**k)))
                      for k, pair in arrays.items() for a in pair])
        # Every level is computed from the finer one in memory (edges read back from chunks
        # the writes below leave unchanged there), then all are written in one go.
        regions: list[tuple] = []
        for k in range(1, levels + 1):
            size = math.ceil(n / factor**k)
            amin, amax = arrays[k]
            if self.levels < k and k > 1:
                lo_i, hi_i = 0, n_prev  # a new level is built whole from the finer one
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
                mask = ~_is_fill(pmin, self.dtype)
                if len(pmin) % factor == 0 and factor > 1 and factor & (factor - 1) == 0:
                    mn, mx = _level_minmax_pow2(pmin, pmax, mask, factor, self.dtype)
                else:
                    mn = _bucket_minmax(pmin, mask, factor, self.dtype)[0]
                    mx = _bucket_minmax(pmax, mask, factor, self.dtype)[1]
            bucket = factor**k

            def absent(a: int, b: int, bucket: int = bucket) -> bool:
                return not self.present_any(a * bucket, b * bucket)

            regions += [(amin, b0, mn, absent, self._cache(f"pyramid/{k}/min")),
                        (amax, b0, mx, absent, self._cache(f"pyramid/{k}/max"))]
            mem, mem_lo, mem_hi = (mn, mx), b0, b0 + len(mn)
            lo_i, hi_i, n_prev = b0, b0 + len(mn), size
        write_regions(regions)
        self.levels = max(levels, self.levels)
        pyr = {"factor": factor, "levels": self.levels, "chunk": int(arrays[1][0].chunks[0])}
        if self.group.attrs.get("pyramid") != pyr:
            self._pending_attrs["pyramid"] = pyr  # published by `commit`, with the segments

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
        meta = _template_metadata("pyramid", self.dtype)
        c = PYRAMID_SHARD
        nodes = {f"pyramid/{k}/{key}":
                 meta.update_shape((-(-math.ceil(n / self.factor**k) // c) * c,))
                 for k in ks for key in ("min", "max")}
        try:
            made = dict(self.group.create_hierarchy(nodes))
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
        """Publish the segment list (plus provenance) in one attribute write: the commit point."""
        attrs = dict(self.group.attrs)
        attrs["segments"] = [[int(s), int(e)] for s, e in self.segments]
        if provenance:
            attrs["provenance"] = list(attrs.get("provenance", [])) + provenance
        if conflicts:
            attrs["conflicts"] = list(attrs.get("conflicts", [])) + conflicts
        attrs.update(self._pending_attrs)
        if extra:
            attrs.update(extra)
        # One put of zarr.json, atomic (temp file + rename) on a local store.
        _put_group_attrs(self.group, attrs)
        self.attrs = attrs
        self._pending_attrs.clear()

    def update_attrs(self, extra: dict[str, Any]) -> None:
        """Set metadata attributes (coordinates, instrument...) without touching segments."""
        self.group.attrs.update(extra)
        self.attrs.update(extra)

    def rebase(self, first_ns: int) -> StreamWriter:
        """Move the grid origin back before `first_ns`, rewriting the stream safely.

        The origin moves back by at least a tenth of the stream's length, so backfilling day
        by day costs amortised O(n). The rewrite goes to a temporary group that replaces the
        stream only when complete, so an interrupted rebase leaves the old stream intact.
        """
        tmp_name = self.name + _TMP_SUFFIX
        if tmp_name in self.store.root:
            del self.store.root[tmp_name]
        period = self.period_ns
        target = min(day_start_ns(first_ns),
                     day_start_ns(int(self.start_ns - 0.1 * self.length * period)))
        new_start = aligned_origin(self.start_ns, target, period)
        shift = int(round((self.start_ns - new_start) / period))
        attrs = {k: v for k, v in self.attrs.items()
                 if k not in ("start_ns", "start", "segments", "pyramid", "belvedere")}
        new = _create_stream_group(self.store, tmp_name, self.sampling_rate, new_start,
                                   self.dtype, attrs)
        new.group.attrs["stream"] = self.name
        seg = self.segment_indices()
        if len(seg):
            end = int(seg[-1, 1])
            new._grow(end + shift)
            for c0 in range(0, end, DATA_SHARD):  # whole shards where the shift allows
                c1 = min(c0 + DATA_SHARD, end)
                write_region(new.data, c0 + shift, _native(self.data[c0:c1]),
                             cache=new._cache("data"))
            new.segments = self.segments
            new.update_pyramid(0, end + shift)
        new.segments = self.segments
        new.commit()
        _swap_groups(self.store, tmp_name, self.name)
        return self.store.writer(self.name)


def _put_group_attrs(group: zarr.Group, attrs: dict[str, Any]) -> None:
    """`group.attrs.put(attrs)`, written directly on a local store."""
    from dataclasses import replace

    meta = replace(group.metadata, attributes=dict(attrs))
    if _save_metadata_local(group, meta):
        object.__setattr__(group._async_group, "metadata", meta)
    else:
        group.attrs.put(attrs)


def _swap_groups(store: Store, tmp_name: str, name: str) -> None:
    swap_group(store.zarr_store, tmp_name, name, ".rebase-old")


def swap_group(zstore: Any, tmp_name: str, name: str, old_suffix: str = ".old") -> None:
    """Replace group `name` by the completed group `tmp_name` (two renames on a local store)."""
    if isinstance(zstore, zarr.storage.LocalStore):
        import shutil

        root = str(zstore.root)
        old = os.path.join(root, name + old_suffix)
        os.rename(os.path.join(root, name), old)
        os.rename(os.path.join(root, tmp_name), os.path.join(root, name))
        shutil.rmtree(old)
    else:
        base = zstore.path
        fs_call(zstore, "rm", posixpath.join(base, name), recursive=True)
        fs_call(zstore, "copy", posixpath.join(base, tmp_name), posixpath.join(base, name),
                recursive=True)
        fs_call(zstore, "rm", posixpath.join(base, tmp_name), recursive=True)


# Encoded time chunks by (first time, period, ...): the channels of a network usually share a
# day-aligned grid, so their time chunks are byte-identical; each is ~200 bytes.
_TIME_CHUNK_CACHE: dict[tuple, bytes] = {}
# Per encoding thread, the delta-encoded chunk template (a 32 MB int64 array): allocating and
# filling it anew on every call put fresh-page zeroing at ~5 % of an ingest's CPU (perf).
_TIME_TEMPLATE = threading.local()


def _write_time_chunks(w: StreamWriter, tarr: zarr.Array, old: int, new: int) -> bool:
    """Write the time chunks that start in [old, new), already encoded; False if not possible.

    Delta-encoded, chunk k of the coordinate is its first time followed by the constant
    period, so it is built from one template instead of computing and diffing every time.
    Works for integer-nanosecond periods and the codecs of `_create_stream_group`
    (Delta int64, little-endian bytes, zstd); anything else goes through zarr.
    """
    period = w.period_ns
    if not float(period).is_integer() or not _is_fast_time_array(tarr):
        return False
    tc = int(tarr.chunks[0])
    k0, k1 = -(-old // tc), -(-new // tc)
    if k1 <= k0:
        return True
    import numcodecs

    comp = tarr.compressors[0]
    codec = numcodecs.Zstd(level=comp.level, checksum=comp.checksum)
    step = int(period)

    def job(k: int) -> tuple[str, bytes]:
        first = w.start_ns + k * tc * step
        cache_key = (first, step, tc, comp.level, comp.checksum)
        blob = _TIME_CHUNK_CACHE.get(cache_key)
        if blob is None:
            template = getattr(_TIME_TEMPLATE, "array", None)
            if template is None or len(template) != tc or template[-1] != step:
                template = _TIME_TEMPLATE.array = np.full(tc, step, dtype="<i8")
            template[0] = first
            blob = codec.encode(template)
            if len(_TIME_CHUNK_CACHE) > 4096:
                _TIME_CHUNK_CACHE.clear()
            _TIME_CHUNK_CACHE[cache_key] = blob
        return tarr.metadata.encode_chunk_key((k,)), blob

    _run_chunk_jobs(tarr, job, k0, k1)
    return True


# -- writing whole chunks without zarr's codec pipeline ----------------------------------------
# zarr 3.1 spends ~2.5x the CPU of the codecs themselves on a large 1-D write (per-chunk
# asyncio tasks, buffer copies, a thread hop per codec). For arrays whose codecs are the plain
# chain this module creates (optional numcodecs array filters, little-endian bytes, blosc or
# zstd), chunks are encoded here, in parallel threads (the codecs release the GIL), with the
# same numcodecs objects zarr uses, and stored under the same keys (byte for byte what zarr
# writes; tests/test_ingest_pyramid.py checks it). Partial chunks are read back through zarr,
# merged here, and encoded like the others. Any other codec chain goes through zarr.
_POOL = None
_POOL_LOCK = threading.Lock()


def _pool():
    """The encoding threads (one per core). Their jobs must never wait on this pool."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            from concurrent.futures import ThreadPoolExecutor

            _POOL = ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 2),
                                       thread_name_prefix="belvedere-encode")
    return _POOL


def _sharding(arr: zarr.Array):
    """The array's sharding codec when it is sharded the way this module writes shards
    (index at the end, little-endian bytes + crc32c), else None."""
    from zarr.codecs import ShardingCodec

    codecs = arr.metadata.codecs
    if len(codecs) != 1 or not isinstance(codecs[0], ShardingCodec):
        return None
    sc = codecs[0]
    index = [c.to_dict() for c in sc.index_codecs]
    if (sc.index_location.value != "end" or len(sc.chunk_shape) != 1
            or index != [{"name": "bytes", "configuration": {"endian": "little"}},
                         {"name": "crc32c"}]):
        return None
    return sc


def _chunk_encoder(arr: zarr.Array):
    """A function chunk values -> encoded bytes equal to zarr's, or None for other codecs.

    For a sharded array in a local store, it encodes the shards' inner chunks (assembled
    into shard files by `_write_shard`); a sharded array elsewhere goes through zarr."""
    import numcodecs

    codecs = arr.metadata.codecs
    if any(c.to_dict()["name"] == "sharding_indexed" for c in codecs):
        sc = _sharding(arr)
        if sc is None or _local_dir(arr) is None:
            return None
        codecs = sc.codecs
    steps = []
    for c in codecs:
        d = c.to_dict()
        name, conf = d["name"], dict(d.get("configuration", {}))
        if name.startswith("numcodecs.") and not steps:  # array -> array filters come first
            codec = numcodecs.get_codec({"id": name.split(".", 1)[1], **conf})
            steps.append(("array", codec))
        elif name == "bytes":
            endian = "<" if conf.get("endian", "little") == "little" else ">"
            steps.append(("bytes", endian))
        elif name == "blosc":
            shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[conf["shuffle"]]
            cfg = {"cname": conf["cname"], "clevel": conf["clevel"], "shuffle": shuffle,
                   "blocksize": conf.get("blocksize", 0)}
            if "typesize" in conf:
                cfg["typesize"] = conf["typesize"]
            steps.append(("bb", numcodecs.Blosc.from_config(cfg)))
        elif name == "zstd":
            steps.append(("bb", numcodecs.Zstd(level=conf.get("level", 0),
                                                checksum=conf.get("checksum", False))))
        else:
            return None
    kinds = [k for k, _ in steps]
    if kinds.count("bytes") != 1 or any(k == "array" for k in kinds[kinds.index("bytes"):]):
        return None
    if not all(k == "bb" for k in kinds[kinds.index("bytes") + 1:]):
        return None
    dtype = arr.dtype

    def encode(values: np.ndarray) -> bytes:
        out = values
        for kind, codec in steps:
            if kind == "array" and _plain_delta(codec, dtype):
                out = _delta_into_buffer(out, dtype)
            elif kind == "array":
                out = np.asarray(codec.encode(out)).astype(dtype, copy=False)
            elif kind == "bytes":
                out = np.ascontiguousarray(out, dtype=dtype.newbyteorder(codec)).view(np.uint8)
            else:
                out = codec.encode(out)  # bytes from numcodecs' compressors: no copy
        return out.tobytes() if isinstance(out, np.ndarray) else bytes(out)

    return encode


# numcodecs' Delta computes np.diff into a temporary and copies it into a fresh array: for a
# 2 MB chunk two allocations (page faults) and a 2 MB copy. Its differences are computed here
# into a buffer each encoding thread keeps: the same bytes, and ~half the large memory copies
# of an ingest gone (perf: 434 of 837 MB copied per 1e8 samples were Delta's).
_DELTA_BUFFER = threading.local()


def _plain_delta(codec: Any, dtype: np.dtype) -> bool:
    """True for a numcodecs Delta on integers of the array's own dtype (wrapping arithmetic)."""
    return (type(codec).__name__ == "Delta" and dtype.kind in "iu"
            and np.dtype(codec.dtype) == dtype and np.dtype(codec.astype) == dtype)


def _delta_into_buffer(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """numcodecs `Delta(dtype).encode(values)`, into this thread's buffer (valid until the
    thread's next call)."""
    values = np.ascontiguousarray(values, dtype=dtype)
    buf = getattr(_DELTA_BUFFER, "array", None)
    if buf is None or buf.dtype != dtype or len(buf) < len(values):
        buf = _DELTA_BUFFER.array = np.empty(len(values), dtype=dtype)
    out = buf[:len(values)]
    if len(values):
        out[0] = values[0]
        np.subtract(values[1:], values[:-1], out=out[1:])
    return out


def _all_fill(values: np.ndarray, fill) -> bool:
    if isinstance(fill, float) and math.isnan(fill):
        return bool(np.isnan(values[0])) and bool(np.isnan(values).all())
    return bool(values[0] == fill) and bool((values == fill).all())


def _run_chunk_jobs(arr: zarr.Array, job, k0: int, k1: int) -> None:
    """Run `job(k) -> (key, encoded bytes or None)` for chunks [k0, k1); see `_run_jobs`."""
    _run_jobs([(arr, job, k) for k in range(k0, k1)])


def _run_jobs(jobs: list[tuple[zarr.Array, Any, int]]) -> None:
    """Run chunk jobs `(array, job, k)`, `job(k) -> (key, encoded bytes or None)`, in the
    thread pool and store the results: in a local store each thread writes its file directly
    (zarr's event loop and its thread hops cost more CPU than the writes), elsewhere through
    zarr. One round trip to the pool for many arrays (the pyramid's levels). The inner
    chunks of sharded arrays are gathered into their shards (`_write_shard`)."""
    bases = {id(arr): _local_dir(arr) for arr, _, _ in jobs}
    per_shard = {id(arr): _chunks_per_shard(arr) for arr, _, _ in jobs}

    def run(item):
        arr, job, k = item
        key, blob = job(k)
        base = bases[id(arr)]
        if per_shard[id(arr)]:
            return arr, k, blob
        if base is None:
            return arr, key, blob
        _write_local(base, key, blob)
        return None

    for b0 in range(0, len(jobs), 64):  # bounded memory for very long writes
        out = [r for r in _pool().map(run, jobs[b0:b0 + 64]) if r is not None]
        shards: dict[tuple[int, int], tuple[zarr.Array, dict[int, bytes | None]]] = {}
        by_array: dict[int, tuple[zarr.Array, list]] = {}
        for arr, key, blob in out:
            per = per_shard[id(arr)]
            if per:
                shards.setdefault((id(arr), key // per), (arr, {}))[1][key] = blob
            else:
                by_array.setdefault(id(arr), (arr, []))[1].append((key, blob))
        for arr, blobs in by_array.values():
            _put_chunks(arr, blobs)
        if shards:
            list(_pool().map(lambda job: _write_shard(bases[id(job[0])], *job),
                             [(arr, s, blobs) for (_, s), (arr, blobs) in shards.items()]))


def _chunks_per_shard(arr: zarr.Array) -> int | None:
    """Inner chunks per shard of a sharded array written here (local store), else None."""
    sc = _sharding(arr)
    if sc is None or _local_dir(arr) is None:
        return None
    return int(arr.metadata.chunk_grid.chunk_shape[0]) // int(sc.chunk_shape[0])


_NO_CHUNK = 2**64 - 1  # an absent inner chunk in a shard index (offset and length)


def _write_shard(base: str, arr: zarr.Array, s: int, blobs: dict[int, bytes | None]) -> None:
    """Write shard `s` of a local sharded array from its inner chunks `blobs` (chunk index
    -> encoded bytes, None: all fill); the inner chunks not in `blobs` keep their bytes from
    the shard file. Byte for byte what zarr's sharding codec writes (index at the end:
    (offset, length) uint64 pairs, little-endian, then their crc32c)."""
    per = _chunks_per_shard(arr)
    key = arr.metadata.encode_chunk_key((s,))
    k0 = s * per
    old: list[bytes | None] = [None] * per
    if any(k0 + j not in blobs for j in range(per)):
        old = _read_shard_local(os.path.join(base, key), per)
    index = np.full((per, 2), _NO_CHUNK, dtype="<u8")
    parts: list[bytes] = []
    pos = 0
    for j in range(per):
        blob = blobs[k0 + j] if k0 + j in blobs else old[j]
        if blob:
            index[j] = (pos, len(blob))
            parts.append(blob)
            pos += len(blob)
    if not parts:
        _write_local(base, key, None)
        return
    raw = index.tobytes()
    parts.append(raw + _crc32c(raw))
    _write_local(base, key, parts)


def _crc32c(raw: bytes) -> bytes:
    """The 4 bytes zarr's crc32c codec appends."""
    import google_crc32c

    return np.uint32(google_crc32c.value(raw)).astype("<u4").tobytes()


def _read_shard_local(path: str, per: int) -> list[bytes | None]:
    """The encoded inner chunks of a shard file (None where absent or no file)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return [None] * per
    n = per * 16 + 4
    if len(data) < n or _crc32c(data[-n:-4]) != data[-4:]:
        raise StoreError(f"shard {path} is damaged (its index does not check out); delete "
                         "the stream and ingest its files again")
    index = np.frombuffer(data[-n:-4], dtype="<u8").reshape(per, 2)
    out: list[bytes | None] = []
    for off, length in index:
        out.append(None if off == _NO_CHUNK else data[int(off):int(off) + int(length)])
    return out


def _local_dir(arr: zarr.Array) -> str | None:
    st = arr.store_path.store
    if isinstance(st, zarr.storage.LocalStore) and not st.read_only:
        return os.path.join(str(st.root), arr.store_path.path)
    return None


def _write_local(base: str, key: str, blob: bytes | list[bytes] | None) -> None:
    """Write one chunk file (bytes, or parts to concatenate) the way zarr's LocalStore does:
    a temporary file, then a rename, so a reader (or an interrupted ingest) never sees half
    a chunk."""
    path = os.path.join(base, key)
    if blob is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    tmp = f"{path}.{os.getpid()}-{threading.get_ident()}.partial"
    try:
        fh = open(tmp, "wb")
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fh = open(tmp, "wb")
    try:
        with fh:
            if isinstance(blob, list):
                fh.writelines(blob)
            else:
                fh.write(blob)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _put_chunks(arr: zarr.Array, blobs: list[tuple[str, bytes | None]]) -> None:
    """Store encoded chunks (None: delete the chunk, it is all fill) in one round trip."""
    import asyncio

    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    proto = default_buffer_prototype()
    sp = arr.store_path

    async def put():
        await asyncio.gather(*((sp / key).set(proto.buffer.from_bytes(blob)) if blob is not None
                               else (sp / key).delete() for key, blob in blobs))

    sync(put())


def write_region(arr: zarr.Array, i0: int, values: np.ndarray, absent=None,
                 cache: dict[int, np.ndarray] | None = None, on_chunk=None) -> None:
    """`arr[i0:i0 + len(values)] = values` for a 1-D array, chunks encoded in parallel.

    Chunks the region covers only in part are read back (through zarr), merged and encoded
    like the others, unless `absent(a, b)` says that everything else in them is absent (then
    it is written as fill); chunks left all fill are deleted, as zarr does. `cache`, owned by
    the array's only writer, keeps the decoded chunks at the ends of each write (where the
    next write usually starts), so they need not be read back. `on_chunk(k, values, whole)`
    is called in the encoding thread with each chunk's new content.
    """
    write_regions([(arr, i0, values, absent, cache, on_chunk)])


def write_regions(regions: list[tuple]) -> None:
    """`write_region(*r)` for each r, all chunks in one round trip to the encoding threads.
    The regions must not share chunks."""
    jobs, after = [], []
    for region in regions:
        prepared = _region_jobs(*region)
        if prepared is not None:
            jobs += prepared[0]
            after.append(prepared[1])
    _run_jobs(jobs)
    for done in after:
        done()


def _region_jobs(arr: zarr.Array, i0: int, values: np.ndarray, absent=None,
                 cache: dict[int, np.ndarray] | None = None, on_chunk=None):
    """The chunk jobs of one `write_region` and what to do after them (None: written)."""
    i1 = i0 + len(values)
    encode = _chunk_encoder(arr) if i1 > i0 else None
    if encode is None:
        if cache is not None:
            cache.clear()
        if on_chunk is not None:
            c = int(arr.chunks[0])
            for k in range(i0 // c, -(-i1 // c)):
                on_chunk(k, None, False)
        if i1 > i0:
            arr[i0:i1] = values
        return None
    c = int(arr.chunks[0])
    shape = int(arr.shape[0])
    fill = arr.fill_value
    fill = fill.item() if isinstance(fill, np.generic) else fill
    dtype = arr.dtype
    k0, k1 = i0 // c, -(-i1 // c)

    def job(k: int) -> tuple[str, bytes | None]:
        a, b = k * c, (k + 1) * c
        whole = i0 <= a and b <= i1
        if whole:
            chunk = values[a - i0:b - i0]
        else:
            lo, hi = max(a, i0), min(b, i1)
            cached = cache.get(k) if cache is not None else None
            if cached is not None:
                chunk = cached.copy()
            else:
                chunk = np.full(c, fill, dtype=dtype)
                if a < shape and (absent is None or not absent(a, lo)
                                  or not absent(hi, min(b, shape))):
                    existing = arr[a:min(b, shape)]
                    chunk[:len(existing)] = existing
            chunk[lo - a:hi - a] = values[lo - i0:hi - i0]
        if cache is not None and (k in cache or k in (k0, k1 - 1)):
            cache[k] = chunk if chunk.base is None else chunk.copy()  # never a caller's view
        key = arr.metadata.encode_chunk_key((k,))
        blob = None if _all_fill(chunk, fill) else encode(chunk)
        if on_chunk is not None:
            on_chunk(k, chunk, whole)
        return key, blob

    def done() -> None:  # keep the two ends of the latest write only
        if cache is not None:
            for k in [k for k in cache if k not in (k0, k1 - 1)]:
                del cache[k]

    return [(arr, job, k) for k in range(k0, k1)], done


def read_region(arr: zarr.Array, a: int, b: int,
                cache: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """`arr[a:b]` in native byte order, from `cache` (see `write_region`) when it holds it."""
    c = int(arr.chunks[0])
    if cache and b > a and a // c == (b - 1) // c and (a // c) in cache:
        k = a // c
        return cache[k][a - k * c:b - k * c]
    return _native(arr[a:b])


def _is_fast_time_array(tarr: zarr.Array) -> bool:
    codecs = [c.to_dict() for c in tarr.metadata.codecs]
    return (len(codecs) == 3 and codecs[0].get("configuration", {}).get("dtype") == "int64"
            and codecs[0]["name"].endswith("delta")
            and codecs[1] == {"name": "bytes", "configuration": {"endian": "little"}}
            and codecs[2]["name"] == "zstd" and tarr.dtype == np.dtype("int64"))


def _reduce_pow2(values: np.ndarray, factor: int, op) -> np.ndarray:
    """`op` (np.minimum or np.maximum) over each run of `factor` (a power of two) values."""
    out = op(values[0::2], values[1::2])
    f = factor // 2
    while f > 1:
        out = op(out[0::2], out[1::2])
        f //= 2
    return out


def _level_minmax_pow2(pmin: np.ndarray, pmax: np.ndarray, present: np.ndarray, factor: int,
                      dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The next pyramid level from the finer one (`present`: its non-empty buckets), by
    pairwise halving; `_bucket_minmax`'s result, without its 2-D masked reductions (which
    cost ~10x more). Runs of whole present groups take the plain halving; only the groups
    holding empty buckets (e.g. the fill past the end of a level) are masked."""
    if bool(present.all()):  # no empty bucket: only the needed halves
        return _reduce_pow2(pmin, factor, np.minimum), _reduce_pow2(pmax, factor, np.maximum)
    dtype = np.dtype(dtype)
    groups = present.reshape(-1, factor)
    full = groups.all(axis=1)
    runs = runs_of(full)
    if len(runs) > 64:  # gaps everywhere: one masked pass beats many small ones
        return _level_minmax_masked(pmin, pmax, present, factor, dtype)
    mn = np.empty(len(full), dtype=dtype)
    mx = np.empty(len(full), dtype=dtype)
    for r0, r1 in runs:
        mn[r0:r1] = _reduce_pow2(pmin[r0 * factor:r1 * factor], factor, np.minimum)
        mx[r0:r1] = _reduce_pow2(pmax[r0 * factor:r1 * factor], factor, np.maximum)
    part = np.flatnonzero(~full)
    if len(part):  # the groups holding empty buckets, by the masked reduction
        p = groups[part].ravel()
        mn[part] = _bucket_minmax(pmin.reshape(-1, factor)[part].ravel(), p, factor, dtype)[0]
        mx[part] = _bucket_minmax(pmax.reshape(-1, factor)[part].ravel(), p, factor, dtype)[1]
    return mn, mx


def _level_minmax_masked(pmin: np.ndarray, pmax: np.ndarray, present: np.ndarray, factor: int,
                         dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """`_level_minmax_pow2` for levels with empty buckets everywhere, in whole-array passes."""
    hi_s, lo_s = _sentinels(dtype)
    mn = _reduce_pow2(np.where(present, pmin, hi_s).astype(dtype, copy=False), factor,
                      np.minimum)
    mx = _reduce_pow2(np.where(present, pmax, lo_s).astype(dtype, copy=False), factor,
                      np.maximum)
    empty = ~_reduce_pow2(present, factor, np.logical_or)
    if empty.any():
        fill = fill_value_for(dtype)
        mn[empty] = fill
        mx[empty] = fill
    return mn, mx


def _minmax_pow2(values: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of each run of `factor` (a power of two) values by pairwise halving:
    several times faster than a reduction along a short axis."""
    return _reduce_pow2(values, factor, np.minimum), _reduce_pow2(values, factor, np.maximum)


def _sentinels(dtype: np.dtype) -> tuple[Any, Any]:
    """Values above and below every sample of a dtype (what an absent sample becomes for a
    min and for a max)."""
    if dtype.kind == "f":
        return np.inf, -np.inf
    info = np.iinfo(dtype)
    return info.max, info.min


def _whole_chunks(arr: zarr.Array, n: int) -> int:
    """`n` rounded up to whole chunks (whole shards for a sharded array) of `arr`."""
    c = int(arr.metadata.chunk_grid.chunk_shape[0])
    return -(-n // c) * c


def _grow_arrays(sizes: list[tuple[zarr.Array, int]]) -> None:
    """Grow 1-D arrays to the given lengths, their metadata written concurrently."""
    grow = [(a, n) for a, n in sizes if a.shape[0] < n]
    if not grow:
        return
    if all(_local_dir(a) is not None for a, _ in grow):  # written here, not through zarr
        for a, n in grow:
            meta = a.metadata.update_shape((n,))
            _save_metadata_local(a, meta)
            object.__setattr__(a.async_array, "metadata", meta)  # what zarr's resize does
        return
    import asyncio

    from zarr.core.sync import sync

    async def run():
        await asyncio.gather(*(a.async_array.resize((n,), delete_outside_chunks=False)
                               for a, n in grow))

    sync(run())


def _bucket_minmax(values: np.ndarray, present: np.ndarray | None, factor: int,
                   dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of each run of `factor` values, ignoring absent ones (fill where empty;
    `present` None: all present)."""
    n = len(values)
    nb = math.ceil(n / factor)
    pad = nb * factor - n
    dtype = np.dtype(dtype)
    hi_s, lo_s = _sentinels(dtype)
    if present is None:
        present = np.ones(n, dtype=bool) if pad else None
    if not pad and (present is None or present.all()):  # the common case: no masking copies
        if factor > 1 and factor & (factor - 1) == 0:
            step = factor * 2**18
            if n > step:  # in parallel slices (numpy releases the GIL)
                parts = list(_pool().map(lambda a: _minmax_pow2(values[a:a + step], factor),
                                         range(0, n, step)))
                mn = np.concatenate([p[0] for p in parts])
                mx = np.concatenate([p[1] for p in parts])
            else:
                mn, mx = _minmax_pow2(values, factor)
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


def open_store(url: str, mode: str = "r") -> Store:
    """Open a store (`mode="a"` creates it when missing)."""
    return Store(url, mode=mode)


def describe(store: Store) -> dict[str, Any]:
    """A JSON-ready description of a whole store."""
    return {
        "store": store.url,
        "layout_version": store.meta.get("layout_version"),
        "created_by": store.meta.get("created_by"),
        "bytes": store.nbytes(),
        "streams": [s.summary() for s in store],
        "events": len(store.events()),
    }


def dumps(obj: Any) -> str:
    """JSON text for store descriptions."""
    return json.dumps(obj, indent=2, default=str)
