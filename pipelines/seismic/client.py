"""An ObsPy archive client over a Belvedere store: the names and semantics of ObsPy's
`filesystem.sds.Client` (waveforms), `fdsn.Client` (stations, events) and
`filesystem.tsindex.Client` (availability).

A store is read through `pipelines.store`; a Belvedere server's URL is read through ObsPy's
own FDSN client against the server's `/fdsnws/` services.
"""

from __future__ import annotations

import fnmatch
import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from pipelines.ingest.append import channel_of
from pipelines.store import Store, StoreError, open_store
from pipelines.timebase import NS

__all__ = ["Client", "parse_nslc"]

_WAVEFORM_PAD = 2  # sample periods read beyond the window, so that ObsPy's trim decides
_SERVER_PAD_S = 10.0  # seconds asked of a server beyond the window (rates down to 0.1 Hz)


def parse_nslc(stream: str) -> tuple[str, str, str, str] | None:
    """(network, station, location, channel) of a seismic stream name, None for others."""
    parts = channel_of(stream).split(".")
    return tuple(parts) if len(parts) == 4 else None  # type: ignore[return-value]


def _codes(pattern: str | None) -> list[str]:
    """A code pattern as a list of fnmatch patterns: commas separate, `--` is empty."""
    if pattern is None or pattern == "":
        return ["*"] if pattern is None else [""]
    return ["" if p.strip() == "--" else p.strip() for p in str(pattern).split(",")]


def _matches(code: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(code, p) for p in patterns)


def _ns(t: Any) -> int | None:
    """int64 ns of a UTCDateTime, an ISO string, a datetime or a float of seconds (None)."""
    if t is None:
        return None
    from obspy import UTCDateTime

    return int(UTCDateTime(t).ns)


