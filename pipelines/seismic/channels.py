"""Seismic sources: miniSEED files, folders, globs and SDS archives, StationXML, QuakeML."""

from __future__ import annotations

import glob
import os
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.append import ChannelAppender, Piece
from pipelines.digest import FileDigest, bytes_digest, recorded
from pipelines.report import FileIssue
from pipelines.store import DEFAULT_SNAP_TOLERANCE, Store, StreamWriter
from pipelines.timebase import utc_iso

# A channel's files are committed together (one pyramid update, one commit) until about this
# many samples (~4 days at 100 Hz) or seconds of work are pending: each commit rewrites the
# shards at the batch's edges and every coarse pyramid level, which cost ~15 % of an ingest
# of day files when done per file. A killed ingest loses at most one batch; rerun redoes it.
COMMIT_SAMPLES = 2**25
COMMIT_SECONDS = 10.0

# ObsPy's libmseed wrapper installs its log callback globally for the duration of each call:
# two decodes in parallel threads can call a callback that the other already freed (seen as
# SIGILL on corrupt files). Decoding is serialised per process; everything else runs alongside.
MSEED_LOCK = threading.Lock()


@dataclass
class ScannedFile:
    """A miniSEED file and the channels it holds (from a header-only read)."""

    path: str
    size: int
    channels: dict[str, int]  # channel id -> first sample time (ns)


@dataclass
class ScanResult:
    """All inputs sorted into channels, plus the inputs that could not be used."""

    files: list[ScannedFile] = field(default_factory=list)
    issues: list[FileIssue] = field(default_factory=list)

    def by_channel(self) -> dict[str, list[str]]:
        """Channel id -> its files in time order."""
        out: dict[str, list[tuple[int, str]]] = {}
        for f in self.files:
            for ch, t in f.channels.items():
                out.setdefault(ch, []).append((t, f.path))
        return {ch: [p for _, p in sorted(v)] for ch, v in sorted(out.items())}


def expand_inputs(paths: Iterable[str]) -> tuple[list[str], list[FileIssue]]:
    """Files named by paths, folders (SDS roots included, walked recursively) and globs."""
    files: list[str] = []
    issues: list[FileIssue] = []
    for p in paths:
        if any(c in p for c in "*?["):
            matched = sorted(glob.glob(p, recursive=True))
            if not matched:
                issues.append(FileIssue(p, "no file matches this pattern"))
            files += [m for m in matched if os.path.isfile(m)]
        elif os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs.sort()
                files += [os.path.join(root, n) for n in sorted(names) if not n.startswith(".")]
        elif os.path.exists(p):
            files.append(p)
        else:
            issues.append(FileIssue(p, "no such file or folder"))
    seen: set[str] = set()
    unique = []
    for f in files:
        a = os.path.abspath(f)
        if a not in seen:
            seen.add(a)
            unique.append(a)
    return unique, issues


def scan_file(path: str) -> ScannedFile | FileIssue:
    """Read a file's record headers to learn its channels; a FileIssue if it is not usable."""
    from obspy.io.mseed.core import _is_mseed

    try:
        size = os.path.getsize(path)
        with open(path, "rb"):
            pass
    except OSError as exc:
        return FileIssue(path, f"cannot be read: {exc.strerror or exc}")
    if size == 0:
        return FileIssue(path, "empty file (0 bytes)")
    try:
        if not _is_mseed(path):
            return FileIssue(path, "not a miniSEED file (no valid record header)")
        with MSEED_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            st = _read_mseed(path, headonly=True)
    except Exception as exc:  # ObsPy raises many types for broken records
        return FileIssue(path, f"corrupt miniSEED: {_one_line(exc)}")
    channels: dict[str, int] = {}
    for tr in st:
        t = int(tr.stats.starttime.ns)
        channels[tr.id] = min(channels.get(tr.id, t), t)
    if not channels:
        return FileIssue(path, "miniSEED file holds no data records")
    return ScannedFile(path, size, channels)


def scan(paths: Iterable[str]) -> ScanResult:
    """Expand and scan all inputs."""
    files, issues = expand_inputs(paths)
    result = ScanResult(issues=issues)
    for f in files:
        r = scan_file(f)
        (result.issues if isinstance(r, FileIssue) else result.files).append(r)
    return result


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _read_mseed(path: str, **kwargs):
    """ObsPy's miniSEED reader without `obspy.read`'s plugin lookup (entry points, ~4 ms a
    call); the same result as `obspy.read(path, format="MSEED", **kwargs)`."""
    try:
        from obspy.io.mseed.core import _read_mseed as reader
    except ImportError:  # a future ObsPy that moved it: the public way
        from obspy import read

        return read(path, format="MSEED", **kwargs)
    return reader(path, **kwargs)


