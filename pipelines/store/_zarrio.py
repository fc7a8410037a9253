"""The fast direct writer, and the only module that touches zarr's internals.

zarr 3.1 spends ~2.5x the CPU of the codecs themselves on a large 1-D write (per-chunk
asyncio tasks, buffer copies, a thread hop per codec). For arrays whose codecs are the plain
chain the layout creates (optional numcodecs array filters, little-endian bytes, blosc or
zstd), chunks are encoded here, in parallel threads (the codecs release the GIL), with the
same numcodecs objects zarr uses, and stored under the same keys (byte for byte what zarr
writes; tests/test_ingest_pyramid.py checks it). Partial chunks are read back through zarr,
merged here, and encoded like the others. Any other codec chain goes through zarr. On a
local store, shards (with their crc32c index) and zarr.json files are written here too.

Everything else of the project reaches zarr through the store package's public modules;
what needs `zarr.core` (its event loop, node metadata, async nodes) is here, and only here.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import zarr
from zarr.core.array import AsyncArray
from zarr.core.buffer import default_buffer_prototype
from zarr.core.group import AsyncGroup, GroupMetadata
from zarr.core.sync import sync

from pipelines.store import layout
from pipelines.store.errors import StoreError
from pipelines.store.workers import pool


def fs_call(zstore: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call a filesystem method of a remote store: zarr's FsspecStore holds an asynchronous
    filesystem bound to zarr's event loop, whose blocking methods fail outside that loop."""
    fs = zstore.fs
    if getattr(fs, "asynchronous", False):
        return sync(getattr(fs, "_" + method)(*args, **kwargs))
    return getattr(fs, method)(*args, **kwargs)


def native(values: np.ndarray) -> np.ndarray:
    """The array in native byte order: zarr returns '<i4', which ObsPy's Steim2 writer rejects."""
    if values.dtype.byteorder == "=" or not values.dtype.isnative:
        return values if values.dtype.isnative else values.astype(values.dtype.newbyteorder("="))
    return values.view(np.dtype(values.dtype.name))


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
    return native(arr[a:b])


def grow_arrays(sizes: list[tuple[zarr.Array, int]]) -> None:
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
    async def run():
        await asyncio.gather(*(a.async_array.resize((n,), delete_outside_chunks=False)
                               for a, n in grow))

    sync(run())