class Client:
    """Read a Belvedere store (or server) as ObsPy reads an archive.

    Parameters
    ----------
    source : str or pipelines.store.Store
        A store: a folder path, `file://...` or an fsspec URL (`s3://bucket/campus.zarr`,
        `https://host/campus.zarr`); or a Belvedere server's URL (`http://host:5006`), read
        through ObsPy's FDSN client against its `/fdsnws/` services.
    timeout : float
        Seconds the FDSN client waits for a server (unused for stores).

    Raises
    ------
    StoreError
        When `source` is neither a store nor (for http URLs) a server with FDSN services.

    Examples
    --------
    >>> from belvedere import Client                                  # doctest: +SKIP
    >>> c = Client("campus.zarr")                                     # doctest: +SKIP
    >>> st = c.get_waveforms("BV", "ALPA", "00", "HH?", t, t + 600)   # doctest: +SKIP
    """

    def __init__(self, source: str | Store, timeout: float = 30.0):
        self.fdsn = None
        if isinstance(source, Store):
            self.store: Store | None = source
            return
        source = str(source)
        try:
            self.store = open_store(source)
        except StoreError as exc:
            if not source.startswith(("http://", "https://")):
                raise
            self.store = None
            self.fdsn = _fdsn_client(source, timeout, exc)

    def __repr__(self) -> str:
        where = self.store.url if self.store is not None else self.fdsn.base_url
        return f"Client({where!r})"

    # -- what is there -------------------------------------------------------------------
    def _store(self, what: str) -> Store:
        if self.store is None:
            raise StoreError(f"{what} needs the store itself; the server's FDSN services do "
                             f"not offer it: open the store's path or URL instead")
        return self.store

    def _streams(self, network: str | None, station: str | None, location: str | None,
                 channel: str | None) -> list[tuple[str, tuple[str, str, str, str]]]:
        """(stream name, nslc) of the store's seismic streams matching the codes."""
        pats = [_codes(network), _codes(station), _codes(location), _codes(channel)]
        out = []
        for name in self._store("listing streams").streams():
            nslc = parse_nslc(name)
            if nslc and all(_matches(c, p) for c, p in zip(nslc, pats, strict=True)):
                out.append((name, nslc))
        return out

    def get_all_nslc(self, sds_type: str | None = None, datetime: Any = None
                     ) -> list[tuple[str, str, str, str]]:
        """All (network, station, location, channel) in the store, sorted, as
        `sds.Client.get_all_nslc`; with `datetime`, those with data on that UTC day.

        Parameters
        ----------
        sds_type : str, optional
            Accepted for compatibility with the SDS client (a store has one data type).
        datetime : UTCDateTime, optional
            Only the channels with samples on this day.

        Returns
        -------
        list of (str, str, str, str)
        """
        if datetime is None:
            return sorted({nslc for _, nslc in self._streams(None, None, None, None)})
        from obspy import UTCDateTime

        day = UTCDateTime(UTCDateTime(datetime).date)
        return self.get_nslc(starttime=day, endtime=day + 86400 - 1e-6)

    def get_nslc(self, network: str | None = None, station: str | None = None,
                 location: str | None = None, channel: str | None = None,
                 starttime: Any = None, endtime: Any = None) -> list[tuple[str, str, str, str]]:
        """The (network, station, location, channel) with samples in [starttime, endtime],
        sorted, as `tsindex.Client.get_nslc` (wildcards `*` `?`, comma lists, `--`)."""
        t0, t1 = _ns(starttime), _ns(endtime)
        found = set()
        for name, nslc in self._streams(network, station, location, channel):
            if _spans(self.store[name], t0, t1):
                found.add(nslc)
        return sorted(found)

    # -- waveforms -----------------------------------------------------------------------
    def get_waveforms(self, network: str, station: str, location: str, channel: str,
                      starttime: Any, endtime: Any, merge: int | None = -1, **kwargs: Any):
        """Samples of [starttime, endtime] as an ObsPy Stream, as `sds.Client.get_waveforms`.

        Parameters
        ----------
        network, station, location, channel : str
            SEED codes; wildcards `*` and `?`, comma-separated lists; `--` or "" is the empty
            location.
        starttime, endtime : UTCDateTime (or anything UTCDateTime takes)
            The window; the traces are cut by `Stream.trim(starttime, endtime)` (ObsPy's
            nearest-sample rule) as the SDS client does.
        merge : int or None
            `Stream.merge(merge)` after trimming (-1, the default: only seamless traces are
            joined); None or False: no merge.

        Returns
        -------
        obspy.Stream
            One trace per contiguous run of samples (a gap starts a new trace), with the
            stored samples in their stored dtype (int32 counts stay int32).

        Raises
        ------
        ValueError
            When endtime is not after starttime.
        """
        from obspy import Stream as OStream
        from obspy import UTCDateTime

        starttime, endtime = UTCDateTime(starttime), UTCDateTime(endtime)
        if starttime >= endtime:
            raise ValueError("'endtime' must be after 'starttime'.")
        if self.fdsn is not None:
            # FDSN dataselect cuts windows its own way: ask a little more, then cut as here.
            st = self.fdsn.get_waveforms(network, station, location, channel,
                                         starttime - _SERVER_PAD_S, endtime + _SERVER_PAD_S,
                                         **kwargs)
        else:
            t0, t1 = int(starttime.ns), int(endtime.ns)
            st = OStream()
            for name, nslc in self._streams(network, station, location, channel):
                stream = self.store[name]
                if stream.kind != "regular":
                    continue
                pad = int(_WAVEFORM_PAD * stream.period_ns)
                st.traces += _traces(stream, nslc, stream.read_segments(t0 - pad, t1 + pad))
        st.trim(starttime, endtime)
        st.traces = [tr for tr in st if tr.stats.npts]
        if merge is not None and merge is not False:
            st.merge(merge)
        return st

    def get_waveforms_bulk(self, bulk: Iterable[Sequence[Any]], merge: int | None = -1):
        """The Streams of several requests (net, sta, loc, cha, starttime, endtime) added
        together, as `sds.Client.get_waveforms_bulk`."""
        from obspy import Stream as OStream

        st = OStream()
        for row in bulk:
            st += self.get_waveforms(*row[:6], merge=merge)
        return st

    # -- stations and events -------------------------------------------------------------
    def get_stations(self, network: str | None = None, station: str | None = None,
                     location: str | None = None, channel: str | None = None,
                     starttime: Any = None, endtime: Any = None, level: str = "station",
                     **kwargs: Any):
        """The store's stations as an ObsPy Inventory, as `fdsn.Client.get_stations`.

        Parameters
        ----------
        network, station, location, channel : str, optional
            SEED codes with wildcards, as for `get_waveforms`.
        starttime, endtime : optional
            Only the epochs that overlap this window.
        level : {"network", "station", "channel", "response"}
            How deep the inventory goes (FDSN's default: "station").

        Returns
        -------
        obspy.Inventory
            From the StationXML documents the store keeps whole (responses included), plus
            the streams they do not describe, built from what the store knows (coordinates,
            sensitivity, rate).
        """
        if level not in _LEVELS:
            raise ValueError(f"level must be one of {', '.join(_LEVELS)}, not {level!r}")
        if self.fdsn is not None:
            return self.fdsn.get_stations(network=network, station=station,
                                          location=location, channel=channel,
                                          starttime=starttime, endtime=endtime, level=level,
                                          **kwargs)
        from obspy import Inventory, UTCDateTime

        inv = _kept_inventory(self.store)
        described = _channel_ids(inv)
        extra = [(n, nslc) for n, nslc in self._streams(None, None, None, None)
                 if ".".join(nslc) not in described]
        inv.networks += _inventory_from_attrs(self.store, extra).networks
        sel: dict[str, Any] = {}
        for key, codes in (("network", network), ("station", station),
                           ("location", location), ("channel", channel)):
            if codes is not None:
                sel[key] = codes
        if starttime is not None:
            sel["starttime"] = UTCDateTime(starttime)
        if endtime is not None:
            sel["endtime"] = UTCDateTime(endtime)
        out = _select(inv, sel) if sel else inv
        return _to_level(Inventory(networks=out.networks, source="Belvedere"), level)

    def get_events(self, starttime: Any = None, endtime: Any = None,
                   minlatitude: float | None = None, maxlatitude: float | None = None,
                   minlongitude: float | None = None, maxlongitude: float | None = None,
                   mindepth: float | None = None, maxdepth: float | None = None,
                   minmagnitude: float | None = None, maxmagnitude: float | None = None,
                   eventid: str | None = None, limit: int | None = None,
                   orderby: str = "time", includearrivals: bool = True, **kwargs: Any):
        """The store's catalogue as an ObsPy Catalog, as `fdsn.Client.get_events`.

        Parameters
        ----------
        starttime, endtime : optional
            Origin time window.
        minlatitude, maxlatitude, minlongitude, maxlongitude : float, optional
            A box around the epicentres (degrees).
        mindepth, maxdepth : float, optional
            Depth in km (as FDSN; the store keeps metres).
        minmagnitude, maxmagnitude : float, optional
        eventid : str, optional
            One event by its resource id.
        limit : int, optional
            At most this many events.
        orderby : {"time", "time-asc", "magnitude", "magnitude-asc"}
            FDSN's orders (the default, "time", is newest first).
        includearrivals : bool
            Include the picks (and an arrival per pick on the origin); FDSN's default is
            false, this client's is true (the catalogue's picks are what it is read for).
        **kwargs
            `latitude`, `longitude`, `minradius`, `maxradius` (degrees), `magnitudetype`
            and `offset`, as FDSN; others are passed on to a server.

        Returns
        -------
        obspy.Catalog
            One Event per stored event with its origin, magnitude, description and picks.
        """
        if self.fdsn is not None:
            return self.fdsn.get_events(starttime=starttime, endtime=endtime,
                                        minlatitude=minlatitude, maxlatitude=maxlatitude,
                                        minlongitude=minlongitude, maxlongitude=maxlongitude,
                                        mindepth=mindepth, maxdepth=maxdepth,
                                        minmagnitude=minmagnitude, maxmagnitude=maxmagnitude,
                                        eventid=eventid, limit=limit, orderby=orderby,
                                        includearrivals=includearrivals, **kwargs)
        from pipelines.seismic.fdsn import event as fdsn_event

        radius = None
        if any(kwargs.get(k) is not None for k in _RADIUS):
            radius = (float(kwargs.get("latitude") or 0.0), float(kwargs.get("longitude") or 0.0),
                      float(kwargs.get("minradius") or 0.0),
                      float(kwargs.get("maxradius") or 180.0))
        unknown = set(kwargs) - set(_RADIUS) - {"magnitudetype", "offset"}
        if unknown:
            raise TypeError(f"get_events() got unexpected arguments {sorted(unknown)}")
        box = (-90.0 if minlatitude is None else minlatitude,
               90.0 if maxlatitude is None else maxlatitude,
               -180.0 if minlongitude is None else minlongitude,
               180.0 if maxlongitude is None else maxlongitude)
        q = fdsn_event.EventQuery(
            t0_ns=_ns(starttime), t1_ns=_ns(endtime), box=box, radius=radius,
            mindepth=mindepth, maxdepth=maxdepth, minmagnitude=minmagnitude,
            maxmagnitude=maxmagnitude, magnitudetype=kwargs.get("magnitudetype"),
            eventid=eventid, orderby=orderby, limit=limit, offset=kwargs.get("offset") or 1)
        return fdsn_event.catalog(fdsn_event.select_events([self.store], q), includearrivals,
                                  f"Belvedere store {self.store.url}")

    # -- availability (tsindex semantics) --------------------------------------------------
    def get_availability_extent(self, network: str | None = None, station: str | None = None,
                                location: str | None = None, channel: str | None = None,
                                starttime: Any = None, endtime: Any = None) -> list[tuple]:
        """(net, sta, loc, cha, earliest, latest) per channel with data in the window,
        sorted, as `tsindex.Client.get_availability_extent` (sample times)."""
        from obspy import UTCDateTime

        spans: dict[tuple, list[int]] = {}
        for nslc, first, last, _ in self._timespans(network, station, location, channel,
                                                   starttime, endtime):
            lo_hi = spans.setdefault(nslc, [first, last])
            lo_hi[0], lo_hi[1] = min(lo_hi[0], first), max(lo_hi[1], last)
        return sorted((*k, UTCDateTime(ns=a), UTCDateTime(ns=b)) for k, (a, b) in spans.items())

    def get_availability(self, network: str | None = None, station: str | None = None,
                         location: str | None = None, channel: str | None = None,
                         starttime: Any = None, endtime: Any = None,
                         include_sample_rate: bool = False, merge_overlap: bool = False
                         ) -> list[tuple]:
        """Contiguous time spans as `tsindex.Client.get_availability`.

        Parameters
        ----------
        network, station, location, channel : str, optional
            SEED codes with wildcards `*` `?` and comma lists.
        starttime, endtime : optional
            Only the spans that overlap this window (not cut to it, as tsindex).
        include_sample_rate : bool
            Add the sample rate to each tuple; spans of different rates are then kept apart.
        merge_overlap : bool
            Merge spans that overlap (epochs of one channel on different grids).

        Returns
        -------
        list of tuple
            (network, station, location, channel, earliest, latest[, sample_rate]), sorted;
            earliest and latest are the UTCDateTime of the first and the last sample of each
            span; spans that follow each other within half a sample are one.
        """
        from obspy import UTCDateTime

        groups: dict[tuple, dict[str, Any]] = {}
        for nslc, first, last, rate in self._timespans(network, station, location, channel,
                                                      starttime, endtime):
            key = (*nslc, rate) if include_sample_rate else nslc
            g = groups.setdefault(key, {"rates": [], "spans": []})
            if rate not in g["rates"]:
                g["rates"].append(rate)
            g["spans"].append((first, last))
        out = []
        for key, g in groups.items():
            rate = min(g["rates"])
            for a, b in _join(sorted(g["spans"]), NS / rate, merge_overlap):
                row = (*key[:4], UTCDateTime(ns=a), UTCDateTime(ns=b))
                out.append((*row, rate) if include_sample_rate else row)
        return sorted(out)

    def get_availability_percentage(self, network: str, station: str, location: str,
                                    channel: str, starttime: Any, endtime: Any
                                    ) -> tuple[float, int]:
        """(fraction of [starttime, endtime] covered, number of gaps), as
        `tsindex.Client.get_availability_percentage`: (0, 1) when there is nothing."""
        from obspy import UTCDateTime

        starttime, endtime = UTCDateTime(starttime), UTCDateTime(endtime)
        avail = self.get_availability(network, station, location, channel, starttime,
                                      endtime, merge_overlap=True)
        if not avail:
            return (0, 1)
        total = endtime - starttime
        gap_sum = 0.0
        gap_count = 0
        for prev, cur in zip(avail, avail[1:], strict=False):
            gap_count += 1
            gap_sum += cur[4] - prev[5]
        earliest = min(a[4] for a in avail)
        latest = max(a[5] for a in avail)
        if earliest > starttime:
            gap_sum += earliest - starttime
            gap_count += 1
        if latest < endtime:
            gap_sum += endtime - latest
            gap_count += 1
        return (1 - gap_sum / total, gap_count)

    def has_data(self, network: str | None = None, station: str | None = None,
                 location: str | None = None, channel: str | None = None,
                 starttime: Any = None, endtime: Any = None) -> bool:
        """True when any sample of the channels lies in the window (tsindex's `has_data`)."""
        return bool(self._timespans(network, station, location, channel, starttime, endtime))

    def _timespans(self, network, station, location, channel, starttime, endtime
                   ) -> list[tuple[tuple[str, str, str, str], int, int, float]]:
        """(nslc, first sample ns, last sample ns, rate) of every segment meeting the window."""
        t0, t1 = _ns(starttime), _ns(endtime)
        if self.fdsn is not None:
            return [row for row in self._served_timespans(network, station, location, channel)
                    if (t1 is None or row[1] <= t1) and (t0 is None or row[2] >= t0)]
        out = []
        for name, nslc in self._streams(network, station, location, channel):
            s = self.store[name]
            if s.kind != "regular":
                continue
            for a, b in s.segments:
                last = int(b) - int(round(s.period_ns))
                if (t1 is None or int(a) <= t1) and (t0 is None or last >= t0):
                    out.append((nslc, int(a), last, s.sampling_rate))
        return out

    def _served_timespans(self, network, station, location, channel
                          ) -> list[tuple[tuple[str, str, str, str], int, int, float]]:
        """`_timespans` from the server's availability service (whole spans: the service
        cuts spans to a window, tsindex does not, so none is sent)."""
        import json
        import urllib.error
        import urllib.parse
        import urllib.request

        query = {"format": "json"}
        for key, value in (("network", network), ("station", station),
                           ("location", location), ("channel", channel)):
            if value is not None:
                query[key] = ",".join(p or "--" for p in str(value).split(",")) or "--"
        url = (f"{self.fdsn.base_url.rstrip('/')}/fdsnws/availability/1/query?"
               + urllib.parse.urlencode(query))
        try:
            with urllib.request.urlopen(url, timeout=self.fdsn.timeout) as r:
                if r.status == 204:
                    return []
                doc = json.loads(r.read())
        except urllib.error.HTTPError as exc:
            raise StoreError(f"{url}: the availability service answered {exc.code}: "
                             f"{exc.read()[:300].decode('utf-8', 'replace')}") from None
        out = []
        for src in doc.get("datasources", []):
            nslc = (src["network"], src["station"], src["location"], src["channel"])
            rate = float(src["samplerate"])
            spans = np.array([[a.rstrip("Z"), b.rstrip("Z")] for a, b in src["timespans"]],
                             dtype="datetime64[ns]").astype(np.int64).reshape(-1, 2)
            period = int(round(NS / rate))
            out += [(nslc, int(a), int(b) - period, rate) for a, b in spans.tolist()]
        return out


