"""StationXML: station coordinates, instruments and sensitivities, put on the streams."""

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