def whole_chunks(arr: zarr.Array, n: int) -> int:
    """`n` rounded up to whole chunks (whole shards for a sharded array) of `arr`."""
    c = int(arr.metadata.chunk_grid.chunk_shape[0])
    return -(-n // c) * c



def put_group_attrs(group: zarr.Group, attrs: dict[str, Any]) -> None:
    """`group.attrs.put(attrs)`, written directly on a local store."""
    meta = replace(group.metadata, attributes=dict(attrs))
    if _save_metadata_local(group, meta):
        object.__setattr__(group._async_group, "metadata", meta)
    else:
        group.attrs.put(attrs)


def _save_metadata_local(node: Any, metadata: Any) -> bool:
    """Write a node's zarr.json straight to a local store (temporary file + rename, as
    LocalStore does), without a round trip through zarr's event loop (~1-5 ms each, a
    sizeable part of a file's ingest); False when the store is not local."""
    base = _local_dir(node)
    if base is None:
        return False
    for key, buf in metadata.to_buffer_dict(default_buffer_prototype()).items():
        _write_local(base, key, buf.to_bytes())
    return True


def _create_nodes_local(root: zarr.Group, nodes: dict[str, Any]) -> dict[str, Any] | None:
    """`root.create_hierarchy(nodes)` for a new subtree of a local store, written directly:
    the missing intermediate groups and the arrays first, the top group's zarr.json last (a
    reader never sees the group without its arrays). None when the store is not local or
    the subtree's folder already exists (left over by an interrupted run): use zarr then."""
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
    """Zarr metadata (shape 0) of a stream's `data`, `time` or `pyramid` arrays for a dtype
    (`layout.stream_array`), made once per kind and dtype."""
    key = (kind, np.dtype(dtype).str)
    meta = _TEMPLATES.get(key)
    if meta is None:
        scratch = zarr.open_group(zarr.storage.MemoryStore(), mode="w", zarr_format=3)
        arr = scratch.create_array("a", shape=(0,), **layout.stream_array(kind, dtype))
        meta = _TEMPLATES[key] = arr.metadata
    return meta


def create_nodes(root: zarr.Group, groups: dict[str, dict[str, Any]],
                 arrays: dict[str, tuple[str, np.dtype, int, dict[str, Any] | None]],
                 direct: bool = True) -> dict[str, Any]:
    """Create groups (path -> attributes) and stream arrays (path -> (`layout.stream_array`
    name, dtype, length, attributes or None)) under `root` in one concurrent write instead
    of one round trip per node and per attribute; the nodes by path. `direct`: on a local
    store, write the zarr.json files here (the top group's last, so a reader never sees the
    group without its arrays)."""
    nodes: dict[str, Any] = {p: GroupMetadata(attributes=a, zarr_format=3)
                             for p, a in groups.items()}
    for path, (kind, dtype, n, attrs) in arrays.items():
        meta = _template_metadata(kind, dtype)
        if n:
            meta = meta.update_shape((n,))
        if attrs is not None:
            meta = meta.update_attributes(attrs)
        nodes[path] = meta
    made = _create_nodes_local(root, nodes) if direct else None
    if made is None:
        made = dict(root.create_hierarchy(nodes))
    return made


def list_dir(zstore: Any, path: str) -> list[str]:
    """The names directly under `path` in a zarr store (no node is opened)."""
    async def names() -> list[str]:
        return [k async for k in zstore.list_dir(path)]

    return sync(names())


def _is_fast_time_array(tarr: zarr.Array) -> bool:
    codecs = [c.to_dict() for c in tarr.metadata.codecs]
    return (len(codecs) == 3 and codecs[0].get("configuration", {}).get("dtype") == "int64"
            and codecs[0]["name"].endswith("delta")
            and codecs[1] == {"name": "bytes", "configuration": {"endian": "little"}}
            and codecs[2]["name"] == "zstd" and tarr.dtype == np.dtype("int64"))


# Encoded time chunks by (first time, period, ...): the channels of a network usually share a
# day-aligned grid, so their time chunks are byte-identical; each is ~200 bytes.
_TIME_CHUNK_CACHE: dict[tuple, bytes] = {}


# Per encoding thread, the delta-encoded chunk template (a 32 MB int64 array): allocating and
# filling it anew on every call put fresh-page zeroing at ~5 % of an ingest's CPU (perf).
_TIME_TEMPLATE = threading.local()


def write_time_chunks(tarr: zarr.Array, start_ns: int, period_ns: float, k0: int,
                      k1: int) -> bool:
    """Write chunks [k0, k1) of the time coordinate of a grid from `start_ns` with step
    `period_ns`, already encoded; False if not possible.

    Delta-encoded, chunk k of the coordinate is its first time followed by the constant
    period, so it is built from one template instead of computing and diffing every time.
    Works for integer-nanosecond periods and the codecs of `layout.stream_array`
    (Delta int64, little-endian bytes, zstd), for chunks whose times all fit int64; anything
    else goes through zarr (`grid_times` then fills times past int64 with NaT).
    """
    period = period_ns
    if not float(period).is_integer() or not _is_fast_time_array(tarr):
        return False
    tc = int(tarr.chunks[0])
    step = int(period)
    if k1 <= k0:
        return True
    if start_ns + (k1 * tc - 1) * step > _INT64_MAX:  # a low rate's grid runs past 2262
        return False
    import numcodecs

    comp = tarr.compressors[0]
    codec = numcodecs.Zstd(level=comp.level, checksum=comp.checksum)

    def job(k: int) -> tuple[str, bytes]:
        first = start_ns + k * tc * step
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


_INT64_MAX = int(np.iinfo(np.int64).max)


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
        out = [r for r in pool().map(run, jobs[b0:b0 + 64]) if r is not None]
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
            list(pool().map(lambda job: _write_shard(bases[id(job[0])], *job),
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



def chunk_reader(arr: zarr.Array) -> Callable[[int], np.ndarray] | None:
    """A function k -> (inner) chunk k of a 1-D array in a local store, decoded: equal to
    `arr[k * c:(k + 1) * c]` (c = `arr.chunks[0]`, the last chunk cut at the array's length);
    None for arrays elsewhere or with codecs it does not know (read those through zarr).

    Reading a chunk through zarr's synchronous wrapper costs ~7 ms here (the shard index,
    the hop to zarr's event loop and back, its buffers) for ~3 ms of decoding; read here,
    the index and the chunk come from one open file (a shard replaced by rename meanwhile
    is read whole from the old file) and are decoded in the calling thread."""
    import numcodecs

    st = arr.store_path.store
    if not isinstance(st, zarr.storage.LocalStore) or arr.ndim != 1:
        return None
    base = os.path.join(str(st.root), arr.store_path.path)
    codecs = arr.metadata.codecs
    per = 1
    if any(c.to_dict()["name"] == "sharding_indexed" for c in codecs):
        sc = _sharding(arr)
        if sc is None:
            return None
        codecs = sc.codecs
        per = int(arr.metadata.chunk_grid.chunk_shape[0]) // int(sc.chunk_shape[0])
    steps: list[tuple[str, Any]] = []
    for c in codecs:
        d = c.to_dict()
        name, conf = d["name"], dict(d.get("configuration", {}))
        if name.startswith("numcodecs.") and all(k == "array" for k, _ in steps):
            steps.append(("array", numcodecs.get_codec({"id": name.split(".", 1)[1], **conf})))
        elif name == "bytes" and all(k == "array" for k, _ in steps):
            endian = "<" if conf.get("endian", "little") == "little" else ">"
            steps.append(("bytes", arr.dtype.newbyteorder(endian)))
        elif name in ("blosc", "zstd") and any(k == "bytes" for k, _ in steps):
            steps.append(("bb", numcodecs.blosc.decompress if name == "blosc"
                          else numcodecs.Zstd().decode))
        else:
            return None
    if [k for k, _ in steps].count("bytes") != 1:
        return None
    filters = [codec for kind, codec in steps if kind == "array"][::-1]
    raw_dtype = next(codec for kind, codec in steps if kind == "bytes")
    decompress = [codec for kind, codec in steps if kind == "bb"][::-1]
    size = int(arr.chunks[0])
    n = int(arr.shape[0])
    fill = arr.metadata.fill_value
    dtype = arr.dtype
    index_bytes = per * 16 + 4

    def encoded(k: int) -> bytes | None:
        key = arr.metadata.encode_chunk_key((k // per,))
        try:
            fd = os.open(os.path.join(base, key), os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            if per == 1:
                return os.read(fd, os.fstat(fd).st_size) or None
            end = os.fstat(fd).st_size
            tail = os.pread(fd, index_bytes, end - index_bytes) if end >= index_bytes else b""
            if len(tail) != index_bytes or _crc32c(tail[:-4]) != tail[-4:]:
                raise StoreError(f"shard {key} of {base} is damaged (its index does not check"
                                 " out); delete the stream and ingest its files again")
            off, length = np.frombuffer(tail[:-4], dtype="<u8").reshape(per, 2)[k % per]
            if off == _NO_CHUNK:
                return None
            return os.pread(fd, int(length), int(off))
        finally:
            os.close(fd)

    def read(k: int) -> np.ndarray:
        stop = min((k + 1) * size, n) - k * size
        blob = encoded(k)
        if blob is None:
            return np.full(max(stop, 0), fill, dtype=dtype)
        for step in decompress:
            blob = step(blob)
        out = np.frombuffer(blob, dtype=raw_dtype)
        for codec in filters:
            out = codec.decode(out)
        return native(np.asarray(out, dtype=raw_dtype)[:stop])

    return read