_RADIUS = ("latitude", "longitude", "minradius", "maxradius")
_LEVELS = ("network", "station", "channel", "response")


def _spans(stream: Any, t0: int | None, t1: int | None) -> bool:
    seg = stream.segments
    if not len(seg):
        return False
    return bool(np.any(((t1 is None) | (seg[:, 0] <= (t1 or 0)))
                       & ((t0 is None) | (seg[:, 1] > (t0 or 0)))))


def _join(spans: list[tuple[int, int]], period_ns: float, merge_overlap: bool
          ) -> list[tuple[int, int]]:
    """tsindex's joining of sorted (first, last) spans: adjacent within half a sample, and
    overlapping ones when asked (the later span's end is kept, as tsindex keeps it)."""
    out: list[tuple[int, int]] = []
    for cur in spans:
        if out:
            prev = out[-1]
            overlap = prev[0] <= cur[1] and prev[1] >= cur[0]
            expected = prev[1] + period_ns
            adjacent = abs(cur[0] - expected) < 0.5 * period_ns
            if (merge_overlap and overlap) or adjacent:
                out[-1] = (prev[0], cur[1])
                continue
        out.append(cur)
    return out


def _traces(stream: Any, nslc: tuple[str, str, str, str], runs: list[tuple[int, np.ndarray]]):
    from obspy import Trace, UTCDateTime

    net, sta, loc, cha = nslc
    return [Trace(np.ascontiguousarray(values), header={
        "network": net, "station": sta, "location": loc, "channel": cha,
        "sampling_rate": stream.sampling_rate, "starttime": UTCDateTime(ns=int(start_ns))})
        for start_ns, values in runs]