def read_pieces(path: str, channel: str, data: np.ndarray | None = None
                ) -> tuple[list[Piece], list[str]]:
    """Decode one channel's samples from a miniSEED file (or its bytes already read, `data`,
    an int8 array), with warnings worth reporting."""
    # catch_warnings is process-wide: while it records, warnings from other threads land here
    # too, so only ObsPy's own are kept (MSEED_LOCK keeps two such blocks from interleaving).
    with MSEED_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        st = _read_mseed(path if data is None else data, sourcename=channel)
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
              for tr in st if tr.id == channel and tr.stats.npts > 0]
    pieces.sort(key=lambda p: p.start_ns)
    return pieces, sorted(set(notes))


def _from_obspy(w: warnings.WarningMessage) -> bool:
    sep = os.sep
    return (f"{sep}obspy{sep}" in (w.filename or "")
            or getattr(w.category, "__module__", "").startswith("obspy"))


@dataclass
class ChannelTask:
    """Everything one worker needs to ingest one channel (picklable, for Dask)."""

    store_url: str
    channel: str
    files: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    snap_tolerance: float = DEFAULT_SNAP_TOLERANCE


@dataclass
class ChannelResult:
    """What ingesting one channel did."""

    channel: str
    streams: list[str] = field(default_factory=list)
    samples_written: int = 0
    samples_read: int = 0
    samples_unchanged: int = 0
    files_ingested: int = 0
    files_unchanged: int = 0
    conflicts: list[dict] = field(default_factory=list)
    issues: list[FileIssue] = field(default_factory=list)
    seconds: float = 0.0


def _load_file(path: str, channel: str, known: list[dict]):
    """Checksum a file and, unless `known` provenance records it, decode its samples.

    The file is read once: its bytes are hashed and handed to ObsPy's decoder (which would
    otherwise map the file again and page-fault through it)."""
    data = np.fromfile(path, dtype=np.int8)
    digest = bytes_digest(data, path)
    if recorded(known, digest):
        return digest, None, []
    pieces, notes = read_pieces(path, channel, data)
    return digest, pieces, notes


class Prefetcher:
    """Checksums and decodes the files of tasks, in order, a few files ahead, in a thread.

    ObsPy's decoder and the codecs release the GIL, so the next file is decoded while the
    current one is written. One prefetcher can feed several tasks run one after the other
    (then the first file of the next channel is decoded while the last of this one is
    written); each task must take exactly its files' results, in order.
    """

    def __init__(self, tasks: list[ChannelTask]):
        import queue

        # Two files ahead: decoding also fills the pauses while a file's pyramid is committed.
        self._q: queue.Queue = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        # Streams `_prepare_stream` made, by channel, for the writer to take over.
        self.prepared: dict[str, StreamWriter] = {}
        self._thread = threading.Thread(target=self._run, args=(list(tasks),), daemon=True,
                                        name="belvedere-read")
        self._thread.start()

    def _run(self, tasks: list[ChannelTask]) -> None:
        import queue

        for task in tasks:
            known = _committed_provenance(task)
            for i, path in enumerate(task.files):
                try:
                    item = (True, _load_file(path, task.channel, known))
                except Exception as exc:  # handed to the consumer, reported per file
                    item = (False, exc)
                if i == 0 and item[0] and item[1][1]:
                    w = _prepare_stream(task, item[1][1][0])
                    if w is not None:
                        self.prepared[task.channel] = w
                while True:
                    if self._stop.is_set():
                        return
                    try:
                        self._q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue

    def get(self) -> tuple[str, list[Piece] | None, list[str]]:
        ok, value = self._q.get()
        if not ok:
            raise value
        return value

    def close(self) -> None:
        import queue

        self._stop.set()
        while self._thread.is_alive():
            try:
                self._q.get(timeout=0.05)
            except queue.Empty:
                pass


def _appender(store: Store, task: ChannelTask,
              prepared: StreamWriter | None = None) -> ChannelAppender:
    return ChannelAppender(store, task.channel, task.snap_tolerance,
                           {"units": "counts", **_id_attrs(task.channel), **task.metadata},
                           opened={prepared.name: prepared} if prepared else None)


def _prepare_stream(task: ChannelTask, first: Piece) -> StreamWriter | None:
    """Create a new channel's stream from its first piece, in the decoding thread: while the
    previous channel is still being written, instead of between the two (~20 ms of file
    creation each, during which the encoding threads would wait). The writer takes over the
    returned StreamWriter (its arrays open: reopening them cost ~25 ms per stream); if this
    fails, the writer creates the stream itself.
    Local stores only: a remote store's listing may lag behind a write made from another
    thread (seen with s3fs), and the writer would then try to create the stream again."""
    import zarr

    from pipelines.append import epoch_names

    try:
        store = Store(task.store_url, mode="a")
        if not isinstance(store.zarr_store, zarr.storage.LocalStore):
            return None
        if not epoch_names(store, task.channel):
            return _appender(store, task)._writer_for(first)
    except Exception:  # the writer will create the stream (or report why it cannot)
        pass
    return None


