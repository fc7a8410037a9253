"""Follow an SDS archive that another program (slarchive, SeisComP's archiver) writes into:
grown and new day files are appended to the store within seconds of being written.

What is read of a file is always whole miniSEED records: a writer appends a record with one or
more writes, so the file's last record may be partly there. libmseed (through ObsPy) skips a
last record shorter than its header's record length ("Last record only has N byte(s) ... will
be skipped"), but then the follower would not know where to resume; so the record headers
past the last offset are walked here (`complete_end`) and only the bytes of complete records
are decoded, the partial one waiting for the next change.

Commit rules: the samples of each step are committed as an ingest commits them (pyramid, then
the segment list last, one atomic attribute write), then the file's new offset is recorded on
the channel's stream (`follow` attribute: path -> bytes done). A follower killed between the
two redoes those records on restart; the samples agree with the stored ones, so nothing
changes (the overlap rule of `append`): the store is never half-written, a restart resumes
where it stopped, and running twice over the same bytes is a no-op.

Changes come from watchfiles (inotify on Linux); `poll` seconds, or the absence of inotify,
makes it poll instead. Changes that happen while a step is ingesting are not all reported
afterwards (measured: a record appended then waited for the next full look), so the files
written in the last `ACTIVE_S` are also looked at (their sizes) every `TICK_MS`, and every
`RESCAN_S` the whole archive is: a missed event delays a file, never loses it.
"""

from __future__ import annotations

import io
import logging
import os
import re
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pipelines.ingest.append import ChannelAppender, Piece
from pipelines.store import DEFAULT_SNAP_TOLERANCE, Store, consolidate
from pipelines.timebase import utc_iso

log = logging.getLogger(__name__)

RESCAN_S = 30.0  # the whole archive is looked at again this often, events or not
TICK_MS = 1000  # files written lately are looked at (sizes) at least this often
ACTIVE_S = 600.0  # a file written within this long counts as being written
DEBOUNCE_MS = 400  # changes are gathered this long before a step
KEEP_OFFSETS = 64  # files whose offsets a stream remembers (the most recent ones)
SDS_NAME = re.compile(r"^([^.]*)\.([^.]*)\.([^.]*)\.([^.]*)\.[A-Z]\.\d{4}\.\d{3}$")
HEADER = 48  # the fixed header of a miniSEED 2 record
_DECODE_LOCK = threading.Lock()


@dataclass
class FollowStep:
    """What one pass over changed files did."""

    files: int = 0  # files that had new complete records
    samples: int = 0  # samples written (new ones only)
    waiting_bytes: int = 0  # bytes of partly written records, left for later
    issues: list[str] = field(default_factory=list)
    streams: set[str] = field(default_factory=set)


def record_length(head: bytes) -> int | None:
    """The length of the miniSEED 2 record whose header starts `head` (from blockette 1000),
    or None when `head` does not hold a whole, valid header with one."""
    if len(head) < HEADER + 8 or not head[:6].strip(b" 0123456789") == b"" or \
            head[6:7] not in (b"D", b"R", b"Q", b"M"):
        return None
    for fmt in (">", "<"):
        year, day = struct.unpack(fmt + "HH", head[20:24])
        if 1900 <= year <= 2100 and 1 <= day <= 366:
            break
    else:
        return None
    nxt = struct.unpack(fmt + "H", head[46:48])[0]
    seen = 0
    while nxt and nxt + 8 <= len(head) and seen < 16:
        kind, after = struct.unpack(fmt + "HH", head[nxt:nxt + 4])
        if kind == 1000:
            exp = head[nxt + 6]
            return 1 << exp if 7 <= exp <= 20 else None
        if after and after <= nxt:
            return None
        nxt, seen = after, seen + 1
    return None