def _kept_inventory(store: Store):
    """The StationXML documents kept in the store, as one Inventory (newest document first,
    so that `select` meets the latest description of a channel first)."""
    from obspy import Inventory, read_inventory

    from pipelines.store import station_xml, station_xml_documents

    inv = Inventory(networks=[], source="Belvedere")
    for doc in reversed(station_xml_documents(store)):
        xml = station_xml(store, doc["xxh3_128"])
        inv += read_inventory(io.BytesIO(xml), format="STATIONXML")
    return inv


def _channel_ids(inv) -> set[str]:
    return {f"{n.code}.{s.code}.{c.location_code}.{c.code}" for n in inv for s in n for c in s}


def _inventory_from_attrs(store: Store, streams: list[tuple[str, tuple[str, str, str, str]]]):
    """An Inventory built from the streams' attributes (coordinates, sensitivity, rate)."""
    from obspy import Inventory, UTCDateTime
    from obspy.core.inventory import Channel, Network, Site, Station
    from obspy.core.inventory.response import InstrumentSensitivity, Response

    nets: dict[str, Network] = {}
    stas: dict[tuple[str, str], Station] = {}
    for name, (net, sta, loc, cha) in streams:
        s = store[name]
        a = s.attrs
        co = a.get("coordinates") or {}
        lat, lon = co.get("latitude") or 0.0, co.get("longitude") or 0.0
        elev = co.get("elevation") or 0.0
        span = s.span_ns
        start = UTCDateTime(ns=span[0]) if span else None
        network = nets.setdefault(net, Network(code=net, stations=[]))
        station = stas.get((net, sta))
        if station is None:
            station = stas[(net, sta)] = Station(
                code=sta, latitude=lat, longitude=lon, elevation=elev,
                site=Site(name=a.get("station_name") or sta), start_date=start)
            network.stations.append(station)
        resp = None
        sens = a.get("sensitivity") or {}
        if sens.get("value"):
            resp = Response(instrument_sensitivity=InstrumentSensitivity(
                value=sens["value"], frequency=sens.get("frequency") or 1.0,
                input_units=sens.get("input_units") or "", output_units=sens.get("output_units")
                or "COUNTS"))
        station.channels.append(Channel(
            code=cha, location_code=loc, latitude=lat, longitude=lon, elevation=elev,
            depth=co.get("depth") or 0.0, azimuth=a.get("azimuth"), dip=a.get("dip"),
            sample_rate=s.sampling_rate, start_date=start,
            end_date=UTCDateTime(ns=span[1]) if span else None, response=resp))
        if start is not None and (station.start_date is None or start < station.start_date):
            station.start_date = start
    return Inventory(networks=list(nets.values()), source="Belvedere")


