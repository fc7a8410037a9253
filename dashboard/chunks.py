"""Decoded chunks of the store's arrays, kept in a bounded cache shared by every session.

Reading a few hundred values from a store array decodes the whole chunk they are in (1-2 MB,
about 2 ms here) and zarr's synchronous wrapper adds its own wait; a frame reads two arrays per
band. Sessions zooming the same streams read the same chunks again and again, so the decoded
chunks are kept (least recently used dropped first, `CACHE_MB` in all). zarr 3 keeps no decoded
chunks itself. A kept array belongs to one opening of a stream (see `sources`): when the stream
changes it is opened again and its chunks are read afresh.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from pipelines.store import chunk_reader

CACHE_MB = 256  # `belvedere serve --chunk-cache-mb`
_tokens = itertools.count()


class ChunkCache:
    """A byte-bounded least-recently-used map of decoded chunks, safe across threads."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> np.ndarray | None:
        """The chunk kept under `key`, or None."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: tuple, values: np.ndarray) -> None:
        """Keep `values` (dropping the least recently used beyond the bound)."""
        if values.nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.nbytes -= old.nbytes
            self._items[key] = values
            self.nbytes += values.nbytes
            while self.nbytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self.nbytes -= dropped.nbytes


CACHE = ChunkCache(CACHE_MB * 2**20)


class CachedArray:
    """A 1-D store array whose `[a:b]` reads come from whole decoded chunks in `CACHE`."""

    def __init__(self, array: Any, cache: ChunkCache = CACHE):
        self._array = array
        self._cache = cache
        self._token = next(_tokens)
        self._chunk = int(array.chunks[0])
        # Chunks of local arrays are read and decoded here, not through zarr (see there).
        self._read_chunk = chunk_reader(array) if len(array.shape) == 1 else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._array, name)

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape (as when it was opened)."""
        return self._array.shape

    def _read(self, k: int) -> np.ndarray:
        """Chunk k decoded (read again once if it fails: an ingest may replace its shard)."""
        if self._read_chunk is None:
            size = self._chunk
            return np.asarray(self._array[k * size:min((k + 1) * size, self.shape[0])])
        try:
            return self._read_chunk(k)
        except Exception:
            return self._read_chunk(k)

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1) or len(self.shape) != 1:
            return self._array[key]
        a, b, _ = key.indices(self.shape[0])
        if b <= a:
            return self._array[a:a]
        size = self._chunk
        parts = []
        for k in range(a // size, (b - 1) // size + 1):
            chunk = self._cache.get((self._token, k))
            if chunk is None:
                chunk = self._read(k)
                self._cache.put((self._token, k), chunk)
            lo, hi = max(a - k * size, 0), min(b - k * size, len(chunk))
            parts.append(chunk[lo:hi])
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts)