def complete_end(path: str, start: int, size: int) -> int:
    """The end of the last complete record of `path` at or after byte `start` (`size` bytes
    there now): records are walked from `start`; a run of equal lengths is checked at its
    last record only. A header that cannot be read yet (partly written) ends the walk."""
    end = start
    with open(path, "rb") as fh:
        while end < size:
            fh.seek(end)
            length = record_length(fh.read(256))
            if length is None or end + length > size:
                break
            n = (size - end) // length  # records of this length that fit: check the last
            if n > 1:
                fh.seek(end + (n - 1) * length)
                if record_length(fh.read(256)) == length:
                    end += n * length
                    continue
            end += length
    return end


def channel_of_sds(path: str) -> str | None:
    """NET.STA.LOC.CHA of an SDS day file's name (NET.STA.LOC.CHA.TYPE.YEAR.DAY), or None."""
    m = SDS_NAME.match(os.path.basename(path))
    return ".".join(m.groups()) if m else None


def _decode(data: bytes, path: str) -> dict[str, list[Piece]]:
    """Pieces by channel of whole records (ObsPy's libmseed decoder)."""
    from obspy import read

    with _DECODE_LOCK:  # libmseed's log callback is process-wide (see seismic.mseed)
        st = read(io.BytesIO(data), format="MSEED")
    out: dict[str, list[Piece]] = {}
    for tr in st:
        if tr.stats.npts:
            out.setdefault(tr.id, []).append(
                Piece(int(tr.stats.starttime.ns), float(tr.stats.sampling_rate), tr.data, path))
    return out


