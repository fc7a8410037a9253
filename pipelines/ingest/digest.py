"""File identity for idempotent ingest: a content hash recorded in each commit's provenance.

New commits record xxh3-128 (`xxhash`, ~60 GB/s here; SHA-256 ran at 1.8 GB/s and cost ~8%
of a seismic ingest's CPU). Commits written before recorded SHA-256: a file is matched
against those by SHA-256, computed only when such an entry is there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import xxhash

KEY = "xxh3_128"
LEGACY_KEY = "sha256"
_BLOCK = 1 << 22


class FileDigest(str):
    """A file's xxh3-128 hex digest that knows its file (for SHA-256 matches)."""

    path: str
    _sha256: str | None

    def __new__(cls, value: str, path: str) -> FileDigest:
        obj = super().__new__(cls, value)
        obj.path = path
        obj._sha256 = None
        return obj

    def __reduce__(self):  # picklable for Dask, like the plain string plus its path
        return (FileDigest, (str(self), self.path))

    def sha256(self) -> str:
        """The file's SHA-256 (computed once, on demand)."""
        if self._sha256 is None:
            self._sha256 = _hash_file(self.path, hashlib.sha256())
        return self._sha256

    def record(self) -> dict[str, str]:
        """The provenance fields that identify this file."""
        return {KEY: str(self)}

    def matches(self, prov: dict[str, Any]) -> bool:
        """True when a provenance entry records this file's content."""
        if KEY in prov:
            return prov[KEY] == str(self)
        if LEGACY_KEY in prov:
            return prov[LEGACY_KEY] == self.sha256()
        return False


def file_digest(path: str) -> FileDigest:
    """The content digest of a file."""
    return FileDigest(_hash_file(path, xxhash.xxh3_128()), path)


def bytes_digest(data: Any, path: str) -> FileDigest:
    """The content digest of a file already read into memory (`data`, bytes-like)."""
    return FileDigest(xxhash.xxh3_128_hexdigest(memoryview(data).cast("B")), path)


def recorded(provenance: Iterable[dict[str, Any]], digest: FileDigest) -> bool:
    """True when any provenance entry records the file of `digest`."""
    return any(digest.matches(p) for p in provenance)


def identity(prov: dict[str, Any]) -> str | None:
    """The content digest a provenance entry records (either kind)."""
    return prov.get(KEY) or prov.get(LEGACY_KEY)


def _hash_file(path: str, h: Any) -> str:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()
