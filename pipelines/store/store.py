"""A Belvedere store: open it, list and select its streams, read its catalogue and size."""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from pipelines import __version__
from pipelines.store import _zarrio, backend, consolidated
from pipelines.store.errors import StoreError, UnknownStreamError
from pipelines.store.irregular import IrregularStream
from pipelines.store.layout import (
    CATALOG_GROUP,
    LAYOUT_VERSION,
    TMP_SUFFIX,
    aligned_origin,
    check_layout_version,
    stream_kind,
)
from pipelines.store.regular import Stream, StreamWriter, create_regular
from pipelines.timebase import NS, day_start_ns, utc_iso


class Store:
    """A Belvedere store: one Zarr v3 group, one child group per stream.

    Parameters
    ----------
    url : str
        A folder path, `file://...` or an fsspec URL (`s3://bucket/store.zarr`, `https://...`).
    mode : {"r", "a"}
        "r" reads only; "a" also writes, and creates the store when missing.
    storage_options : dict, optional
        Kept as `storage_options`; not passed to fsspec (which reads its own configuration,
        such as the AWS_* environment variables for s3://).

    Raises
    ------
    StoreError
        When there is no store at `url` or it is not one this program can read; the
        message says what to do (StoreVersionError: written by a newer layout version).
    """

    def __init__(self, url: str, mode: str = "r", storage_options: dict | None = None):
        self.url = str(url)
        self.mode = mode
        self.storage_options = storage_options or {}
        self.zarr_store = backend.open_zarr_store(self.url, read_only=mode == "r")
        try:
            self.root = backend.open_group(self.zarr_store, read_only=mode == "r")
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

    @property
    def is_local(self) -> bool:
        """True when the store is a folder on a local filesystem (not an fsspec URL)."""
        return backend.is_local(self.zarr_store)

    # -- listing --------------------------------------------------------------------------
    def streams(self) -> list[str]:
        """Names of the streams in the store, sorted."""
        return sorted(k for k in self.root.group_keys()
                      if not k.startswith("_") and not k.endswith(TMP_SUFFIX))

    def streams_named(self, predicate: Callable[[str], bool]) -> list[str]:
        """The streams whose names satisfy `predicate(name)`, sorted: lists the store's top
        level and opens only those, where `streams()` opens every member (slow on big stores).
        """
        out = []
        for name in _zarrio.list_dir(self.zarr_store, self.root.path):
            if name.startswith("_") or name.endswith(TMP_SUFFIX) or not predicate(name):
                continue
            try:
                if backend.is_group(self.root[name]):
                    out.append(name)
            except KeyError:
                continue
        return sorted(out)

    def __contains__(self, name: str) -> bool:
        return name in self.streams()

    def __iter__(self) -> Iterator[Stream | IrregularStream]:
        for name in self.streams():
            yield self[name]

    def __getitem__(self, name: str) -> Stream | IrregularStream:
        try:
            group = self.root[name]
        except KeyError:
            raise UnknownStreamError(
                f"no stream {name!r} in store {self.url}; `belvedere info {self.url}` lists them"
            ) from None
        if stream_kind(group.attrs) == IrregularStream.kind:
            return IrregularStream(self, name, group)
        return Stream(self, name, group)

    def select(self, patterns: str | list[str]) -> list[str]:
        """Stream names matching comma-separated or listed wildcards (`BV.*.00.HH?`).

        Parameters
        ----------
        patterns : str or list of str
            fnmatch wildcards (`*`, `?`, `[...]`), case-sensitive; a string may hold several
            separated by commas.

        Returns
        -------
        list of str
            The matching names, in pattern order, each once.

        Raises
        ------
        UnknownStreamError
            When a pattern matches no stream.
        """
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

    def nbytes(self, prefix: str = "") -> int:
        """Bytes the store occupies (under `prefix`, such as a stream's name, when given)."""
        return backend.du(self.zarr_store, prefix)

    # -- writing --------------------------------------------------------------------------
    def writable(self) -> None:
        """Raise unless the store was opened for writing."""
        if self.mode == "r":
            raise StoreError(f"store {self.url} is open read-only")

    def changing(self) -> None:
        """Drop the consolidated metadata (once per Store) before a write would make it
        stale; the end of the run writes it again (`consolidated.consolidate`)."""
        if not getattr(self, "_copy_dropped", False):
            consolidated.drop(self)
            self._copy_dropped = True

    def set_events(self, events: list[dict[str, Any]]) -> int:
        """Merge events into the catalogue by id; returns how many were new."""
        self.writable()
        current = {e["id"]: e for e in self.events()}
        new = sum(1 for e in events if e["id"] not in current)
        current.update({e["id"]: e for e in events})
        self.changing()
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
        return create_regular(self, name, sampling_rate, start_ns, dtype, attrs)


def open_store(url: str, mode: str = "r") -> Store:
    """Open a store (`mode="a"` creates it when missing).

    Parameters
    ----------
    url : str
        A folder path, `file://...` or an fsspec URL such as `s3://bucket/store.zarr`.
    mode : {"r", "a"}
        "r" (default) reads only; "a" also writes.

    Returns
    -------
    Store
        Index it by stream name (`store["BV.ALPS.00.HHZ"]`) for a `Stream` or an
        `IrregularStream`, or iterate over it.
    """
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

