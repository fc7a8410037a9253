"""Which streams an FDSN request names: NET/STA/LOC/CHA wildcards and lists, `--` for the
empty location, and a time window."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pipelines.ingest.append import channel_of
from pipelines.store import Store, Stream

# Codes are letters, digits and the FDSN wildcards; anything else (a slash, a dot) is refused
# before it reaches a pattern, so a parameter cannot name a path.
_CODE = re.compile(r"^[A-Za-z0-9*?_-]{0,8}$")
FIELDS = ("network", "station", "location", "channel")


class QueryError(ValueError):
    """A request the services cannot answer as asked (the message says which parameter)."""


def code_patterns(field: str, value: str | None) -> tuple[str, ...]:
    """The patterns of one NET/STA/LOC/CHA parameter (`*` when absent); `--` is the empty
    location. QueryError for a code with characters FDSN codes never have."""
    if value is None or value == "":
        return ("*",)
    out = []
    for part in value.split(","):
        part = part.strip()
        if part == "--":
            part = ""
        if not _CODE.match(part) or (part == "" and field != "location"):
            raise QueryError(f"{field}={value!r}: codes are letters, digits and the wildcards "
                             "* and ? (the empty location is --), separated by commas")
        out.append(part.upper())
    return tuple(out)


@dataclass(frozen=True)
class Selection:
    """One line of a request: code patterns per field and a [t0, t1) window (None: open)."""

    network: tuple[str, ...] = ("*",)
    station: tuple[str, ...] = ("*",)
    location: tuple[str, ...] = ("*",)
    channel: tuple[str, ...] = ("*",)
    t0_ns: int | None = None
    t1_ns: int | None = None

    def matches_codes(self, codes: tuple[str, str, str, str]) -> bool:
        """Whether NET, STA, LOC, CHA match this selection's patterns."""
        return all(any(fnmatch.fnmatchcase(c.upper(), p) for p in pats)
                   for c, pats in zip(codes, (self.network, self.station, self.location,
                                             self.channel), strict=True))

    def overlaps(self, start_ns: int | None, end_ns: int | None) -> bool:
        """Whether [start, end) (None: open) meets this selection's window."""
        return ((self.t1_ns is None or start_ns is None or start_ns < self.t1_ns)
                and (self.t0_ns is None or end_ns is None or end_ns > self.t0_ns))


def codes_of(name: str) -> tuple[str, str, str, str] | None:
    """NET, STA, LOC, CHA of a stream name (epoch suffix dropped), or None for other names."""
    parts = channel_of(name).split(".")
    return (parts[0], parts[1], parts[2], parts[3]) if len(parts) == 4 else None


def matching_streams(store: Store, selections: Iterable[Selection]
                     ) -> Iterator[tuple[Selection, Stream]]:
    """(selection, regular stream) for every stream a selection names whose span meets its
    window, in selection order then name order; only matching streams are opened."""
    selections = list(selections)

    def named(n: str) -> bool:
        codes = codes_of(n)
        return codes is not None and any(s.matches_codes(codes) for s in selections)

    names = store.streams_named(named)
    opened: dict[str, Stream] = {}
    for sel in selections:
        for name in names:
            codes = codes_of(name)
            if not sel.matches_codes(codes):
                continue
            if name not in opened:
                opened[name] = store[name]
            stream = opened[name]
            if stream.kind != "regular" or stream.span_ns is None:
                continue
            if sel.overlaps(*stream.span_ns):
                yield sel, stream


def in_box_and_radius(box: tuple[float, float, float, float],
                      radius: tuple[float, float, float, float] | None,
                      lat: float, lon: float) -> bool:
    """Within the latitude/longitude box (across the antimeridian when minlongitude >
    maxlongitude) and, if given, the radius ring (center lat, lon, min, max in degrees), as
    the FDSN station and event specifications define them."""
    lat0, lat1, lon0, lon1 = box
    in_lon = lon0 <= lon <= lon1 if lon0 <= lon1 else (lon >= lon0 or lon <= lon1)
    if not (lat0 <= lat <= lat1 and in_lon):
        return False
    if radius is None:
        return True
    from obspy.geodetics import locations2degrees

    clat, clon, rmin, rmax = radius
    return rmin <= float(locations2degrees(clat, clon, lat, lon)) <= rmax
