"""Put contiguous runs of samples onto a channel's regular grid: snapping, epochs, overlaps.

Format-agnostic: seismic and mission readers turn their files into `Piece`s and hand them here.

The rules (also in the README):
- A piece whose first sample lies within `snap_tolerance` of a sample of an existing epoch's
  grid (and has the same sampling rate) is snapped onto that grid. Otherwise a new epoch of the
  channel begins, stored as stream `CHANNEL~N`.
- Overlaps: where a stored sample and an incoming sample agree, nothing changes. Where they
  differ, the stored sample is kept (first ingested wins) and the conflict is reported with
  the file and time span, and recorded in the stream's `conflicts` attribute.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.ingest.digest import FileDigest, recorded
from pipelines.ingest.timing import check_timing
from pipelines.store import (
    GAP_CLUSTER,
    Store,
    StreamWriter,
    fill_value_for,
    merge_segments,
    runs_of,
)
from pipelines.store.segments import cut_out
from pipelines.timebase import utc_iso

EPOCH_SEP = "~"
HOLD_SAMPLES = 1 << 20  # the longest span of held pieces (see `ChannelAppender._held`)


@dataclass
class Piece:
    """A contiguous run of samples from one source file."""

    start_ns: int
    sampling_rate: float
    values: np.ndarray
    source: str


@dataclass
class AppendOutcome:
    """What appending pieces did to a channel."""

    written: int = 0
    unchanged: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    new_streams: list[str] = field(default_factory=list)
    touched: dict[str, tuple[int, int]] = field(default_factory=dict)  # stream -> [i0, i1)
    conflicts_committed: int = 0


def epoch_names(store: Store, channel: str) -> list[str]:
    """The streams holding epochs of a channel, in epoch order."""
    names = store.streams_named(lambda n: n == channel or n.startswith(channel + EPOCH_SEP))
    return sorted(names, key=lambda n: 0 if n == channel else int(n.split(EPOCH_SEP)[1]))


def channel_of(stream: str) -> str:
    """The channel id of a stream name (drops the epoch suffix)."""
    return stream.split(EPOCH_SEP)[0]


class ChannelAppender:
    """Appends pieces to the epochs of one channel; `flush` commits them (after a source
    file, or a batch of files)."""

    def __init__(self, store: Store, channel: str, snap_tolerance: float,
                 new_stream_attrs: dict[str, Any],
                 opened: dict[str, StreamWriter] | None = None):
        self.store = store
        self.channel = channel
        self.tol = snap_tolerance
        self.new_attrs = new_stream_attrs
        opened = opened or {}  # writers made elsewhere (their arrays already open)
        self.writers: dict[str, StreamWriter] = {
            n: opened.get(n) or store.writer(n) for n in epoch_names(store, channel)}
        self.outcome = AppendOutcome()
        self._fed: set[str] = set()  # epochs that received pieces since the last flush
        # Samples written since the last flush, per epoch, as (i0, values): the pyramid is
        # computed from them instead of reading the samples back from the store.
        self._pending: dict[str, list[tuple[int, np.ndarray]]] = {}
        # Consecutive pieces of one epoch whose samples are all new, over a span that holds
        # no stored sample, written as one region when the next piece does not follow them
        # (or at `flush`): a file of many short records between gaps otherwise encodes the
        # same data chunk once per record (a file with 1e4 gaps took ~2 min, most of it so).
        self._held: tuple[StreamWriter, list[tuple[int, np.ndarray]]] | None = None

    def _fits(self, w: StreamWriter, piece: Piece) -> bool:
        if not math.isclose(w.sampling_rate, piece.sampling_rate, rel_tol=1e-9):
            return False
        frac = w.index_of(piece.start_ns)
        return abs(frac - round(frac)) <= self.tol

    def _writer_for(self, piece: Piece) -> StreamWriter:
        """The epoch the piece fits, made if none does (UnsupportedTiming first, for samples
        whose rate or span do not fit int64 nanoseconds: no stream is made for them)."""
        check_timing(self.channel, piece.start_ns, piece.sampling_rate, len(piece.values))
        for w in self.writers.values():
            if self._fits(w, piece):
                return w
        name = self.channel if not self.writers else f"{self.channel}{EPOCH_SEP}{len(self.writers)}"
        attrs = {**self.new_attrs, "channel_id": self.channel, "epoch": len(self.writers)}
        w = self.store.create_stream(name, piece.sampling_rate, piece.start_ns,
                                     piece.values.dtype, attrs)
        self.writers[name] = w
        self.outcome.new_streams.append(name)
        return w

    def _other_epochs_overlap(self, w: StreamWriter, t0: int, t1: int) -> list[tuple[int, int]]:
        spans = []
        for other in self.writers.values():
            if other is w or not len(other.segments):
                continue
            seg = other.segments
            sel = (seg[:, 0] < t1) & (seg[:, 1] > t0)
            spans += [(max(int(a), t0), min(int(b), t1)) for a, b in seg[sel]]
        return spans

    def add(self, piece: Piece) -> None:
        """Snap one piece onto its epoch and write the samples that are new (ValueError,
        `UnsupportedTiming`, for samples whose rate or span does not fit the time base)."""
        if not len(piece.values):
            return
        w = self._writer_for(piece)
        if self._held is not None and self._held[0] is not w:
            self._write_held()
        if piece.start_ns < w.start_ns:
            self._write_held()
            w = w.rebase(piece.start_ns)
            self.writers[w.name] = w
            self.outcome.touched.pop(w.name, None)
            self._pending.pop(w.name, None)
        self._fed.add(w.name)
        if w.dtype != piece.values.dtype:
            if not np.can_cast(piece.values.dtype, w.dtype, casting="safe"):
                raise ValueError(
                    f"{piece.source}: samples of type {piece.values.dtype} cannot be stored "
                    f"losslessly in stream {w.name} of type {w.dtype}")
        n = len(piece.values)
        i0 = int(round(w.index_of(piece.start_ns)))
        i1 = i0 + n
        incoming = piece.values.astype(w.dtype, copy=False)
        t0, t1 = int(w.time_of(i0)), int(w.time_of(i1))
        others = self._other_epochs_overlap(w, t0, t1)
        if self._held is not None:
            held_end = self._held[1][-1][0] + len(self._held[1][-1][1])
            if i0 < held_end or i1 - self._held[1][0][0] > HOLD_SAMPLES or others \
                    or w.present_any(held_end, i1):
                self._write_held()
        if not others and i0 >= 0 and not w.present_any(i0, i1):
            # The common case, all samples new: no masks over the piece.
            if self._held is None:
                self._held = (w, [])
            self._held[1].append((i0, incoming))
            self._note_written(w, i0, incoming)
            return
        self._write_held()
        accept = np.ones(n, dtype=bool)
        for a, b in others:
            ia = max(int(math.ceil(w.index_of(a) - 1e-9)), i0)
            ib = min(int(math.ceil(w.index_of(b) - 1e-9)), i1)
            if ib > ia:
                accept[ia - i0:ib - i0] = False
                self._conflict(w, piece, ia, ib, ib - ia, "overlaps another epoch of the channel")
        present = w.present_mask(i0, i1)
        if present.any():
            existing = w.data[i0:i1]
            differ = present & (existing != incoming)
            if w.dtype.kind == "f":
                differ &= ~(np.isnan(existing) & np.isnan(incoming))
            for a, b in runs_of(differ):
                self._conflict(w, piece, i0 + a, i0 + b, b - a, "differs from the stored samples")
            self.outcome.unchanged += int((present & ~differ & accept).sum())
            new = accept & ~present
            if not new.any():
                return
            merged = np.where(new, incoming, existing)
        else:
            new = accept
            # nothing is stored there yet (the array may not reach i1): rejected = absent
            merged = incoming if accept.all() else np.where(accept, incoming,
                                                            fill_value_for(w.dtype))
        # Write only the span that holds new samples; stored samples are rewritten unchanged.
        if not new.any():
            return
        a = 0 if new[0] else int(np.argmax(new))
        b = n if new[-1] else n - int(np.argmax(new[::-1]))
        w.write(i0 + a, merged[a:b])
        # The writer marked [a, b) present; unmark stored-but-rejected holes inside it.
        w.segments = _segments_from_mask(w, i0 + a, new[a:b], present[a:b])
        self._note_written(w, i0 + a, merged[a:b], int(np.count_nonzero(new)))

    def _write_held(self) -> None:
        """Write the held pieces as one region (fill between them) and mark only the pieces'
        own spans present."""
        if self._held is None:
            return
        w, pieces = self._held
        self._held = None
        if len(pieces) == 1:
            w.write(*pieces[0])
            return
        a = pieces[0][0]
        b = pieces[-1][0] + len(pieces[-1][1])
        region = np.full(b - a, fill_value_for(w.dtype), dtype=w.dtype)
        for i0, v in pieces:
            region[i0 - a:i0 - a + len(v)] = v
        before = w.segments
        w.write(a, region)
        idx = np.array([(i0, i0 + len(v)) for i0, v in pieces], dtype=np.int64)
        w.segments = merge_segments(before, np.asarray(w.time_of(idx), dtype=np.int64))

    def _note_written(self, w: StreamWriter, i0: int, values: np.ndarray,
                      new: int | None = None) -> None:
        self._pending.setdefault(w.name, []).append((i0, values))
        self.outcome.written += len(values) if new is None else new
        i1 = i0 + len(values)
        lo, hi = self.outcome.touched.get(w.name, (i0, i1))
        self.outcome.touched[w.name] = (min(lo, i0), max(hi, i1))

    def _conflict(self, w: StreamWriter, piece: Piece, ia: int, ib: int, count: int,
                  why: str) -> None:
        self.outcome.conflicts.append({
            "stream": w.name, "file": piece.source, "start": utc_iso(int(w.time_of(ia))),
            "end": utc_iso(int(w.time_of(ib))), "samples": int(count), "reason": why,
            "kept": "stored samples"})

    def flush(self, provenance: dict[str, Any] | list[dict[str, Any]] | None) -> None:
        """Update pyramids over what changed and commit each touched epoch (segments last),
        recording `provenance` (one file's entry, or the entries of the files since the last
        flush)."""
        self._write_held()
        if isinstance(provenance, dict):
            provenance = [provenance]
        conflicts_by = {}
        for c in self.outcome.conflicts[self.outcome.conflicts_committed:]:
            conflicts_by.setdefault(c["stream"], []).append(c)
        for name, w in self.writers.items():
            span = self.outcome.touched.pop(name, None)
            pending = self._pending.pop(name, [])
            mine = conflicts_by.get(name, [])
            if name not in self._fed and not mine:
                continue
            if span is not None and not pending:
                w.update_pyramid(*span)
            for lo, hi, part in _clusters(pending):  # a long gap between them costs nothing
                w.update_pyramid(lo, hi, values=part)
            w.commit(provenance=provenance or None, conflicts=mine)
        self._fed.clear()
        self.outcome.conflicts_committed = len(self.outcome.conflicts)

    def has_file(self, digest: FileDigest) -> bool:
        """True when the file of this digest was already committed to this channel."""
        return any(recorded(w.attrs.get("provenance", []), digest)
                   for w in self.writers.values())


def _clusters(pending: list[tuple[int, np.ndarray]]
              ) -> list[tuple[int, int, list[tuple[int, np.ndarray]]]]:
    """Writes (start index, samples) grouped where they lie under GAP_CLUSTER samples
    apart: (first index, end index, its writes in their order, later ones winning)."""
    spans: list[list[int]] = []
    for i0, i1 in sorted((i0, i0 + len(v)) for i0, v in pending):
        if spans and i0 - spans[-1][1] <= GAP_CLUSTER:
            spans[-1][1] = max(spans[-1][1], i1)
        else:
            spans.append([i0, i1])
    starts = [lo for lo, _ in spans]
    parts: list[list[tuple[int, np.ndarray]]] = [[] for _ in spans]
    for i0, v in pending:
        parts[bisect.bisect_right(starts, i0) - 1].append((i0, v))
    return [(lo, hi, part) for (lo, hi), part in zip(spans, parts, strict=True)]


def _segments_from_mask(w: StreamWriter, i0: int, new: np.ndarray, present: np.ndarray
                        ) -> np.ndarray:
    """Segments after a write of [i0, i0+len) where only `new | present` samples are real."""
    real = new | present
    if real.all():
        return w.segments
    t0, t1 = int(w.time_of(i0)), int(w.time_of(i0 + len(new)))
    # Cut the written span out, then add back the real runs.
    keep = cut_out(w.segments, t0, t1)
    runs = np.asarray(runs_of(real), dtype=np.int64).reshape(-1, 2) + i0
    return merge_segments(keep, np.asarray(w.time_of(runs), dtype=np.int64).reshape(-1, 2))


__all__ = ["Piece", "ChannelAppender", "AppendOutcome", "epoch_names", "channel_of"]
