"""Times as people type them: ISO-8601 (UTC) or Grafana-style relative (`now`, `now-6h`)."""

from __future__ import annotations

import re
import time

NS = 1_000_000_000
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_RELATIVE = re.compile(r"^now(?:\s*([+-])\s*(\d+(?:\.\d+)?)\s*([smhdwy]))?$")


def parse_time(text: str, now_ns: int | None = None) -> int:
    """Nanoseconds since the epoch for `2024-03-04T12:00`, `2024-03-04`, `now` or `now-6h`."""
    s = text.strip()
    if not s:
        raise ValueError("empty time; give an ISO time such as 2024-03-04T12:00:00 or now-6h")
    m = _RELATIVE.match(s)
    if m:
        now = time.time_ns() if now_ns is None else now_ns
        if not m.group(1):
            return now
        delta = int(float(m.group(2)) * _UNITS[m.group(3)] * NS)
        return now - delta if m.group(1) == "-" else now + delta
    from obspy import UTCDateTime

    try:
        return int(UTCDateTime(s.replace(" ", "T")).ns)
    except Exception:
        raise ValueError(
            f"cannot read {text!r} as a time; use ISO-8601 UTC (2024-03-04T12:00:00) or a "
            "relative time (now, now-6h, now-7d)") from None


def parse_range(start: str | None, end: str | None, now_ns: int | None = None
                ) -> tuple[int | None, int | None]:
    """Parse a from/to pair (either may be None) and check that from is before to."""
    t0 = parse_time(start, now_ns) if start else None
    t1 = parse_time(end, now_ns) if end else None
    if t0 is not None and t1 is not None and t0 >= t1:
        raise ValueError(f"'from' ({start}) must be before 'to' ({end})")
    return t0, t1
