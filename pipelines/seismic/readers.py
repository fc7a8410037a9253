"""The seismic formats, one module each with `can_open(path, head)` and `read(path, options)`.

Each module also says its `NAME` and its `KIND`: "waveforms" (samples of channels; such a
reader also has `channels(path)`, the channel ids and first sample times from the headers
alone), "stations" or "events". A new format is one module and one entry in `READERS`.
"""

from __future__ import annotations

from types import ModuleType

from pipelines.seismic import mseed, quakeml, stationxml

READERS: tuple[ModuleType, ...] = (mseed, stationxml, quakeml)
HEAD_BYTES = 512  # what `can_open` is shown of a file


def of_kind(kind: str) -> tuple[ModuleType, ...]:
    """The readers of one kind ("waveforms", "stations", "events"), in `READERS` order."""
    return tuple(r for r in READERS if r.KIND == kind)


def reader_for(path: str, head: bytes, kind: str) -> ModuleType | None:
    """The first reader of `kind` that can open the file, or None.

    Parameters
    ----------
    path
        The file.
    head
        Its first `HEAD_BYTES` bytes.
    kind
        "waveforms", "stations" or "events".

    Returns
    -------
    module or None
    """
    return next((r for r in of_kind(kind) if r.can_open(path, head)), None)


def by_name(name: str) -> ModuleType:
    """The reader called `name` (its module's short name, e.g. "mseed")."""
    for r in READERS:
        if r.__name__.rsplit(".", 1)[-1] == name:
            return r
    raise KeyError(f"no seismic reader {name!r}")
