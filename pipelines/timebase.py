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
# Times are int64 ns, which reach 1677-2262; the supported range keeps a margin inside that so
# that a window plus its padding never overflows, and still covers every digitised record.
TIME_MIN_NS = -5364662400 * NS  # 1800-01-01T00:00:00Z
TIME_MAX_NS = 7258118400 * NS  # 2200-01-01T00:00:00Z
_RANGE_TEXT = "1800-01-01 to 2200-01-01"
_RELATIVE = re.compile(r"^(?i:now)\s*(?:([+-])\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y))?$")
_HELP = ("use an ISO time (2024-03-01T12:00:00Z), epoch milliseconds (1709294400000) "
         "or a time relative to now (now, now-6h, now-7d; units s m h d w y)")


def now_ns() -> int:
    """The current time in integer nanoseconds since the epoch."""
    return time.time_ns()


def parse_time(text: str, now_ns: int | None = None) -> int:
    """Integer ns of a time given as ISO text, epoch number or `now[+-]N<unit>`; ValueError
    for text that is not a time or a time outside the supported range (1800 to 2200)."""
    ns = _parse_time(text, now_ns)
    if not TIME_MIN_NS <= ns <= TIME_MAX_NS:
        raise ValueError(f"the time {str(text).strip()!r} is outside the supported range "
                         f"{_RANGE_TEXT}: {_HELP}")
    return ns


def in_range(ns: int) -> bool:
    """Whether integer ns lie inside the supported range of times (1800 to 2200)."""
    return TIME_MIN_NS <= int(ns) <= TIME_MAX_NS


def _parse_time(text: str, now_ns: int | None) -> int:
    s = str(text).strip()
    if not s:
        raise ValueError(f"empty time: {_HELP}")
    rel = _RELATIVE.match(s)
    if rel:
        sign, amount, unit = rel.groups()
        now_ns = time.time_ns() if now_ns is None else now_ns
        if sign is None:
            return int(now_ns)
        delta = float(amount) * UNITS_NS[unit]
        if delta > 2 * (TIME_MAX_NS - TIME_MIN_NS):  # `now+1000000y`: no int64 overflow
            return TIME_MAX_NS + 1 if sign == "+" else TIME_MIN_NS - 1
        delta = int(round(delta))
        return int(now_ns) + (delta if sign == "+" else -delta)
    if re.fullmatch(r"-?\d+(\.\d+)?", s):
        return _epoch_ns(float(s), s)
    try:
        ts = pd.Timestamp(s)
    except pd.errors.OutOfBoundsDatetime:  # a valid date outside what int64 ns can hold
        return _year_outside(s)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"cannot read the time {s!r}: {_HELP}") from None
    if ts is pd.NaT:
        raise ValueError(f"cannot read the time {s!r}: {_HELP}")
    if ts.tzinfo is not None:  # an explicit offset is honoured; naive times are UTC
        ts = ts.tz_convert("UTC").tz_localize(None)
    if not 1700 <= ts.year <= 2260:  # pandas holds it at a coarser unit than ns: no `.value`
        return TIME_MAX_NS + 1 if ts.year > 2000 else TIME_MIN_NS - 1
    return int(ts.as_unit("ns").value)


def _year_outside(text: str) -> int:
    # pandas refuses years outside 1677-2262 before we can range-check them: say which side.
    year = re.match(r"^\s*([+-]?\d{1,6})", text)
    if year and int(year.group(1)) >= 2200:
        return TIME_MAX_NS + 1
    if year:
        return TIME_MIN_NS - 1
    raise ValueError(f"cannot read the time {text!r}: {_HELP}")


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
    if not np.isfinite(ns):
        raise ValueError(f"cannot read the time {text!r}: {_HELP}")
    if abs(ns) > 2**62:  # outside any supported range; keep it an int64 for the check
        return TIME_MAX_NS + 1 if ns > 0 else TIME_MIN_NS - 1
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
