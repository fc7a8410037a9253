"""Who may see what: the datasets of `[access]` as rules, decided per request against the clock.

Pure code (no I/O, no server): `Policy.allows_stream(store, stream, user, now)` is the one
question every route asks, through the per-user view of the sources (`dashboard.access.view`).

A rule names a store (a label or a wildcard) and, optionally, stream wildcards within it (a
network `XX.*`, a station `BV.SECRET.*`, streams `BV.ALPS.00.HH?`); it lists the groups that
may see it (none: public) and may end on an embargo date, after which it no longer restricts.
A stream is visible when every rule in force that names it admits one of the user's groups:
the most restrictive rule wins, so a second rule can never open what a first one closes.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["ANONYMOUS", "Policy", "Rule", "User", "embargo_ns"]

NS = 1_000_000_000


@dataclass(frozen=True)
class User:
    """A person as the server knows them: a name (empty: anonymous), groups, how they logged in."""

    name: str = ""
    groups: frozenset[str] = frozenset()
    via: str = ""  # "password", "oidc", "digest"; empty for anonymous

    @property
    def anonymous(self) -> bool:
        """True for someone not logged in."""
        return not self.name

    def key(self) -> str:
        """A short text that is equal for users who see the same (caches are kept per key)."""
        return "anon" if self.anonymous else self.name + "|" + ",".join(sorted(self.groups))


ANONYMOUS = User()


def _nothing(name: str) -> bool:
    return False


def _everything(name: str) -> bool:
    return True


@functools.lru_cache(maxsize=256)
def _matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    rx = re.compile("|".join(fnmatch.translate(p) for p in patterns))
    return lambda name: rx.match(name) is not None


def embargo_ns(value: date | datetime | None) -> int | None:
    """An embargo end (a date: its 00:00 UTC; a naive time: UTC) as ns since the epoch."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp()) * NS + value.microsecond * 1000


@dataclass(frozen=True)
class Rule:
    """One dataset entry: store wildcard, stream wildcards (none: the whole store), groups."""

    store: str = "*"
    streams: tuple[str, ...] = ()
    groups: frozenset[str] = frozenset()
    until_ns: int | None = None  # embargo end: from then on the rule restricts nothing

    def in_force(self, now_ns: int) -> bool:
        """Whether the rule still restricts at `now_ns` (public rules never do)."""
        return bool(self.groups) and (self.until_ns is None or now_ns < self.until_ns)

    def names_store(self, label: str) -> bool:
        """Whether the rule is about this store (or part of it)."""
        return fnmatch.fnmatchcase(label, self.store)

    def admits(self, user: User) -> bool:
        """Whether one of the user's groups is listed."""
        return bool(self.groups & user.groups)


@dataclass(frozen=True)
class Policy:
    """The rules of `[access]`; with no rules and no usage groups everything is public."""

    rules: tuple[Rule, ...] = ()
    usage_groups: frozenset[str] = frozenset()
    admin_groups: frozenset[str] = frozenset({"admin"})
    _whole_store: tuple[Rule, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_whole_store", tuple(r for r in self.rules if not r.streams))

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        """The policy of an `[access]` section (`belvedere.config.AccessSettings`)."""
        rules = tuple(Rule(d.store, tuple(d.streams), frozenset(d.groups),
                           embargo_ns(d.embargo_until)) for d in settings.datasets)
        return cls(rules, frozenset(settings.usage_groups), frozenset(settings.admin_groups))

    @property
    def restricts_anything(self) -> bool:
        """Whether any rule or the usage store restricts anyone at all (ever)."""
        return bool(self.usage_groups) or any(r.groups for r in self.rules)

    def is_admin(self, user: User) -> bool:
        """Admins see everything."""
        return bool(self.admin_groups & user.groups)

    def allows_store(self, label: str, user: User, now_ns: int) -> bool:
        """Whether the store is shown at all (its name included)."""
        if self.is_admin(user):
            return True
        return all(r.admits(user) for r in self._whole_store
                   if r.in_force(now_ns) and r.names_store(label))

    def hider(self, label: str, user: User, now_ns: int) -> Callable[[str], bool]:
        """A test of stream names of this store: true for those hidden from this user now.

        One regular expression of every pattern that hides something from the user (rules in
        force that do not admit them): over 10,000 names and three rules, fnmatch per name
        and rule took 114 ms here, this 8 ms (a page lists its store's streams several
        times)."""
        if not self.allows_store(label, user, now_ns):
            return _everything
        if self.is_admin(user):
            return _nothing
        patterns = tuple(sorted({p for r in self.rules
                                 if r.streams and r.in_force(now_ns) and r.names_store(label)
                                 and not r.admits(user) for p in r.streams}))
        return _matcher(patterns) if patterns else _nothing

    def allows_stream(self, label: str, stream: str, user: User, now_ns: int) -> bool:
        """Whether this user may see this stream (name, samples, metadata) now."""
        return not self.hider(label, user, now_ns)(stream)

    def restricted(self, label: str, stream: str, now_ns: int) -> bool:
        """Whether the stream is restricted now (not public): its accesses are audited."""
        return not self.allows_stream(label, stream, ANONYMOUS, now_ns)

    def allows_usage(self, user: User) -> bool:
        """Whether the usage stores (/resources) are shown."""
        return not self.usage_groups or self.is_admin(user) or bool(
            self.usage_groups & user.groups)
