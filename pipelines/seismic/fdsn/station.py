"""Station metadata of the selected channels: the StationXML kept in the stores (responses
included), cut to the requested level, plus channel entries for streams that came without
StationXML (from what the store knows: codes, rate, span, coordinates when given)."""

from __future__ import annotations

import copy
import io
import threading
from dataclasses import dataclass

from pipelines.seismic.fdsn.select import Selection, codes_of, in_box_and_radius
from pipelines.store import Store, station_xml, station_xml_documents
from pipelines.timebase import parse_time


def last_ingest(stream) -> int | None:
    """When a file was last ingested into a stream (ns), from its provenance."""
    stamps = [p.get("ingested_at") for p in stream.attrs.get("provenance", [])
              if isinstance(p, dict) and p.get("ingested_at")]
    return parse_time(max(stamps)) if stamps else None

LEVELS = ("network", "station", "channel", "response")
WORLD = (-90.0, 90.0, -180.0, 180.0)
_parsed: dict[str, object] = {}  # digest -> Inventory: documents are immutable by digest
_lock = threading.Lock()


@dataclass(frozen=True)
class StationQuery:
    """What a station request asks for besides codes and the channel-epoch window."""

    selection: Selection
    level: str = "station"
    startbefore: int | None = None
    startafter: int | None = None
    endbefore: int | None = None
    endafter: int | None = None
    box: tuple[float, float, float, float] = (-90.0, 90.0, -180.0, 180.0)
    # (latitude, longitude, minradius, maxradius) in degrees, or None: no radius constraint.
    radius: tuple[float, float, float, float] | None = None
    updatedafter: int | None = None  # ns: metadata ingested after this time only

    @property
    def geographic(self) -> bool:
        """Whether the query constrains coordinates (box or radius)."""
        return self.box != WORLD or self.radius is not None


def _inventory(store: Store, digest: str):
    from obspy import read_inventory

    with _lock:
        inv = _parsed.get(digest)
    if inv is None:
        inv = read_inventory(io.BytesIO(station_xml(store, digest)), format="STATIONXML")
        with _lock:
            _parsed[digest] = inv
    return inv


def _ns(t) -> int | None:
    return None if t is None else int(t.ns)


def _epoch_ok(q: StationQuery, start_ns: int | None, end_ns: int | None) -> bool:
    if not q.selection.overlaps(start_ns, end_ns):
        return False
    if q.startbefore is not None and not (start_ns is not None and start_ns < q.startbefore):
        return False
    if q.startafter is not None and not (start_ns is not None and start_ns > q.startafter):
        return False
    if q.endbefore is not None and not (end_ns is not None and end_ns < q.endbefore):
        return False
    return not (q.endafter is not None and end_ns is not None and end_ns <= q.endafter)


def _in_box(q: StationQuery, lat, lon) -> bool:
    """Within the latitude/longitude box (across the antimeridian when minlongitude >
    maxlongitude) and the radius, as the FDSN station specification defines them."""
    if lat is None or lon is None:
        return not q.geographic
    return in_box_and_radius(q.box, q.radius, float(lat), float(lon))


def _updated_ok(q: StationQuery, updated_ns: int | None) -> bool:
    return q.updatedafter is None or (updated_ns is not None and updated_ns > q.updatedafter)


def _channels_given(sel: Selection) -> bool:
    return sel.location != ("*",) or sel.channel != ("*",)


