"""The on-disk layout (version 2): versions, kinds, chunking, codecs and the arrays' templates.

Every array the project creates takes its `create_array` parameters from a template here, so
the layout is written down once. Changing a value here changes what new stores look like on
disk; stores written before keep what they were created with (zarr reads it per array).
See DESIGN.md ("Store layout").
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from zarr.codecs import BloscCodec, ZstdCodec
from zarr.codecs.numcodecs import Delta

from pipelines import __version__
from pipelines.store.errors import StoreError, StoreVersionError

# Version 2 adds long segment lists stored as arrays ("Segment lists" below); a version 1
# stream (inline list) reads the same, and one that comes to hold an array is marked 2.
LAYOUT_VERSION = 2
USAGE_LAYOUT_VERSION = 1
# The `belvedere.kind` attribute of a stream group or a store root, as stored.
STREAM_KIND = "stream"  # a regular stream (its class says `kind = "regular"`)
IRREGULAR_KIND = "irregular"
USAGE_KIND = "usage"

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
# Pyramid updates are split where present samples lie further apart than this (samples), so
# that a gap of any length costs neither memory nor chunks.
GAP_CLUSTER = 2**24
# "c.<k>" keys: no folder of chunks per array (a folder costs as much as a file to create).
CHUNK_KEYS = {"name": "default", "separator": "."}
DEFAULT_SNAP_TOLERANCE = 0.25  # fraction of a sample
CATALOG_GROUP = "_catalog"
TMP_SUFFIX = ".rebase-tmp"  # a stream being rewritten; hidden from listings
OLD_SUFFIX = ".rebase-old"  # the stream it replaces, during the swap

# Irregular streams (explicit timestamps).
IRREGULAR_CHUNK = 2**18
IRREGULAR_PYRAMID_CHUNK = 2**16

# The usage store: tables and metric series.
TABLE_CHUNK = 65536
METRIC_SERIES_CHUNK = 64
METRIC_TIME_CHUNK = 4096
METRIC_FACTOR = 16
METRIC_TOP_LEVEL_MAX = 2048
NAT = np.iinfo(np.int64).min  # a missing time (int64 ns)
# Column kinds: cat (int32 codes + categories), str (UTF-8), time (int64 ns, NaT missing),
# int (int64, -1 missing unless stated), float (float64, NaN missing), key (int64 hashes).
COLUMN_DTYPES: dict[str, Any] = {"cat": np.int32, "str": str, "time": np.int64,
                                 "int": np.int64, "float": np.float64, "key": np.int64}
COLUMN_FILLS: dict[str, Any] = {"cat": -1, "str": "", "time": NAT, "int": -1,
                                "float": np.nan, "key": 0}

warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3")

# The first codec of data and pyramid arrays (streams written before still use it): delta +
# bitshuffle + zstd level 1 stores int32 counts at ~0.99x their Steim2 size.
FIRST_COMPRESSOR = BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")
# The raw samples of new streams (delta first): 128 KiB blocks encode ~25% faster than the
# default 32 KiB and decode faster too. With them, zstd level 1 encodes as fast as blosc
# level 2 (zstd 3) and stores real records smaller: ObsPy's ref_STS2 at 1.03x its Steim2
# size (1.09x at level 2), ref_unknown at 0.98x (1.20x); the benchmark's synthetic counts
# at 1.03x either way. Streams written before keep their codec (zarr reads it per array).
DATA_COMPRESSOR = BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle", blocksize=2**17)
# Pyramid levels of new streams: delta (integers) + bitshuffle + lz4 encodes min/max buckets
# ~2.5x faster than zstd and decodes faster for every view, for ~9% more pyramid bytes.
PYRAMID_COMPRESSOR = BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")
# The time coordinate, delta-encoded, is one value then a constant step: plain zstd stores a
# chunk of 2**20 times in ~200 bytes, and the writer encodes it without zarr's pipeline (no
# arange, no diff), which made the coordinate ~20x cheaper to write.
TIME_COMPRESSOR = ZstdCodec(level=1)
# Irregular streams: samples and pyramid levels, and their timestamps.
IRREGULAR_DATA_COMPRESSOR = BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")
IRREGULAR_TIME_COMPRESSOR = ZstdCodec(level=3)


def time_attributes() -> dict[str, str]:
    """The CF attributes of a time coordinate (int64 ns), so xarray decodes it."""
    return {"units": "nanoseconds since 1970-01-01T00:00:00",
            "calendar": "proleptic_gregorian", "standard_name": "time"}


# The regular streams' `time` coordinate: TIME_CHUNKS in the `belvedere` attribute of a
# stream group says which of its chunks are stored. "with-samples": only chunks that hold a
# present sample (a chunk wholly inside a gap reads as NaT, the fill value, so a gap of any
# length costs nothing); streams without the key ("all", written before) have every chunk up
# to the grid's length. Either way the times are `start_ns + i * 1e9 / sampling_rate`, which
# `Stream.to_xarray` computes from the grid; a version 1 reader reads both alike.
TIME_CHUNKS = "with-samples"


# Segment lists ([start, end) int64 ns of the runs of present samples). Version 1: the
# `segments` attribute of the stream group is a JSON list [[start, end], ...]. Version 2
# keeps that form up to SEGMENTS_INLINE segments; a longer list is written as an (N, 2)
# int64 array `segments/<generation>` of the stream group (one chunk, delta + zstd) and the
# attribute becomes {"array": "segments/<g>", "generation": g, "count": N, "first_ns": ...,
# "end_ns": ...}, so a stream's span needs no read of the array. A commit writes a new
# generation before the attribute that names it and then drops all but the last two, so a
# reader never sees a half-written list. Why the threshold: parsing the JSON attribute costs
# ~1 us per segment (1e5 gaps: a 7.4 MB attribute, 0.1-0.3 s on every open) while reading
# the array costs ~1-3 ms whatever its length, as much as ~1000 inline segments; streams
# with few gaps (most) keep a single metadata read per open.
SEGMENTS_INLINE = 1024
SEGMENTS_GROUP = "segments"
SEGMENTS_LAYOUT_VERSION = 2
SEGMENTS_CHUNK = 2**20  # segments per chunk (16 MB raw): one chunk for any usual list
SEGMENTS_COMPRESSOR = ZstdCodec(level=3)


_SEGMENTS_FILTERS = [Delta(dtype="int64")]  # made once: zarr warns on each construction


def segments_array(n: int) -> dict[str, Any]:
    """The template of a segment-list array of `n` segments (`create_array(..., shape=(n, 2))`)."""
    return {"chunks": (min(max(n, 1), SEGMENTS_CHUNK), 2), "dtype": "int64",
            "fill_value": 0, "filters": _SEGMENTS_FILTERS,
            "compressors": [SEGMENTS_COMPRESSOR], "dimension_names": ("segment", "edge")}


def stream_marker(kind: str) -> dict[str, Any]:
    """The `belvedere` attribute of a new stream group of `kind` (as stored)."""
    marker = {"layout_version": LAYOUT_VERSION, "kind": kind,
              "written_by": f"belvedere {__version__}"}
    if kind == STREAM_KIND:
        marker["time_chunks"] = TIME_CHUNKS
    return marker


def stream_kind(attrs: Mapping[str, Any]) -> str:
    """The kind of stream ("regular" or "irregular") a stream group's attributes describe."""
    stored = dict(attrs.get("belvedere") or {}).get("kind")
    return IRREGULAR_KIND if stored == IRREGULAR_KIND else "regular"


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


