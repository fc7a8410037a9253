"""Events of the stores' catalogues selected as the FDSN event service defines it (time,
magnitude, depth, a latitude/longitude box or a radius, event id, order, limit, offset), as
ObsPy events, written as QuakeML or the FDSN event text format."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from pipelines.seismic.fdsn.select import QueryError, in_box_and_radius
from pipelines.store import Store

ORDERS = ("time", "time-asc", "magnitude", "magnitude-asc")
CATALOG = "belvedere"  # the name the `catalogs` resource gives the stores' catalogue
CONTRIBUTOR = "belvedere"


@dataclass(frozen=True)
class EventQuery:
    """An event request. Depths in km, as FDSN (the store keeps metres); None: no bound."""

    t0_ns: int | None = None
    t1_ns: int | None = None
    box: tuple[float, float, float, float] = (-90.0, 90.0, -180.0, 180.0)
    radius: tuple[float, float, float, float] | None = None  # lat, lon, min, max (degrees)
    mindepth: float | None = None
    maxdepth: float | None = None
    minmagnitude: float | None = None
    maxmagnitude: float | None = None
    magnitudetype: str | None = None
    eventid: str | None = None
    orderby: str = "time"
    limit: int | None = None
    offset: int = 1  # FDSN counts from 1
    includearrivals: bool = False

    def __post_init__(self) -> None:
        if self.orderby not in ORDERS:
            raise QueryError(f"orderby={self.orderby!r}: choose one of {', '.join(ORDERS)}")


def _within(v: float | None, lo: float | None, hi: float | None) -> bool:
    if lo is None and hi is None:
        return True
    return v is not None and (lo is None or v >= lo) and (hi is None or v <= hi)


def _in_area(q: EventQuery, lat: float | None, lon: float | None) -> bool:
    if q.box == EventQuery.box and q.radius is None:
        return True
    if lat is None or lon is None:
        return False
    return in_box_and_radius(q.box, q.radius, lat, lon)


def _id_matches(stored: str, wanted: str) -> bool:
    """An event id matches its full resource id or the id's last part (what the text
    format's EventID column shows)."""
    return wanted in (stored, stored.rsplit("/", 1)[-1], stored.rsplit("=", 1)[-1])


def select_events(stores: list[Store], q: EventQuery) -> list[dict[str, Any]]:
    """The catalogue entries (the stores' event dicts) that the query names, ordered, offset
    and limited; an event in several stores comes once."""
    seen: dict[str, dict[str, Any]] = {}
    for store in stores:
        for e in store.events():
            seen.setdefault(e["id"], e)
    out = []
    for e in seen.values():
        depth_km = None if e.get("depth_m") is None else e["depth_m"] / 1000.0
        if ((q.t0_ns is not None and e["time_ns"] < q.t0_ns)
                or (q.t1_ns is not None and e["time_ns"] > q.t1_ns)
                or not _in_area(q, e.get("latitude"), e.get("longitude"))
                or not _within(depth_km, q.mindepth, q.maxdepth)
                or not _within(e.get("magnitude"), q.minmagnitude, q.maxmagnitude)
                or (q.magnitudetype is not None
                    and (e.get("magnitude_type") or "").lower() != q.magnitudetype.lower())
                or (q.eventid is not None and not _id_matches(e["id"], q.eventid))):
            continue
        out.append(e)
    key = "magnitude" if q.orderby.startswith("magnitude") else "time_ns"
    desc = not q.orderby.endswith("-asc")
    # Events without a magnitude come last either way.
    out.sort(key=lambda e: e["time_ns"], reverse=desc)
    out.sort(key=lambda e: (e.get(key) is None, (-1 if desc else 1) * (e.get(key) or 0)))
    out = out[max(q.offset, 1) - 1:]
    return out if q.limit is None else out[:q.limit]


def to_event(e: dict[str, Any], arrivals: bool = True):
    """One stored event as an ObsPy Event: origin, magnitude, description and, with
    `arrivals`, its picks with an arrival each on the origin."""
    from obspy import UTCDateTime
    from obspy.core.event import (
        Arrival,
        Event,
        EventDescription,
        Magnitude,
        Origin,
        Pick,
        ResourceIdentifier,
        WaveformStreamID,
    )

    origin = Origin(time=UTCDateTime(ns=int(e["time_ns"])), latitude=e.get("latitude"),
                    longitude=e.get("longitude"), depth=e.get("depth_m"))
    ev = Event(resource_id=ResourceIdentifier(e["id"]), origins=[origin])
    ev.preferred_origin_id = origin.resource_id
    if e.get("magnitude") is not None:
        mag = Magnitude(mag=e["magnitude"], magnitude_type=e.get("magnitude_type"),
                        origin_id=origin.resource_id)
        ev.magnitudes = [mag]
        ev.preferred_magnitude_id = mag.resource_id
    if e.get("description"):
        ev.event_descriptions = [EventDescription(text=e["description"], type="region name")]
    if arrivals:
        for p in e.get("picks") or []:
            pick = Pick(time=UTCDateTime(ns=int(p["time_ns"])), phase_hint=p.get("phase"),
                        waveform_id=WaveformStreamID(seed_string=p["stream"]))
            ev.picks.append(pick)
            origin.arrivals.append(Arrival(pick_id=pick.resource_id, phase=p.get("phase")))
    return ev


def catalog(events: list[dict[str, Any]], arrivals: bool, description: str):
    """The events as an ObsPy Catalog."""
    from obspy import Catalog

    return Catalog(events=[to_event(e, arrivals) for e in events], description=description)


def as_quakeml(cat) -> bytes:
    """A catalog as QuakeML 1.2 (ObsPy's writer)."""
    buf = io.BytesIO()
    cat.write(buf, format="QUAKEML")
    return buf.getvalue()


TEXT_HEADER = ("#EventID|Time|Latitude|Longitude|Depth/km|Author|Catalog|Contributor|"
               "ContributorID|MagType|Magnitude|MagAuthor|EventLocationName")


def as_text(events: list[dict[str, Any]]) -> bytes:
    """Events in the FDSN event text format (its header and 13 columns; unknown values
    empty). Written here: ObsPy's EVENTTXT writer fails on an origin without a place."""
    from pipelines.timebase import utc_iso

    def num(v: float | None, fmt: str) -> str:
        return "" if v is None else format(v, fmt)

    lines = [TEXT_HEADER]
    for e in events:
        depth = None if e.get("depth_m") is None else e["depth_m"] / 1000.0
        fields = [e["id"].rsplit("/", 1)[-1], utc_iso(int(e["time_ns"])).rstrip("Z"),
                  num(e.get("latitude"), ".6f"), num(e.get("longitude"), ".6f"),
                  num(depth, ".3f"), "", CATALOG, CONTRIBUTOR, "",
                  e.get("magnitude_type") or "", num(e.get("magnitude"), ".2f"), "",
                  e.get("description") or ""]
        lines.append("|".join(f.replace("|", "/") for f in fields))
    return ("\n".join(lines) + "\n").encode("utf-8")