def inventory(stores: list[Store], queries: list[StationQuery]):
    """An ObsPy Inventory of what the queries name, cut to their level (the first query's)."""
    from obspy import UTCDateTime
    from obspy.core.inventory import Channel, Comment, Inventory, Network, Station

    level = queries[0].level
    networks: dict[str, Network] = {}
    stations: dict[tuple, Station] = {}
    described: set[str] = set()

    def add(net_src, sta_src, chans):
        net = networks.get(net_src.code)
        if net is None:
            net = copy.copy(net_src)
            net.stations = []
            networks[net.code] = net
        key = (net.code, sta_src.code, _ns(sta_src.start_date))
        sta = stations.get(key)
        if sta is None:
            sta = copy.copy(sta_src)
            sta.channels = []
            stations[key] = sta
            net.stations.append(sta)
        for c in chans:
            if level != "response":
                c = copy.copy(c)
                c.response = None
            sta.channels.append(c)

    for store in stores:
        hides = getattr(store, "hider", lambda: lambda name: False)()  # a user's view of it
        for doc in reversed(station_xml_documents(store)):  # the newest document first
            inv = _inventory(store, doc["xxh3_128"])
            doc_updated = parse_time(doc["ingested_at"]) if doc.get("ingested_at") else None
            for n in inv:
                for s in n:
                    if hides(f"{n.code}.{s.code}.."):
                        continue
                    chans, seen = [], False
                    for c in s:
                        cid = f"{n.code}.{s.code}.{c.location_code}.{c.code}"
                        if hides(cid):
                            continue
                        epoch = f"{cid}@{_ns(c.start_date)}"
                        for q in queries:
                            if (q.selection.matches_codes((n.code, s.code, c.location_code,
                                                           c.code))
                                    and _epoch_ok(q, _ns(c.start_date), _ns(c.end_date))
                                    and _updated_ok(q, doc_updated)
                                    and _in_box(q, c.latitude, c.longitude)):
                                seen = True
                                if epoch not in described:
                                    described.add(epoch)
                                    described.add(cid)
                                    chans.append(c)
                                break
                    if not seen and not len(s.channels):
                        seen = any(
                            not _channels_given(q.selection)
                            and q.selection.matches_codes((n.code, s.code, "", ""))
                            and _epoch_ok(q, _ns(s.start_date), _ns(s.end_date))
                            and _updated_ok(q, doc_updated)
                            and _in_box(q, s.latitude, s.longitude) for q in queries)
                    if seen or chans:
                        add(n, s, chans)
        # Streams that came without StationXML: what the store knows.
        for q in queries:
            from pipelines.seismic.fdsn.select import matching_streams

            for _, stream in matching_streams(store, [q.selection]):
                cid = ".".join(codes_of(stream.name))
                if cid in described:
                    continue
                net_c, sta_c, loc_c, cha_c = codes_of(stream.name)
                t0, t1 = stream.span_ns
                if not _epoch_ok(q, t0, t1):
                    continue
                if not _updated_ok(q, last_ingest(stream)):
                    continue
                coords = stream.attrs.get("coordinates") or {}
                lat, lon = coords.get("latitude", 0.0), coords.get("longitude", 0.0)
                if not _in_box(q, lat, lon) if coords else q.geographic:
                    continue  # unknown coordinates never match a geographic constraint
                described.add(cid)
                start, end = UTCDateTime(ns=t0), UTCDateTime(ns=t1)
                chan = Channel(cha_c, loc_c, latitude=lat, longitude=lon,
                               elevation=coords.get("elevation", 0.0),
                               depth=coords.get("depth", 0.0), start_date=start, end_date=end,
                               sample_rate=stream.sampling_rate,
                               azimuth=stream.attrs.get("azimuth"), dip=stream.attrs.get("dip"))
                if not coords:
                    chan.comments.append(Comment(
                        "no StationXML was ingested for this stream: coordinates unknown (0)"))
                add(Network(net_c), Station(sta_c, latitude=lat, longitude=lon,
                                            elevation=coords.get("elevation", 0.0),
                                            start_date=start, end_date=end,
                                            site=None), [chan])
    nets = list(networks.values())
    for net in nets:
        if net.start_date is None and net.stations:  # made from streams: their stations' span
            net.start_date = min(s.start_date for s in net.stations)
            net.end_date = max(s.end_date for s in net.stations)
        net.stations.sort(key=lambda s: (s.code, _ns(s.start_date) or 0))
        for s in net.stations:
            s.channels.sort(key=lambda c: (c.location_code, c.code, _ns(c.start_date) or 0))
            if level in ("network", "station"):
                s.total_number_of_channels = s.total_number_of_channels or len(s.channels)
                s.selected_number_of_channels = len(s.channels)
                s.channels = []
        if level == "network":
            net.total_number_of_stations = net.total_number_of_stations or len(net.stations)
            net.selected_number_of_stations = len(net.stations)
            net.stations = []
    nets.sort(key=lambda n: n.code)
    return Inventory(networks=nets, source="Belvedere", sender="Belvedere")


def as_xml(inv) -> bytes:
    """The inventory as FDSN StationXML."""
    buf = io.BytesIO()
    inv.write(buf, format="STATIONXML")
    return buf.getvalue()


def as_text(inv, level: str) -> bytes:
    """The inventory in the FDSN text format (ObsPy's writer: its header exactly)."""
    buf = io.StringIO()
    inv.write(buf, format="STATIONTXT", level="channel" if level == "response" else level)
    return buf.getvalue().encode("utf-8")