def _select(inv, sel: dict[str, Any]):
    """`Inventory.select` with comma lists and `--` (ObsPy takes one pattern per code)."""
    from obspy import Inventory

    codes = {k: v for k, v in sel.items() if k in ("network", "station", "location", "channel")}
    times = {k: v for k, v in sel.items() if k not in codes}
    lists = {k: _codes(v) for k, v in codes.items()}
    out = Inventory(networks=[], source=inv.source)
    combos = [{}]
    for k, pats in lists.items():
        combos = [{**c, k: p} for c in combos for p in pats]
    for c in combos:
        out += inv.select(**c, **times)
    return _dedupe(out)


def _dedupe(inv):
    """One network and station object per code (selects of several patterns repeat them)."""
    from obspy import Inventory

    nets: dict[str, Any] = {}
    for n in inv:
        keep = nets.get(n.code)
        if keep is None:
            nets[n.code] = n
            continue
        have = {(s.code, str(s.start_date)): s for s in keep}
        for s in n:
            k = (s.code, str(s.start_date))
            if k not in have:
                keep.stations.append(s)
                continue
            chans = {(c.location_code, c.code, str(c.start_date)) for c in have[k]}
            have[k].channels += [c for c in s
                                 if (c.location_code, c.code, str(c.start_date)) not in chans]
    return Inventory(networks=list(nets.values()), source=inv.source)


def _to_level(inv, level: str):
    """Cut the inventory at FDSN's `level`."""
    for n in inv:
        if level == "network":
            n.stations = []
            continue
        for s in n:
            if level == "station":
                s.channels = []
                continue
            if level == "channel":
                for c in s:
                    c.response = None
    return inv


def _fdsn_client(url: str, timeout: float, why: Exception):
    """ObsPy's FDSN client on a Belvedere server's /fdsnws/ services."""
    from obspy.clients.fdsn import Client as FDSNClient

    try:
        return FDSNClient(base_url=url.rstrip("/"), timeout=timeout,
                          _discover_services=True)
    except Exception as exc:
        raise StoreError(f"{url} is neither a store ({why}) nor a server with FDSN web "
                         f"services under /fdsnws/ ({type(exc).__name__}: {exc})") from exc
