"""StationXML: coordinates, instruments and sensitivities put on the streams; the files kept
whole in the store (responses included) and the responses read back from there."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from pipelines.ingest.report import FileIssue, one_line
from pipelines.seismic.jsonable import jsonable

NAME = "StationXML"
KIND = "stations"


def can_open(path: str, head: bytes) -> bool:
    """True when the file's first bytes hold an FDSN StationXML root element.

    Parameters
    ----------
    path
        The file (unused: the head is enough).
    head
        Its first bytes (a few hundred suffice).

    Returns
    -------
    bool
    """
    return b"<FDSNStationXML" in head or b":FDSNStationXML" in head


def read(path: str, options: Any = None) -> Any:
    """The inventory of a StationXML file.

    Parameters
    ----------
    path
        The file.
    options
        None (StationXML has no read options).

    Returns
    -------
    obspy.Inventory
        Raises FileNotFoundError, or ObsPy's error for a file it cannot read.
    """
    from obspy import read_inventory

    return read_inventory(path)


def read_inventories(paths: Iterable[str]) -> tuple[list[Any], list[FileIssue]]:
    """Read StationXML files; each unreadable one becomes an issue line."""
    invs, issues = [], []
    for p in paths:
        try:
            invs.append((p, read(p)))
        except FileNotFoundError:
            issues.append(FileIssue(p, "no such StationXML file"))
        except Exception as exc:
            issues.append(FileIssue(p, f"not a readable StationXML file: {one_line(exc)}"))
    return invs, issues


def channel_metadata(inventories: list[tuple[str, Any]], channel: str,
                     when_ns: int | None = None) -> dict[str, Any]:
    """Coordinates, instrument and sensitivity of a channel from StationXML, or {}."""
    from obspy import UTCDateTime

    net, sta, loc, cha = (channel.split(".") + ["", "", "", ""])[:4]
    for path, inv in inventories:
        kw = {}
        if when_ns is not None:
            kw["time"] = UTCDateTime(ns=int(when_ns))
        sel = inv.select(network=net, station=sta, location=loc, channel=cha, **kw)
        if when_ns is not None and not len(sel):
            sel = inv.select(network=net, station=sta, location=loc, channel=cha)
        for n in sel:
            for s in n:
                for c in s:
                    meta: dict[str, Any] = {
                        "coordinates": {"latitude": c.latitude, "longitude": c.longitude,
                                        "elevation": c.elevation, "depth": c.depth},
                        "station_name": (s.site.name if s.site else None) or s.code,
                        "azimuth": c.azimuth, "dip": c.dip,
                        "instrument": _instrument(c),
                        "inventory": os.path.abspath(path),
                    }
                    sens = c.response.instrument_sensitivity if c.response else None
                    if sens is not None and sens.value:
                        meta["sensitivity"] = {
                            "value": float(sens.value), "frequency": sens.frequency,
                            "input_units": sens.input_units, "output_units": sens.output_units}
                        meta["physical_units"] = sens.input_units
                    return jsonable(meta)
    return {}


def _instrument(c) -> str | None:
    parts = []
    for eq in (c.sensor, c.data_logger):
        if eq is not None:
            text = eq.description or eq.type or eq.model
            if text:
                parts.append(str(text))
    return " / ".join(parts) or c.description or None


def channel_epochs(inventory: Any) -> list[dict[str, Any]]:
    """The channel epochs an inventory describes: id, start_ns, end_ns (None: open)."""
    out = []
    for n in inventory:
        for s in n:
            for c in s:
                out.append({"id": f"{n.code}.{s.code}.{c.location_code}.{c.code}",
                            "start_ns": int(c.start_date.ns) if c.start_date else None,
                            "end_ns": int(c.end_date.ns) if c.end_date else None})
    return out


def keep_inventories(store: Any, inventories: list[tuple[str, Any]]) -> int:
    """Keep each StationXML file whole in the store (responses included); returns how many
    were new. The file is read again as bytes, so the document kept is the one ingested."""
    from pipelines.ingest.digest import bytes_digest
    from pipelines.store import put_station_xml

    new = 0
    for path, inv in inventories:
        with open(path, "rb") as fh:
            xml = fh.read()
        new += put_station_xml(store, xml, str(bytes_digest(xml, path)), os.path.abspath(path),
                               channel_epochs(inv))
    return new


def response_of(store: Any, channel: str, when_ns: int) -> tuple[Any, str] | None:
    """The instrument response of a channel at a time from the store's kept StationXML,
    with the digest of the document it came from (the newest ingested that has it), or None.

    Parameters
    ----------
    store
        A `pipelines.store.Store`.
    channel
        NET.STA.LOC.CHA.
    when_ns
        A time inside the wanted channel epoch (int64 ns).

    Returns
    -------
    (obspy.core.inventory.response.Response, str) or None
    """
    import io

    from obspy import UTCDateTime, read_inventory

    from pipelines.store import station_xml, station_xml_documents

    for doc in reversed(station_xml_documents(store)):
        if not any(_covers(e, channel, when_ns) for e in doc.get("channels", [])):
            continue
        inv = read_inventory(io.BytesIO(station_xml(store, doc["xxh3_128"])), format="STATIONXML")
        try:
            return inv.get_response(channel, UTCDateTime(ns=int(when_ns))), doc["xxh3_128"]
        except Exception:
            continue
    return None


def _covers(epoch: dict[str, Any], channel: str, when_ns: int) -> bool:
    return (epoch.get("id") == channel
            and (epoch.get("start_ns") is None or epoch["start_ns"] <= when_ns)
            and (epoch.get("end_ns") is None or when_ns < epoch["end_ns"]))


def response_document(store: Any, channel: str, when_ns: int) -> str | None:
    """The digest of the newest kept StationXML document describing a channel at a time (read
    from the documents' attributes only: no XML is parsed), or None."""
    from pipelines.store import station_xml_documents

    for doc in reversed(station_xml_documents(store)):
        if any(_covers(e, channel, when_ns) for e in doc.get("channels", [])):
            return doc["xxh3_128"]
    return None