# -- array templates: `group.create_array(name, shape=..., **template)` -----------------------
def _delta(dtype: np.dtype) -> list | None:
    return [Delta(dtype=str(dtype))] if dtype.kind in "iu" else None


def stream_array(name: str, dtype: np.dtype) -> dict[str, Any]:
    """A new regular stream's `data`, `time` or `pyramid` (each `pyramid/<k>/min|max`) array."""
    dtype = np.dtype(dtype)
    if name == "data":
        return {"chunks": (DATA_CHUNK,), "shards": (DATA_SHARD,),
                "chunk_key_encoding": CHUNK_KEYS, "dtype": dtype,
                "fill_value": fill_value_for(dtype), "filters": _delta(dtype),
                "compressors": [DATA_COMPRESSOR], "dimension_names": ("time",)}
    if name == "time":
        return {"chunks": (TIME_CHUNK,), "chunk_key_encoding": CHUNK_KEYS, "dtype": "int64",
                "fill_value": np.iinfo(np.int64).min, "filters": [Delta(dtype="int64")],
                "compressors": [TIME_COMPRESSOR], "dimension_names": ("time",),
                "attributes": time_attributes()}
    if name == "pyramid":
        return {"chunks": (PYRAMID_CHUNK,), "shards": (PYRAMID_SHARD,),
                "chunk_key_encoding": CHUNK_KEYS, "dtype": dtype,
                "fill_value": fill_value_for(dtype), "filters": _delta(dtype),
                "compressors": [PYRAMID_COMPRESSOR], "dimension_names": ("bucket",)}
    raise ValueError(f"no stream array {name!r}")


