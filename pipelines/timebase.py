"""Time base: integer nanoseconds, and times as people type them (Grafana-style URLs: ISO
times in UTC, epoch numbers, `now`, `now-6h`, `now-7d`), shared by the CLI, URLs and readers."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd

NS = 1_000_000_000
DAY_NS = 86400 * NS


def utc_iso(ns: int) -> str:
    """ISO-8601 UTC text of integer nanoseconds since the epoch (to the microsecond)."""
    sec, rem = divmod(int(ns), NS)
    dt = datetime.fromtimestamp(sec, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{rem // 1000:06d}Z"


def day_start_ns(ns: int) -> int:
    """Nanoseconds of 00:00 UTC of the day holding `ns`."""
    return int(ns) // DAY_NS * DAY_NS

UNITS_NS = {"ms": NS // 1000, "s": NS, "m": 60 * NS, "h": 3600 * NS, "d": 86400 * NS,
            "w": 7 * 86400 * NS, "y": 365 * 86400 * NS}
_RELATIVE = re.compile(r"^(?i:now)\s*(?:([+-])\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y))?$")
_HELP = ("use an ISO time (2024-03-01T12:00:00Z), epoch milliseconds (1709294400000) "
         "or a time relative to now (now, now-6h, now-7d; units s m h d w y)")


def now_ns() -> int:
    """The current time in integer nanoseconds since the epoch."""
    return time.time_ns()


def parse_time(text: str, now_ns: int | None = None) -> int:
    """Integer ns of a time given as ISO text, epoch number or `now[+-]N<unit>`."""
    s = str(text).strip()
    if not s:
        raise ValueError(f"empty time: {_HELP}")
    rel = _RELATIVE.match(s)
    if rel:
        sign, amount, unit = rel.groups()
        now_ns = time.time_ns() if now_ns is None else now_ns
        if sign is None:
            return int(now_ns)
        delta = int(round(float(amount) * UNITS_NS[unit]))
        return int(now_ns) + (delta if sign == "+" else -delta)
    if re.fullmatch(r"-?\d+(\.\d+)?", s):
        return _epoch_ns(float(s), s)
    try:
        ts = pd.Timestamp(s)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"cannot read the time {s!r}: {_HELP}") from None
    if ts is pd.NaT:
        raise ValueError(f"cannot read the time {s!r}: {_HELP}")
    if ts.tzinfo is not None:  # an explicit offset is honoured; naive times are UTC
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.value)


def _epoch_ns(value: float, text: str) -> int:
    # Grafana writes epoch milliseconds; accept seconds and finer units by magnitude.
    mag = abs(value)
    if mag < 1e11:
        scale = NS
    elif mag < 1e14:
        scale = NS // 1000
    elif mag < 1e17:
        scale = 1000
    else:
        scale = 1
    ns = value * scale
    if not np.isfinite(ns) or abs(ns) > 2**63 - 1:
        raise ValueError(f"cannot read the time {text!r}: out of range")
    return int(round(ns))


def parse_range(from_text: str | None, to_text: str | None, now_ns: int | None = None
                ) -> tuple[int | None, int | None]:
    """(t0, t1) ns from `from`/`to` texts (None stays None); ValueError names the bad one or
    says that from is not before to."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    try:
        t0 = parse_time(from_text, now_ns) if from_text is not None else None
    except ValueError as exc:
        raise ValueError(f"from={from_text!r}: {exc}") from None
    try:
        t1 = parse_time(to_text, now_ns) if to_text is not None else None
    except ValueError as exc:
        raise ValueError(f"to={to_text!r}: {exc}") from None
    if t0 is not None and t1 is not None and t0 >= t1:
        raise ValueError(f"from={from_text!r} ({utc_iso(t0)}) is not before to={to_text!r} "
                         f"({utc_iso(t1)}); swap them or widen the range")
    return t0, t1


def format_time(ns: int) -> str:
    """Compact ISO UTC text for URLs and widgets (drops zero fractions)."""
    text = utc_iso(ns)  # 2024-03-01T00:00:00.000000Z
    head, frac = text[:-1].split(".")
    frac = frac.rstrip("0")
    return f"{head}.{frac}Z" if frac else f"{head}Z"


def format_duration(ns: float) -> str:
    """Human text of a duration: 90 s -> '1 min 30 s', 3 days -> '3 d'."""
    sec = float(ns) / NS
    if sec < 1:
        return f"{sec * 1000:.3g} ms"
    if sec < 60:
        return f"{sec:.3g} s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if sec >= size:
            count = int(sec // size)
            sec -= count * size
            parts.append(f"{count} {unit}")
        if len(parts) == 2:
            break
    return " ".join(parts)
