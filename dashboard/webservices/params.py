"""FDSN request parameters: names and aliases, times, booleans, size checks, POST bodies."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field

from pipelines.seismic.fdsn.select import QueryError, Selection, code_patterns
from pipelines.timebase import NS, TIME_MAX_NS, TIME_MIN_NS

ALIASES = {"net": "network", "sta": "station", "loc": "location", "cha": "channel",
           "start": "starttime", "end": "endtime", "minlat": "minlatitude",
           "maxlat": "maxlatitude", "minlon": "minlongitude", "maxlon": "maxlongitude",
           "lat": "latitude", "lon": "longitude", "minmag": "minmagnitude",
           "maxmag": "maxmagnitude", "magtype": "magnitudetype"}
MAX_VALUE_CHARS = 2000  # longer than any list of codes a person writes; refuses 10 kB probes
_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})"
                   r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?Z?$")


def parse_time(name: str, text: str) -> int:
    """An FDSN time (`2012-01-02T03:04:05.666666`, Z optional, or a date) as int64 ns."""
    m = _TIME.match(text.strip())
    if not m:
        raise QueryError(f"{name}={text!r} is not a time; write YYYY-MM-DDThh:mm:ss[.ssssss] "
                         "(UTC) or YYYY-MM-DD")
    y, mo, d, h, mi, s, frac = m.groups()
    try:
        import datetime as dt

        dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError as exc:
        raise QueryError(f"{name}={text!r} is not a valid time: {exc}") from None
    secs = calendar.timegm((int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0)))
    ns = secs * NS + (int((frac or "").ljust(9, "0")) if frac else 0)
    if not TIME_MIN_NS <= ns < TIME_MAX_NS:
        raise QueryError(f"{name}={text!r} is outside the supported range 1800-01-01 to "
                         "2200-01-01")
    return ns


def parse_bool(name: str, text: str) -> bool:
    """`true`/`false` (any case)."""
    v = text.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise QueryError(f"{name}={text!r}: write true or false")


def parse_float(name: str, text: str, lo: float = -1e300, hi: float = 1e300) -> float:
    """A number within [lo, hi]."""
    try:
        v = float(text)
    except ValueError:
        raise QueryError(f"{name}={text!r} is not a number") from None
    if not lo <= v <= hi:
        raise QueryError(f"{name}={text!r} is outside [{lo:g}, {hi:g}]")
    return v


RADIUS = ("latitude", "longitude", "minradius", "maxradius")


def radius(req: Request) -> tuple[float, float, float, float] | None:
    """(latitude, longitude, minradius, maxradius) in degrees, with the specification's
    defaults (0, 0, 0, 180) for those not given; None when none is given."""
    if all(req.get(n) is None for n in RADIUS):
        return None
    lat = parse_float("latitude", req.get("latitude") or "0", -90, 90)
    lon = parse_float("longitude", req.get("longitude") or "0", -180, 180)
    rmin = parse_float("minradius", req.get("minradius") or "0", 0, 180)
    rmax = parse_float("maxradius", req.get("maxradius") or "180", 0, 180)
    if rmin >= rmax:
        raise QueryError(f"minradius={rmin:g} must be less than maxradius={rmax:g}")
    return lat, lon, rmin, rmax


def parse_int(name: str, text: str, lo: int = 0) -> int:
    """A whole number of at least `lo`."""
    try:
        v = int(text)
    except ValueError:
        raise QueryError(f"{name}={text!r} is not a whole number") from None
    if v < lo:
        raise QueryError(f"{name}={text!r} must be at least {lo}")
    return v


@dataclass
class Request:
    """The parameters of one request (long names) and, for POST, its selection lines."""

    params: dict[str, str] = field(default_factory=dict)
    lines: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)

    def get(self, name: str, default: str | None = None) -> str | None:
        """A parameter's value (its long name), or `default`."""
        return self.params.get(name, default)


def _put(req: Request, key: str, value: str, allowed: frozenset[str]) -> None:
    name = ALIASES.get(key.lower(), key.lower())
    if len(value) > MAX_VALUE_CHARS:
        raise QueryError(f"parameter {key} is {len(value):,} characters long; at most "
                         f"{MAX_VALUE_CHARS:,} are accepted")
    if name not in allowed:
        raise QueryError(f"unknown parameter {key!r}; this service accepts: "
                         + ", ".join(sorted(allowed)))
    if name in req.params:
        raise QueryError(f"parameter {key} is given twice")
    req.params[name] = value


def from_query(arguments: dict[str, list[bytes]], allowed: frozenset[str]) -> Request:
    """A GET request's parameters (aliases mapped to long names, unknown names refused)."""
    req = Request()
    for key, values in arguments.items():
        for raw in values:
            _put(req, key, raw.decode("utf-8", "replace"), allowed)
    return req


def from_body(body: bytes, allowed: frozenset[str], max_lines: int = 10000) -> Request:
    """A POST body: `key=value` lines, then `NET STA LOC CHA START END` lines."""
    req = Request()
    text = body.decode("utf-8", "replace")
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" in line and len(line.split()) == 1:
            key, value = line.split("=", 1)
            _put(req, key.strip(), value.strip(), allowed)
            continue
        parts = line.split()
        if len(parts) != 6:
            raise QueryError(f"POST line {n} {line[:80]!r}: write NET STA LOC CHA START END "
                             "(six fields; the empty location is --)")
        if len(req.lines) >= max_lines:
            raise QueryError(f"more than {max_lines} selection lines in one request")
        req.lines.append(tuple(parts))
    if not req.lines:
        raise QueryError("the POST body names no NET STA LOC CHA START END line")
    return req


def selections(req: Request) -> list[Selection]:
    """The selections of a request: its POST lines, or its GET codes and window."""
    if req.lines:
        out = []
        for net, sta, loc, cha, start, end in req.lines:
            t0 = None if start == "*" else parse_time("start", start)
            t1 = None if end == "*" else parse_time("end", end)
            out.append(_selection(net, sta, loc, cha, t0, t1))
        return out
    t0 = parse_time("starttime", req.get("starttime")) if req.get("starttime") else None
    t1 = parse_time("endtime", req.get("endtime")) if req.get("endtime") else None
    return [_selection(req.get("network"), req.get("station"), req.get("location"),
                       req.get("channel"), t0, t1)]


def _selection(net, sta, loc, cha, t0, t1) -> Selection:
    if t0 is not None and t1 is not None and t1 <= t0:
        raise QueryError("the end time must be after the start time")
    return Selection(code_patterns("network", net), code_patterns("station", sta),
                     code_patterns("location", loc), code_patterns("channel", cha), t0, t1)
