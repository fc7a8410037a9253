"""miniSEED (and the data part of full SEED), decoded by ObsPy's libmseed wrapper."""

from __future__ import annotations

import os
import threading
import warnings

from pipelines.ingest.append import Piece
from pipelines.seismic.options import ReadOptions

NAME = "miniSEED"
KIND = "waveforms"

# ObsPy's libmseed wrapper installs its log callback globally for the duration of each call:
# two decodes in parallel threads can call a callback that the other already freed (seen as
# SIGILL on corrupt files). Decoding is serialised per process; everything else runs alongside.
MSEED_LOCK = threading.Lock()


def can_open(path: str, head: bytes) -> bool:
    """True when the file starts with a valid miniSEED (or full SEED with data) record header.

    Parameters
    ----------
    path
        The file.
    head
        Its first bytes (unused: ObsPy's check reads the record header itself).

    Returns
    -------
    bool
    """
    from obspy.io.mseed.core import _is_mseed

    return bool(_is_mseed(path))


def channels(path: str) -> dict[str, int]:
    """The channels of a file from its record headers alone (no sample is decoded).

    Parameters
    ----------
    path
        A file for which `can_open` is true.

    Returns
    -------
    dict
        Channel id (NET.STA.LOC.CHA) -> time of its first sample in the file (ns since 1970).
        Broken records raise (ObsPy raises many types).
    """
    with MSEED_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st = _read_mseed(path, headonly=True)
    out: dict[str, int] = {}
    for tr in st:
        t = int(tr.stats.starttime.ns)
        out[tr.id] = min(out.get(tr.id, t), t)
    return out


def read(path: str, options: ReadOptions) -> tuple[list[Piece], list[str]]:
    """Decode one channel's samples from a miniSEED file.

    Parameters
    ----------
    path
        The file (named in each piece as its source).
    options
        The channel, and the file's bytes when they were already read.

    Returns
    -------
    pieces, notes
        The channel's contiguous runs of samples in time order; warnings worth reporting
        (a truncated last record, skipped corrupt records), each once.
    """
    # catch_warnings is process-wide: while it records, warnings from other threads land here
    # too, so only ObsPy's own are kept (MSEED_LOCK keeps two such blocks from interleaving).
    with MSEED_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # ObsPy matches `sourcename` as a glob: a code holding * ? [ would match other
        # channels or none, so such a file is decoded whole and filtered below.
        glob_chars = any(c in options.channel for c in "*?[")
        st = _read_mseed(path if options.data is None else options.data,
                         **({} if glob_chars else {"sourcename": options.channel}))
    notes = []
    for w in caught:
        if not _from_obspy(w):
            continue
        msg = " ".join(str(w.message).split())
        if "Last record only has" in msg:
            notes.append("truncated: the last record is incomplete and was skipped")
        elif "Not a SEED record" in msg:
            notes.append("corrupt records were skipped")
        else:
            notes.append(msg)
    pieces = [Piece(int(tr.stats.starttime.ns), float(tr.stats.sampling_rate), tr.data, path)
              for tr in st if tr.id == options.channel and tr.stats.npts > 0]
    pieces.sort(key=lambda p: p.start_ns)
    return pieces, sorted(set(notes))


def _read_mseed(path, **kwargs):
    """ObsPy's miniSEED reader without `obspy.read`'s plugin lookup (entry points, ~4 ms a
    call); the same result as `obspy.read(path, format="MSEED", **kwargs)`."""
    try:
        from obspy.io.mseed.core import _read_mseed as reader
    except ImportError:  # a future ObsPy that moved it: the public way
        from obspy import read as obspy_read

        return obspy_read(path, format="MSEED", **kwargs)
    return reader(path, **kwargs)


def _from_obspy(w: warnings.WarningMessage) -> bool:
    sep = os.sep
    return (f"{sep}obspy{sep}" in (w.filename or "")
            or getattr(w.category, "__module__", "").startswith("obspy"))
