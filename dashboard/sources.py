"""The stores a server shows: opened once per process, named by short labels in URLs.

Each store is wrapped in a `CachedStore`: its streams are opened once and kept, with the zarr
groups and arrays they look up (each lookup goes through zarr's synchronous wrapper, ~1 ms,
several per frame: half the cost of a frame). A kept stream is opened again when its group's
metadata changed (an ingest commits a stream by rewriting its attributes, segments last), so a
live ingest still shows; on a remote store, at most every `REMOTE_RECHECK_S` seconds.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from dashboard.chunks import CachedArray
from dashboard.errors import NotServedError
from pipelines.store import Store, open_store

REMOTE_RECHECK_S = 5.0
LIST_RECHECK_S = 2.0  # the list of stream names is read again after this long


class _KeptGroup:
    """A zarr group whose children, once looked up, are kept (groups wrapped likewise)."""

    def __init__(self, group: Any):
        self._group = group
        self._children: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        hit = self._children.get(key)
        if hit is None:
            node = self._group[key]
            if not hasattr(node, "shape"):  # a group (arrays have a shape)
                hit = _KeptGroup(node)
            elif len(node.shape) == 1:
                hit = CachedArray(node)
            else:
                hit = node
            self._children[key] = hit
        return hit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._group, name)

    def __contains__(self, key: str) -> bool:
        return key in self._children or key in self._group

    def __iter__(self):
        return iter(self._group)


class CachedStore:
    """A read-only `Store` whose streams are opened once and kept until they change."""

    def __init__(self, store: Store):
        self._store = store
        self._lock = threading.Lock()
        self._streams: dict[str, tuple[Any, Any]] = {}  # name -> (version, stream)
        self._names: tuple[float, list[str]] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _version(self, name: str) -> Any:
        """What changes when the stream is committed again: its metadata file's mtime."""
        if self._store.is_local:
            try:
                st = os.stat(os.path.join(self._store.url, name, "zarr.json"))
            except OSError:
                return None
            return (st.st_mtime_ns, st.st_size)
        return int(time.monotonic() // REMOTE_RECHECK_S)

    def __getitem__(self, name: str):
        version = self._version(name)
        hit = self._streams.get(name)
        if hit is not None and hit[0] == version and version is not None:
            return hit[1]
        stream = self._store[name]  # UnknownStreamError when there is none
        stream.group = _KeptGroup(stream.group)
        with self._lock:
            self._streams[name] = (version, stream)
        return stream

    def __contains__(self, name: str) -> bool:
        return name in self.streams()

    def __iter__(self):
        for name in self.streams():
            yield self[name]

    def streams(self) -> list[str]:
        """Names of the streams, sorted (read again after `LIST_RECHECK_S`)."""
        now = time.monotonic()
        if self._names is None or now - self._names[0] > LIST_RECHECK_S:
            self._names = (now, self._store.streams())
        return list(self._names[1])

    select = Store.select  # over the kept list of names (it calls self.streams())


def store_label(url: str) -> str:
    """A short label for a store URL: its last path component (`demo.zarr`)."""
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return tail or url


class Sources:
    """The stores given to the server, by label, in the order given (the first is the default)."""

    policy = None  # [access]: set by dashboard.access.hooks.install; None: all public
    audit = None

    def for_user(self, user, route: str = ""):
        """These sources as `user` may see them (every route reads the stores through this)."""
        from dashboard.access.view import user_sources

        return user_sources(self, user, route)

    def __init__(self, urls: list[str], tile_url: str | None = None):
        self.tile_url = tile_url  # map tiles, fetched by the browser; None: plain lon/lat axes
        from pipelines.usage.usage_store import is_usage_store

        if not urls:
            raise ValueError("no store given: pass at least one --store")
        # Data stores (waveforms, availability, stations) and usage stores (resources) apart;
        # `labels`/`urls` are the data stores, the first of which is the default.
        self.urls: list[str] = []
        self.labels: list[str] = []
        self.usage_urls: list[str] = []
        self.usage_labels: list[str] = []
        for url in urls:
            label = store_label(url)
            while label in self.labels + self.usage_labels:  # one folder name twice: number
                label = f"{label}-{len(self.labels) + len(self.usage_labels) + 1}"
            usage = is_usage_store(url)
            (self.usage_urls if usage else self.urls).append(url)
            (self.usage_labels if usage else self.labels).append(label)
        self._stores: dict[str, Store] = {}
        self._usage: dict[str, object] = {}
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, object]] = {}

    def store(self, label: str | None = None) -> CachedStore:
        """The store with this label (or index, or URL); the first one when None or ''."""
        key = self.resolve(label)
        with self._lock:
            if key not in self._stores:
                self._stores[key] = CachedStore(open_store(self.urls[self.labels.index(key)]))
            return self._stores[key]

    def usage(self, label: str | None = None):
        """The usage store with this label (the first one when None or '')."""
        from pipelines.usage.usage_store import open_usage_store

        if not self.usage_labels:
            raise NotServedError("no usage store is served here; start the server with "
                                 "--store USAGE.zarr (made by `belvedere ingest usage`)")
        if label in (None, ""):
            key = self.usage_labels[0]
        elif label in self.usage_labels:
            key = label
        else:
            raise NotServedError(f"usage={label!r} is not served here; the usage stores are: "
                                 + ", ".join(self.usage_labels))
        with self._lock:
            if key not in self._usage:
                self._usage[key] = open_usage_store(
                    self.usage_urls[self.usage_labels.index(key)])
            return self._usage[key]

    def resolve(self, label: str | None) -> str:
        """The label meant by a URL value; ValueError naming the choices when none matches."""
        if not self.labels:
            raise NotServedError("no data store is served here, only usage stores (see "
                                 "/resources); add a data store with another --store")
        if label is None or label == "":
            return self.labels[0]
        if label in self.labels:
            return label
        if label in self.urls:
            return self.labels[self.urls.index(label)]
        if label.isdigit() and int(label) < len(self.labels):
            return self.labels[int(label)]
        raise NotServedError(f"store={label!r} is not served here; the stores are: "
                             + ", ".join(self.labels))

    def resolve_or_first(self, label: str | None) -> tuple[str, list[str]]:
        """`resolve(label)` and no errors, or the first store and why `label` was not used."""
        try:
            return self.resolve(label), []
        except ValueError as exc:
            return self.labels[0], [str(exc)]

    def cached(self, key: str, compute, max_age_s: float = 300.0):
        """`compute()` remembered for a few minutes (sizes: walking a big store takes time)."""
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is None or now - hit[0] > max_age_s:
            hit = (now, compute())
            self._cache[key] = hit
        return hit[1]
