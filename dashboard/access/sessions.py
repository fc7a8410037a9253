"""The session cookie: who is logged in, signed with the cookie secret, with an expiry.

The value is Tornado's signed-value format (HMAC-SHA256, version 2) around a small JSON
document {u: name, g: groups, v: how, exp: seconds since the epoch}. Any change to it breaks
the signature; a cookie past `exp` is refused even when Tornado's own (days-grained) age
check would still pass it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from tornado.web import create_signed_value, decode_signed_value

from dashboard.access.policy import User

__all__ = ["COOKIE", "SessionCookie", "SessionProblem"]

COOKIE = "belvedere_session"


class SessionProblem(Exception):
    """A session cookie that cannot be used: `reason` is "expired" or "invalid"."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class SessionCookie:
    """Makes and reads session cookies with one secret and lifetime."""

    secret: str
    max_age_s: float = 12 * 3600

    def make(self, user: User, now: float | None = None) -> str:
        """The cookie value that says `user` is logged in until now + max_age_s."""
        now = time.time() if now is None else now
        doc = {"u": user.name, "g": sorted(user.groups), "v": user.via,
               "exp": int(now + self.max_age_s)}
        return create_signed_value(self.secret, COOKIE, json.dumps(doc, separators=(",", ":")),
                                   version=2).decode()

    def read(self, value: str, now: float | None = None) -> User:
        """The user a cookie value names; SessionProblem when forged, altered or expired."""
        now = time.time() if now is None else now
        days = self.max_age_s / 86400 + 1  # Tornado's check is in days; ours is exact below
        raw = decode_signed_value(self.secret, COOKIE, value, max_age_days=days,
                                  min_version=2)
        if raw is None:
            raise SessionProblem("invalid", "the session cookie is not valid (altered, or "
                                 "signed by another server); log in again")
        try:
            doc = json.loads(raw)
            user = User(str(doc["u"]), frozenset(map(str, doc["g"])), str(doc.get("v", "")))
            exp = float(doc["exp"])
        except (ValueError, KeyError, TypeError):
            raise SessionProblem("invalid", "the session cookie is not valid; log in again"
                                 ) from None
        if not user.name:
            raise SessionProblem("invalid", "the session cookie names nobody; log in again")
        if now >= exp:
            raise SessionProblem("expired", "your session has expired; log in again")
        return user
