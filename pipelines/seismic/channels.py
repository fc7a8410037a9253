"""One channel's files onto its streams: decoded ahead in a thread, written, committed in
batches. The seismic ingest runs one `ChannelTask` per channel (here, in threads, or on Dask).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.ingest.append import ChannelAppender, Piece, epoch_names
from pipelines.ingest.digest import FileDigest, bytes_digest, recorded
from pipelines.ingest.report import FileIssue, one_line
from pipelines.seismic import readers
from pipelines.seismic.options import ReadOptions
from pipelines.store import DEFAULT_SNAP_TOLERANCE, Store, StreamWriter
from pipelines.timebase import utc_iso

# A channel's files are committed together (one pyramid update, one commit) until about this
# many samples (~4 days at 100 Hz) or seconds of work are pending: each commit rewrites the
# shards at the batch's edges and every coarse pyramid level, which cost ~15 % of an ingest
# of day files when done per file. A killed ingest loses at most one batch; rerun redoes it.
COMMIT_SAMPLES = 2**25
COMMIT_SECONDS = 10.0


@dataclass
class ChannelTask:
    """Everything one worker needs to ingest one channel (picklable, for Dask)."""

    store_url: str
    channel: str
    files: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    snap_tolerance: float = DEFAULT_SNAP_TOLERANCE
    readers: dict[str, str] = field(default_factory=dict)  # file -> reader name (default mseed)

    def reader_of(self, path: str):
        """The reader module of one of the task's files."""
        return readers.by_name(self.readers.get(path, "mseed"))


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


def _load_file(task: ChannelTask, path: str, known: list[dict]):
    """Checksum a file and, unless `known` provenance records it, decode its samples.

    The file is read once: its bytes are hashed and handed to ObsPy's decoder (which would
    otherwise map the file again and page-fault through it)."""
    data = np.fromfile(path, dtype=np.int8)
    digest = bytes_digest(data, path)
    if recorded(known, digest):
        return digest, None, []
    pieces, notes = task.reader_of(path).read(path, ReadOptions(task.channel, data))
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
                    item = (True, _load_file(task, path, known))
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
    try:
        store = Store(task.store_url, mode="a")
        if not store.is_local:
            return None
        if not epoch_names(store, task.channel):
            return _appender(store, task)._writer_for(first)
    except Exception:  # the writer will create the stream (or report why it cannot)
        pass
    return None


def _committed_provenance(task: ChannelTask) -> list[dict]:
    """The provenance of the files already committed to a channel (empty if it cannot tell)."""
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
                res.issues.append(_corrupt(task, path, exc))
                continue
            if app is None:  # after the first file, with the stream `_prepare_stream` made
                app = _appender(store, task, prefetch.prepared.pop(task.channel, None))
            try:
                if app.has_file(digest) or recorded(batch.provenance, digest):
                    res.files_unchanged += 1
                    continue
                if pieces is None:  # known when the prefetch began, yet not committed here
                    pieces, notes = task.reader_of(path).read(path, ReadOptions(task.channel))
            except Exception as exc:
                res.issues.append(_corrupt(task, path, exc))
                continue
            if not pieces:  # the headers named the channel, yet no sample was decoded
                res.issues.append(FileIssue(path, f"no samples of {task.channel} could be "
                                                  "decoded although its record headers name it"))
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


def _corrupt(task: ChannelTask, path: str, exc: Exception) -> FileIssue:
    return FileIssue(path, f"corrupt {task.reader_of(path).NAME}: {one_line(exc)}")


def _id_attrs(channel: str) -> dict[str, str]:
    net, sta, loc, cha = (channel.split(".") + ["", "", "", ""])[:4]
    return {"network": net, "station": sta, "location": loc, "channel": cha}


__all__ = ["ChannelTask", "ChannelResult", "ingest_channel", "ingest_channels",
           "ingest_channels_threaded"]