class Follower:
    """Appends what is written into SDS roots to a store, file by file, whole records only."""

    def __init__(self, store_url: str, roots: Iterable[str],
                 snap_tolerance: float = DEFAULT_SNAP_TOLERANCE,
                 metadata: Callable[[str], dict[str, Any]] | None = None):
        self.store = Store(store_url, mode="a")
        self.roots = [os.path.abspath(r) for r in roots]
        self.tol = snap_tolerance
        self.metadata = metadata or (lambda channel: {})
        self.offsets: dict[str, int] = {}  # path -> bytes done (complete records ingested)
        self._skipped: set[str] = set()  # files that are not miniSEED (said once)

    # -- the archive --------------------------------------------------------------------
    def files(self) -> list[str]:
        """Every regular, non-hidden file under the roots."""
        out = []
        for root in self.roots:
            for folder, dirs, names in os.walk(root):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                out += [os.path.join(folder, n) for n in sorted(names) if not n.startswith(".")]
        return out

    def offset(self, path: str) -> int:
        """Bytes of `path` already ingested: remembered, else recorded on its channel's
        stream by an earlier run, else 0."""
        if path not in self.offsets:
            done = 0
            channel = channel_of_sds(path)
            if channel and channel in self.store:
                done = int(self.store.root[channel].attrs.get("follow", {}).get(path, 0))
            self.offsets[path] = done
        return self.offsets[path]

    # -- one step -----------------------------------------------------------------------
    def step(self, paths: Iterable[str], stop: threading.Event | None = None) -> FollowStep:
        """Ingest the new complete records of `paths` (those that grew)."""
        out = FollowStep()
        for path in sorted(set(paths)):
            if stop is not None and stop.is_set():
                break
            try:
                self._file(path, out)
            except Exception as exc:  # one bad file must not stop the follower
                log.exception("following %s failed", path)
                out.issues.append(f"{path}: {type(exc).__name__}: {exc}")
        return out

    def _file(self, path: str, out: FollowStep) -> None:
        if path in self._skipped:
            return
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            return
        start = self.offset(path)
        if size < start:  # rewritten shorter: start over (stored samples stay as they are)
            start = 0
        if size <= start:
            return
        end = complete_end(path, start, size)
        out.waiting_bytes += size - end
        if end == start:
            if start == 0 and size >= 4096 and record_length(_head(path)) is None:
                self._skipped.add(path)
                out.issues.append(f"{path}: not a miniSEED file; skipped")
            return
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start)
        by_channel = _decode(data, path)
        for channel, pieces in by_channel.items():
            out.samples += self._append(channel, pieces, path, start, end)
            out.streams.add(channel)
        self.offsets[path] = end
        out.files += 1

    def _append(self, channel: str, pieces: list, path: str, start: int, end: int) -> int:
        """Write and commit one channel's pieces, then record the file's offset on it."""
        net, sta, loc, cha = (channel.split(".") + ["", "", "", ""])[:4]
        ids = {"network": net, "station": sta, "location": loc, "channel": cha}
        app = ChannelAppender(self.store, channel, self.tol,
                              {"units": "counts", **ids, **self.metadata(channel)})
        before = app.outcome.written
        for p in sorted(pieces, key=lambda p: p.start_ns):
            app.add(p)
        main = app.writers.get(channel) or next(iter(app.writers.values()))
        known = any(p.get("file") == path and p.get("followed")
                    for w in app.writers.values() for p in w.attrs.get("provenance", []))
        prov = None if known else {"file": path, "followed": True, "from_byte": int(start),
                                   "ingested_at": utc_iso(time.time_ns())}
        app.flush(prov)  # samples, pyramid, then segments: the commit point
        follow = dict(main.attrs.get("follow", {}))
        follow.pop(path, None)
        follow[path] = int(end)
        while len(follow) > KEEP_OFFSETS:  # the oldest first (insertion order)
            follow.pop(next(iter(follow)))
        main.commit(extra={"follow": follow})
        return app.outcome.written - before

    def _grew(self, path: str) -> bool:
        try:
            return os.stat(path).st_size != self.offset(path)
        except FileNotFoundError:
            return False

    def changed(self) -> list[str]:
        """Files whose size differs from what was ingested of them (a full look, sizes only)."""
        out = []
        for path in self.files():
            try:
                if os.stat(path).st_size != self.offset(path):
                    out.append(path)
            except FileNotFoundError:
                continue
        return out

    # -- running --------------------------------------------------------------------------
    def run(self, stop: threading.Event, poll: float | None = None,
            report: Callable[[FollowStep], None] | None = None) -> None:
        """Catch up with the archive, then follow it until `stop` is set. `poll`: seconds
        between polls (None: file events, polling where they are not available)."""
        report = report or (lambda s: None)
        report(self.step(self.changed(), stop))
        consolidate(self.store)
        last_scan = time.monotonic()
        force = poll is not None
        # path -> when it last grew; the files written lately to begin with (what is written
        # before the watch is set up raises no event)
        active = {p: last_scan for p in self.files() if _age(p) < ACTIVE_S}
        while not stop.is_set():
            try:
                for changes in self._watch(stop, force, poll or 1.0):
                    now = time.monotonic()
                    paths = {p for _, p in changes if os.path.isfile(p)}
                    paths |= {p for p in active if self._grew(p)}
                    if now - last_scan > RESCAN_S:
                        paths |= set(self.changed())
                        last_scan = now
                    if paths:
                        done = self.step(paths, stop)
                        report(done)
                        active.update({p: now for p in paths})
                    for p in [p for p, t in active.items() if now - t > ACTIVE_S]:
                        del active[p]
                return
            except (OSError, RuntimeError) as exc:
                if force:
                    raise
                log.warning("file events are not available (%s): polling every second", exc)
                report(FollowStep(issues=[f"file events are not available ({exc}); polling "
                                          "every second"]))
                force = True

    def _watch(self, stop: threading.Event, force: bool, poll: float):
        import watchfiles

        return watchfiles.watch(*self.roots, stop_event=stop, force_polling=force,
                                poll_delay_ms=int(poll * 1000), debounce=DEBOUNCE_MS,
                                rust_timeout=TICK_MS, yield_on_timeout=True,
                                raise_interrupt=False, recursive=True)

    def close(self) -> None:
        """Write the consolidated metadata (xarray opens the store in one read)."""
        consolidate(self.store)


def _age(path: str) -> float:
    """Seconds since the file was last written (inf when it is gone)."""
    try:
        return time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return float("inf")


def _head(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(256)


__all__ = ["Follower", "FollowStep", "complete_end", "record_length", "channel_of_sds"]