def irregular_array(name: str, dtype: np.dtype) -> dict[str, Any]:
    """An irregular stream's `time` or `data` array, or a pyramid level's `min`, `max` or
    `start` array (`dtype`: the samples')."""
    dtype = np.dtype(dtype)
    if name == "time":
        return {"chunks": (IRREGULAR_CHUNK,), "dtype": "int64",
                "fill_value": np.iinfo(np.int64).min, "filters": [Delta(dtype="int64")],
                "compressors": [IRREGULAR_TIME_COMPRESSOR], "dimension_names": ("time",),
                "attributes": time_attributes()}
    if name == "data":
        return {"chunks": (IRREGULAR_CHUNK,), "dtype": dtype,
                "fill_value": fill_value_for(dtype),
                "compressors": [IRREGULAR_DATA_COMPRESSOR], "dimension_names": ("time",)}
    if name in ("min", "max"):
        return {"chunks": (IRREGULAR_PYRAMID_CHUNK,), "dtype": dtype,
                "fill_value": fill_value_for(dtype), "compressors": [IRREGULAR_DATA_COMPRESSOR]}
    if name == "start":
        return {"chunks": (IRREGULAR_PYRAMID_CHUNK,), "dtype": np.int64, "fill_value": 0,
                "compressors": [IRREGULAR_DATA_COMPRESSOR]}
    raise ValueError(f"no irregular stream array {name!r}")


def spectra_array(name: str, nf: int) -> dict[str, Any]:
    """A stream's precomputed spectra: `asd` (block x `nf` frequencies) or `coverage`."""
    if name == "asd":
        return {"chunks": (64, nf), "dtype": "float32", "fill_value": float("nan"),
                "dimension_names": ("block", "frequency")}
    if name == "coverage":
        return {"chunks": (4096,), "dtype": "float32", "fill_value": 0.0,
                "dimension_names": ("block",)}
    raise ValueError(f"no spectra array {name!r}")


def column_array(kind: str) -> dict[str, Any]:
    """A usage table's column of `kind` (see COLUMN_DTYPES)."""
    return {"chunks": (TABLE_CHUNK,), "dtype": COLUMN_DTYPES[kind],
            "fill_value": COLUMN_FILLS[kind]}


def metric_array(name: str) -> dict[str, Any]:
    """A metric's `values` (series x time) or `time` array."""
    if name == "values":
        return {"chunks": (METRIC_SERIES_CHUNK, METRIC_TIME_CHUNK), "dtype": np.float64,
                "fill_value": np.nan}
    if name == "time":
        return {"chunks": (TABLE_CHUNK,), "dtype": np.int64, "fill_value": NAT}
    raise ValueError(f"no metric array {name!r}")


def metric_level_array(name: str) -> dict[str, Any]:
    """A metric pyramid level's `sum`, `count`, `max` (series x bucket) or `time` array."""
    chunks = (METRIC_SERIES_CHUNK, METRIC_TIME_CHUNK)
    if name == "sum":
        return {"chunks": chunks, "dtype": np.float64, "fill_value": 0.0}
    if name == "count":
        return {"chunks": chunks, "dtype": np.int32, "fill_value": 0}
    if name == "max":
        return {"chunks": chunks, "dtype": np.float64, "fill_value": np.nan}
    if name == "time":
        return {"chunks": (METRIC_TIME_CHUNK,), "dtype": np.int64, "fill_value": NAT}
    raise ValueError(f"no metric level array {name!r}")
