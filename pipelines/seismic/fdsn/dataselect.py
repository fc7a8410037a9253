"""Samples of the selected streams as miniSEED, cut to the requested windows and streamed in
pieces so that memory stays bounded whatever the window (a month is never built whole)."""

from __future__ import annotations

import io
import math
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from pipelines.seismic.fdsn.select import QueryError, Selection, matching_streams
from pipelines.store import Store, Stream

RECORD_LENGTH = 4096
# Samples encoded per call: large enough that ObsPy's per-call cost vanishes (measured: at
# 2**20 the encoder runs at its full speed), small enough to bound memory to a few MB.
PIECE_SAMPLES = 1 << 20
_FLOAT_ENCODING = {"float32": "FLOAT32", "float64": "FLOAT64"}


@dataclass(frozen=True)
class Cut:
    """One stream's present samples in one window, as [i0, i1) grid index runs."""

    stream: Stream
    runs: tuple[tuple[int, int], ...]

    @property
    def samples(self) -> int:
        """How many samples this cut returns."""
        return sum(b - a for a, b in self.runs)


def cut_runs(stream: Stream, t0_ns: int | None, t1_ns: int | None) -> tuple[tuple[int, int], ...]:
    """The runs of present grid indices in [t0, t1) (from the segment list; no sample read)."""
    seg = stream.segment_indices()
    lo = -math.inf if t0_ns is None else math.ceil(stream.index_of(t0_ns) - 1e-9)
    hi = math.inf if t1_ns is None else math.ceil(stream.index_of(t1_ns) - 1e-9)
    j0 = 0 if t0_ns is None else int(np.searchsorted(seg[:, 1], lo, side="right"))
    j1 = len(seg) if t1_ns is None else int(np.searchsorted(seg[:, 0], hi, side="left"))
    out = []
    for a, b in seg[j0:j1]:
        a2, b2 = int(max(a, lo)), int(min(b, hi))
        if b2 > a2:
            out.append((a2, b2))
    return tuple(out)


def plan(stores: list[Store], selections: list[Selection], max_samples: int) -> list[Cut]:
    """The cuts a request asks for, in request order; QueryError (too_large) beyond
    `max_samples` samples in all, before any sample is read."""
    cuts: list[Cut] = []
    total = 0
    for store in stores:
        for sel, stream in matching_streams(store, selections):
            runs = cut_runs(stream, sel.t0_ns, sel.t1_ns)
            if runs:
                cut = Cut(stream, runs)
                total += cut.samples
                if total > max_samples:
                    raise RequestTooLarge(
                        f"the request would return more than {max_samples:,} samples, the "
                        f"limit of this server (max_samples); ask for fewer channels or a "
                        "shorter time window")
                cuts.append(cut)
    return cuts


class RequestTooLarge(QueryError):
    """A request beyond the configured size limit (HTTP 413)."""


def encoding_for(dtype: np.dtype) -> tuple[str, np.dtype]:
    """The miniSEED encoding of a stored dtype and the dtype to encode it as: Steim2 for
    integer counts, FLOAT32/FLOAT64 for floats."""
    name = str(np.dtype(dtype))
    if name in _FLOAT_ENCODING:
        return _FLOAT_ENCODING[name], np.dtype(name)
    if np.dtype(dtype).kind in "iu":
        return "STEIM2", np.dtype("int32")
    raise QueryError(f"samples of dtype {name} have no miniSEED encoding")


def _header(stream: Stream) -> dict:
    from pipelines.seismic.fdsn.select import codes_of

    net, sta, loc, cha = codes_of(stream.name)
    a = stream.attrs
    return {"network": a.get("network", net), "station": a.get("station", sta),
            "location": a.get("location", loc), "channel": a.get("channel", cha),
            "sampling_rate": stream.sampling_rate}


def encode(values: np.ndarray, start_ns: int, header: dict, encoding: str) -> bytes:
    """Samples starting at `start_ns` as miniSEED records (ObsPy's libmseed writer)."""
    from obspy import Trace, UTCDateTime

    tr = Trace(np.ascontiguousarray(values), header={**header,
                                                     "starttime": UTCDateTime(ns=int(start_ns))})
    buf = io.BytesIO()
    try:
        tr.write(buf, format="MSEED", encoding=encoding, reclen=RECORD_LENGTH)
    except Exception:
        if encoding != "STEIM2":
            raise
        # Steim2 holds differences up to 30 bits: wider jumps are written uncompressed.
        buf = io.BytesIO()
        tr.write(buf, format="MSEED", encoding="INT32", reclen=RECORD_LENGTH)
    return buf.getvalue()


def _jobs(cuts: list[Cut], piece_samples: int) -> Iterator[tuple]:
    for cut in cuts:
        stream = cut.stream
        enc, dtype = encoding_for(stream.dtype)
        if dtype.kind == "i" and stream.dtype.itemsize > 4:
            raise QueryError(f"{stream.name}: int64 samples do not fit miniSEED's 32 bits")
        header = _header(stream)
        # Opened once per cut: each `stream.data` looks the array up again (its zarr.json).
        data = stream.data
        for a, b in cut.runs:
            # Piece edges on multiples of the piece size, which the stores' chunk sizes
            # divide: each chunk is decoded once, not once per piece that cuts it.
            p = a
            while p < b:
                q = min((p // piece_samples + 1) * piece_samples, b)
                yield stream, data, p, q, dtype, header, enc
                p = q


def _piece(stream: Stream, data, p: int, q: int, dtype: np.dtype, header: dict,
           enc: str) -> bytes:
    # The runs come from the segment list, so every sample read is present: no presence
    # mask is made (`read_raw` makes one per read).
    try:
        values = data[p:q]
    except Exception:  # an ingest replaced the shard between its index and its chunks
        values = data[p:q]
    values = np.asarray(values)
    # zarr gives '<i4': ObsPy's writer byte-swaps any explicit order, so make it '='.
    values = (values.view(values.dtype.newbyteorder("=")) if values.dtype.isnative
              else values.astype(values.dtype.newbyteorder("=")))
    return encode(values.astype(dtype, copy=False), int(stream.time_of(p)), header, enc)


# Reading (zarr's codecs) and encoding (libmseed through ctypes) both release the GIL, so
# pieces are made on threads, a few ahead of the one being sent. Measured on one
# channel-day at 100 Hz: one thread 0.45 s (read 0.10 s then encode 0.27 s, one after the
# other); threads a few pieces ahead overlap the two when a core is free. The pool is
# shared by all requests, so concurrent clients never use more threads than there are cores.
_POOL = ThreadPoolExecutor(max(os.cpu_count() or 1, 2), thread_name_prefix="miniseed")
AHEAD = 3


def miniseed_pieces(cuts: list[Cut], piece_samples: int = PIECE_SAMPLES,
                    ahead: int = AHEAD) -> Iterator[bytes]:
    """The miniSEED of the cuts, piece by piece in order (each a few MB at most, at most
    `ahead` pieces in memory); a gap starts a new record run, so readers see one trace per
    contiguous run."""
    pending: deque[Future] = deque()
    try:
        for job in _jobs(cuts, piece_samples):
            pending.append(_POOL.submit(_piece, *job))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # an abandoned answer (the client went away) makes no more pieces
        for f in pending:
            f.cancel()
