"""QuakeML: an event catalogue (origins, magnitudes, picks) for the store's events."""

from __future__ import annotations

import os
from typing import Any

from pipelines.seismic.jsonable import jsonable

NAME = "QuakeML"
KIND = "events"


def can_open(path: str, head: bytes) -> bool:
    """True when the file's first bytes hold a QuakeML root element.

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
    return b"quakeml" in head.lower()


def read(path: str, options: Any = None) -> list[dict[str, Any]]:
    """Events of a QuakeML file as plain dicts.

    Parameters
    ----------
    path
        The file.
    options
        None (QuakeML has no read options).

    Returns
    -------
    list of dict
        One per event with an origin: id, time_ns, time, latitude, longitude, depth_m,
        magnitude, magnitude_type, description, picks (stream, phase, time_ns), source.
        Raises ObsPy's error for a file it cannot read.
    """
    return read_with_notes(path)[0]


def read_with_notes(path: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Events of a QuakeML file (as `read`) and why any of them was left out.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    events, notes
        The events as `read` gives them; one line about the events skipped because they
        have no origin (no time or place to put them at), naming the first few, or about a
        catalogue with no event at all.
    """
    from obspy import read_events

    cat = read_events(path)
    events = []
    no_origin: list[str] = []
    for ev in cat:
        org = ev.preferred_origin() or (ev.origins[0] if ev.origins else None)
        if org is None or org.time is None:
            no_origin.append(str(ev.resource_id))
            continue
        mag = ev.preferred_magnitude() or (ev.magnitudes[0] if ev.magnitudes else None)
        desc = ev.event_descriptions[0].text if ev.event_descriptions else None
        picks = []
        for p in ev.picks:
            wid = p.waveform_id
            if wid is None or p.time is None:
                continue
            picks.append({"stream": wid.get_seed_string(), "phase": p.phase_hint,
                          "time_ns": int(p.time.ns)})
        events.append(jsonable({
            "id": str(ev.resource_id), "time_ns": int(org.time.ns), "time": str(org.time),
            "latitude": org.latitude, "longitude": org.longitude,
            "depth_m": org.depth, "magnitude": mag.mag if mag else None,
            "magnitude_type": mag.magnitude_type if mag else None, "description": desc,
            "picks": picks, "source": os.path.abspath(path)}))
    notes = []
    if no_origin:
        shown = ", ".join(no_origin[:3]) + (", ..." if len(no_origin) > 3 else "")
        notes.append(f"events without an origin (no time or place to show them at) were "
                     f"skipped, {len(no_origin)} of {len(cat)}: {shown}")
    elif not len(cat):
        notes.append("the catalogue holds no events; nothing to add")
    return events, notes
