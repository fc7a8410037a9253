"""The sources as one user may see them: the one place where access is enforced.

Every route reads the stores through `Sources.for_user(user)`: pages (and so their frames and
websocket updates), snapshots, downloads and the FDSN services. The view lists only the
stores, usage stores and streams the user may see; a hidden stream is "not there" with the
very message of a stream that does not exist, so that nobody learns its name by asking.
The catalogue's picks on hidden streams are left out too.
Each read of a restricted stream is written to the audit log (once per view and stream a
minute: a page reads its streams on every repaint).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from dashboard.access.policy import ANONYMOUS, Policy, User
from dashboard.errors import NotServedError
from pipelines.store import Store, UnknownStreamError
from pipelines.timebase import now_ns

AUDIT_EVERY_S = 60.0


class UserStore:
    """A store with the streams this user may not see left out of every listing and lookup."""

    def __init__(self, store: Any, label: str, view: UserSources):
        self._store = store
        self._label = label
        self._view = view

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def hider(self) -> Callable[[str], bool]:
        """The test of names hidden from the user, as of now."""
        return self._view.policy.hider(self._label, self._view.user, self._view.clock())

    def allows(self, name: str) -> bool:
        """Whether the user may see this stream (by name)."""
        return not self.hider()(name)

    def hides(self, name: str) -> bool:
        """Whether a name (a stream, or `NET.STA..` for a station) is hidden from the user."""
        return self.hider()(name)

    def streams(self) -> list[str]:
        """Names of the streams the user may see, sorted."""
        hidden = self.hider()
        return [n for n in self._store.streams() if not hidden(n)]

    def streams_named(self, predicate: Callable[[str], bool]) -> list[str]:
        """The visible streams whose names satisfy `predicate(name)`."""
        hidden = self.hider()
        return self._store.streams_named(lambda n: predicate(n) and not hidden(n))

    def __contains__(self, name: str) -> bool:
        return self.allows(name) and name in self._store

    def __iter__(self) -> Iterator[Any]:
        for name in self.streams():
            yield self[name]

    def __getitem__(self, name: str) -> Any:
        if not self.allows(name):  # the message of a stream that is not there
            raise UnknownStreamError(f"no stream {name!r} in store {self._store.url}; "
                                     f"`belvedere info {self._store.url}` lists them")
        stream = self._store[name]
        self._view.audit_read(self._label, name)
        return stream

    select = Store.select  # over the visible names (it calls self.streams())

    def events(self) -> list[dict[str, Any]]:
        """The store's earthquake catalogue with the picks on hidden streams left out (a pick
        names its stream; its arrival goes with it): every route reads events here."""
        hidden = self.hider()
        out = []
        for e in self._store.events():
            picks = e.get("picks") or []
            mine = [p for p in picks if not hidden(str(p.get("stream", "")))]
            out.append(e if len(mine) == len(picks) else {**e, "picks": mine})
        return out

    def nbytes(self, prefix: str = "") -> int:
        """Bytes on disk: of the visible streams when some are hidden (the total would hint
        at what is hidden)."""
        if prefix:
            return self._store.nbytes(prefix) if self.allows(prefix) else 0
        every = self._store.streams()
        hidden = self.hider()
        names = [n for n in every if not hidden(n)]
        if len(names) == len(every):
            return self._store.nbytes()
        return sum(self._store.nbytes(n) for n in names)


class UserSources:
    """`Sources` as seen by one user: the same methods, over what the user may see."""

    def __init__(self, sources: Any, policy: Policy, user: User, audit: Any = None,
                 route: str = "", clock: Callable[[], int] = now_ns):
        self.base = sources
        self.policy = policy
        self.user = user
        self.audit = audit
        self.route = route
        self.clock = clock
        self.tile_url = sources.tile_url
        self._audited: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def for_user(self, user: User, route: str = "") -> UserSources:
        """A view for another user (from the whole sources, never from this narrower view)."""
        return UserSources(self.base, self.policy, user, self.audit, route or self.route,
                           self.clock)

    # -- what is listed -------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        """The data stores the user may see (the first is the default)."""
        now = self.clock()
        return [label for label in self.base.labels
                if self.policy.allows_store(label, self.user, now)]

    @property
    def urls(self) -> list[str]:
        """Their URLs."""
        return [self.base.urls[self.base.labels.index(label)] for label in self.labels]

    @property
    def usage_labels(self) -> list[str]:
        """The usage stores, when the user may see them."""
        return list(self.base.usage_labels) if self.policy.allows_usage(self.user) else []

    @property
    def usage_urls(self) -> list[str]:
        """Their URLs."""
        return list(self.base.usage_urls) if self.policy.allows_usage(self.user) else []

    # -- lookups --------------------------------------------------------------------------
    def resolve(self, label: str | None) -> str:
        """As `Sources.resolve`, over the visible stores (a hidden one is "not served")."""
        labels = self.labels
        if not labels:
            raise NotServedError("no data store is served here for you"
                                 + (" (log in to see more)" if self.user.anonymous else ""))
        if label is None or label == "":
            return labels[0]
        for key in (label, self._label_of_url(label)):
            if key in labels:
                return key
        if label.isdigit() and int(label) < len(labels):
            return labels[int(label)]
        raise NotServedError(f"store={label!r} is not served here; the stores are: "
                             + ", ".join(labels))

    def _label_of_url(self, url: str) -> str | None:
        return self.base.labels[self.base.urls.index(url)] if url in self.base.urls else None

    def resolve_or_first(self, label: str | None) -> tuple[str, list[str]]:
        """`resolve(label)` and no errors, or the first visible store and why not `label`."""
        try:
            return self.resolve(label), []
        except ValueError as exc:
            labels = self.labels
            if not labels:
                raise
            return labels[0], [str(exc)]

    def store(self, label: str | None = None) -> UserStore:
        """The visible store with this label, its streams filtered for the user."""
        key = self.resolve(label)
        return UserStore(self.base.store(key), key, self)

    def usage(self, label: str | None = None):
        """The usage store with this label, when the user may see usage stores."""
        if not self.policy.allows_usage(self.user):
            raise NotServedError("no usage store is served here for you"
                                 + (" (log in to see more)" if self.user.anonymous else ""))
        store = self.base.usage(label)
        self.audit_read(label or self.base.usage_labels[0], "", kind="usage")
        return store

    def cached(self, key: str, compute, max_age_s: float = 300.0):
        """`Sources.cached`, kept apart per set of groups (what is computed depends on them)."""
        return self.base.cached(f"{self.user.key()}|{key}", compute, max_age_s)

    # -- the audit log --------------------------------------------------------------------
    def audit_read(self, label: str, stream: str, kind: str = "stream") -> None:
        """Log a read of restricted data (at most once a minute per view and stream)."""
        if self.audit is None:
            return
        now = self.clock()
        if kind == "stream" and not self.policy.restricted(label, stream, now):
            return
        if kind == "usage" and not self.policy.usage_groups:
            return
        mono = time.monotonic()
        with self._lock:
            last = self._audited.get((label, stream))
            if last is not None and mono - last < AUDIT_EVERY_S:
                return
            self._audited[(label, stream)] = mono
        self.audit.record(self.user, self.route, label, stream, kind)


def user_sources(sources: Any, user: User | None, route: str = "") -> Any:
    """`sources` as `user` may see them (the sources themselves when no policy is set)."""
    policy = getattr(sources, "policy", None)
    if isinstance(sources, UserSources):
        return sources.for_user(user or ANONYMOUS, route)
    if policy is None:
        return sources
    return UserSources(sources, policy, user or ANONYMOUS, getattr(sources, "audit", None),
                       route)