def _committed_provenance(task: ChannelTask) -> list[dict]:
    """The provenance of the files already committed to a channel (empty if it cannot tell)."""
    from pipelines.append import epoch_names

    try:
        store = Store(task.store_url, mode="r")
        return [p for name in epoch_names(store, task.channel)
                for p in store.root[name].attrs.get("provenance", [])]
    except Exception:
        return []


def ingest_channels(tasks: list[ChannelTask], progress=None):
    """Ingest tasks one after the other, decoding ahead across them; yields (task, result)."""
    prefetch = Prefetcher(tasks)
    try:
        for task in tasks:
            yield task, ingest_channel(task, progress, prefetch=prefetch)
    finally:
        prefetch.close()


def ingest_channels_threaded(tasks: list[ChannelTask], workers: int, sizes: dict[str, int]):
    """Ingest tasks in `workers` threads, each running its share of the channels one after
    the other as `ingest_channels` does; yields (task, result) as each task finishes.

    Threads, not processes: decoding, codecs, numpy and file writes release the GIL, and a
    spawned process costs ~2 s of imports before its first task.
    """
    import queue

    groups: list[list[ChannelTask]] = [[] for _ in range(max(1, min(workers, len(tasks))))]
    loads = [0] * len(groups)
    for task in sorted(tasks, key=lambda t: -sum(sizes.get(f, 0) for f in t.files)):
        i = loads.index(min(loads))  # largest first onto the least loaded thread
        groups[i].append(task)
        loads[i] += sum(sizes.get(f, 0) for f in task.files)
    done: queue.Queue = queue.Queue()
    stop = threading.Event()

    def run(group: list[ChannelTask]) -> None:
        try:
            for item in ingest_channels(group):
                done.put(item)
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer
            done.put(exc)
        finally:
            done.put(None)

    threads = [threading.Thread(target=run, args=(g,), name="belvedere-task", daemon=True)
               for g in groups if g]
    for t in threads:
        t.start()
    try:
        running = len(threads)
        while running:
            item = done.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        for t in threads:
            t.join()


@dataclass
class _Batch:
    """Files written since the last commit of a channel (see `COMMIT_SAMPLES`)."""

    provenance: list[dict] = field(default_factory=list)
    samples: int = 0
    span: tuple[int, int] | None = None  # ns covered by the batch's pieces
    started: float = field(default_factory=time.perf_counter)

    def fits(self, pieces: list[Piece]) -> bool:
        """False when a file's pieces would stretch the batch's span (the pyramid update
        spans it) far beyond the samples it holds, e.g. a day far from the others."""
        if self.span is None or not pieces:
            return True
        t0, t1 = _span_of(pieces, self.span)
        rate = pieces[0].sampling_rate
        n = self.samples + sum(len(p.values) for p in pieces)
        return (t1 - t0) * rate / 1e9 <= 2 * n + rate * 3600

    def add(self, provenance: dict, pieces: list[Piece]) -> None:
        """Count a file written into the batch."""
        self.provenance.append(provenance)
        self.samples += sum(len(p.values) for p in pieces)
        if pieces:
            self.span = _span_of(pieces, self.span)

    def due(self) -> bool:
        """True when the batch should be committed now."""
        return (self.samples >= COMMIT_SAMPLES
                or time.perf_counter() - self.started >= COMMIT_SECONDS)


def _span_of(pieces: list[Piece], span: tuple[int, int] | None) -> tuple[int, int]:
    """[start, end) ns covering `span` (if any) and the pieces."""
    starts = [p.start_ns for p in pieces]
    ends = [p.start_ns + int(len(p.values) * 1e9 / p.sampling_rate) for p in pieces]
    if span is not None:
        starts.append(span[0])
        ends.append(span[1])
    return min(starts), max(ends)


def _commit(app: ChannelAppender, batch: _Batch) -> _Batch:
    """Commit a batch (pyramids, then segments and provenance); a new, empty batch."""
    if batch.provenance:
        app.flush(batch.provenance)
    return _Batch()


