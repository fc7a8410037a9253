"""The audit log: one JSON line per access to restricted data (who, what, when, by which route).

    {"time": "2026-12-01T12:00:00.123456Z", "event": "read", "user": "alice",
     "groups": ["seismo"], "via": "oidc", "route": "/waveforms", "store": "demo.zarr",
     "stream": "XX.SEC.00.HHZ", "kind": "stream"}

Logins, logouts and refused logins are lines too (`event` "login", "logout", "login-failed").
JSON lines are what log shippers (Filebeat, Vector, Fluent Bit) and `pandas.read_json(...,
lines=True)` read; each line is written with one `write` on a file opened for appending, so
lines of several server processes do not interleave.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from dashboard.access.policy import User
from pipelines.timebase import utc_iso

__all__ = ["AuditLog"]

log = logging.getLogger(__name__)


class AuditLog:
    """Appends audit lines to a file (and the server log at INFO)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def write(self, event: str, user: User, **fields: object) -> None:
        """One line: the time, the event, the user and whatever else is given."""
        line = {"time": utc_iso(time.time_ns()), "event": event, "user": user.name or None,
                "groups": sorted(user.groups), "via": user.via or None, **fields}
        text = json.dumps(line, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        log.info("audit %s", text.rstrip())

    def record(self, user: User, route: str, store: str, stream: str, kind: str) -> None:
        """A read of restricted data."""
        self.write("read", user, route=route, store=store, stream=stream or None, kind=kind)