def ingest_channel(task: ChannelTask, progress=None, prefetch: Prefetcher | None = None
                   ) -> ChannelResult:
    """Ingest one channel's files in time order, committing them in batches (`_Batch`).

    The next file is checksummed and decoded in a background thread (`Prefetcher`) while
    this one is written.
    """
    t_start = time.perf_counter()
    own = prefetch is None
    if own:
        prefetch = Prefetcher([task])
    store = Store(task.store_url, mode="a")
    res = ChannelResult(task.channel)
    app = None
    batch = _Batch()
    try:
        for path in task.files:
            try:
                digest, pieces, notes = prefetch.get()
            except Exception as exc:
                res.issues.append(FileIssue(path, f"corrupt miniSEED: {_one_line(exc)}"))
                continue
            if app is None:  # after the first file, with the stream `_prepare_stream` made
                app = _appender(store, task, prefetch.prepared.pop(task.channel, None))
            try:
                if app.has_file(digest) or recorded(batch.provenance, digest):
                    res.files_unchanged += 1
                    continue
                if pieces is None:  # known when the prefetch began, yet not committed here
                    pieces, notes = read_pieces(path, task.channel)
            except Exception as exc:
                res.issues.append(FileIssue(path, f"corrupt miniSEED: {_one_line(exc)}"))
                continue
            if not batch.fits(pieces):
                batch = _commit(app, batch)
            batch.add(_ingest_file(app, res, path, digest, pieces, notes, progress), pieces)
            if batch.due():
                batch = _commit(app, batch)
        if app is not None:
            _commit(app, batch)
    finally:
        if own:
            prefetch.close()
    if app is None:
        app = _appender(store, task)
    if task.metadata:
        for w in app.writers.values():
            w.update_attrs(task.metadata)
    res.streams = sorted(app.writers)
    res.samples_written = app.outcome.written
    res.samples_unchanged = app.outcome.unchanged
    res.conflicts = app.outcome.conflicts
    res.seconds = time.perf_counter() - t_start
    return res


def _ingest_file(app: ChannelAppender, res: ChannelResult, path: str, digest: FileDigest,
                 pieces: list[Piece], notes: list[str], progress) -> dict:
    """Write one file's pieces (committed with its batch); its provenance entry."""
    before_w, before_c = app.outcome.written, len(app.outcome.conflicts)
    try:
        for piece in pieces:
            res.samples_read += len(piece.values)
            app.add(piece)
    except ValueError as exc:
        res.issues.append(FileIssue(path, str(exc)))
    prov = {"file": path, **digest.record(), "bytes": os.path.getsize(path),
            "ingested_at": utc_iso(time.time_ns()),
            "samples": int(sum(len(p.values) for p in pieces))}
    for note in notes:
        res.issues.append(FileIssue(path, f"{note}; the readable records were ingested"))
    if app.outcome.written > before_w or len(app.outcome.conflicts) > before_c:
        res.files_ingested += 1
    else:
        res.files_unchanged += 1
    if progress is not None:
        progress(os.path.getsize(path))
    return prov


def _id_attrs(channel: str) -> dict[str, str]:
    net, sta, loc, cha = (channel.split(".") + ["", "", "", ""])[:4]
    return {"network": net, "station": sta, "location": loc, "channel": cha}


# -- StationXML ---------------------------------------------------------------------------
def read_inventories(paths: Iterable[str]) -> tuple[list[Any], list[FileIssue]]:
    """Read StationXML files; each unreadable one becomes an issue line."""
    from obspy import read_inventory

    invs, issues = [], []
    for p in paths:
        try:
            invs.append((p, read_inventory(p)))
        except FileNotFoundError:
            issues.append(FileIssue(p, "no such StationXML file"))
        except Exception as exc:
            issues.append(FileIssue(p, f"not a readable StationXML file: {_one_line(exc)}"))
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
                    return _jsonable(meta)
    return {}


def _instrument(c) -> str | None:
    parts = []
    for eq in (c.sensor, c.data_logger):
        if eq is not None:
            text = eq.description or eq.type or eq.model
            if text:
                parts.append(str(text))
    return " / ".join(parts) or c.description or None


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    try:
        return float(obj)
    except (TypeError, ValueError):
        return str(obj)


# -- QuakeML ------------------------------------------------------------------------------
def read_catalog(path: str) -> list[dict[str, Any]]:
    """Events of a QuakeML file as plain dicts (id, time, place, magnitude, picks)."""
    from obspy import read_events

    cat = read_events(path)
    events = []
    for ev in cat:
        org = ev.preferred_origin() or (ev.origins[0] if ev.origins else None)
        if org is None:
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
        events.append(_jsonable({
            "id": str(ev.resource_id), "time_ns": int(org.time.ns), "time": str(org.time),
            "latitude": org.latitude, "longitude": org.longitude,
            "depth_m": org.depth, "magnitude": mag.mag if mag else None,
            "magnitude_type": mag.magnitude_type if mag else None, "description": desc,
            "picks": picks, "source": os.path.abspath(path)}))
    return events


__all__ = ["scan", "scan_file", "expand_inputs", "ingest_channel", "ingest_channels",
           "ingest_channels_threaded", "ChannelTask",
           "ChannelResult", "read_inventories", "channel_metadata", "read_catalog"]
