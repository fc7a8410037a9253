"""The seismic ingest run: scan inputs, split them by channel, run the tasks, report."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pipelines.ingest.append import channel_of
from pipelines.ingest.inputs import not_regular
from pipelines.ingest.report import FileIssue, IngestReport
from pipelines.ingest.runner import run_tasks
from pipelines.seismic import quakeml
from pipelines.seismic.channels import (
    ChannelTask,
    ingest_channel,
    ingest_channels,
    ingest_channels_threaded,
)
from pipelines.seismic.scan import scan
from pipelines.seismic.stationxml import channel_metadata, keep_inventories, read_inventories
from pipelines.store import DEFAULT_SNAP_TOLERANCE, Store, consolidate

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


def ingest_seismic(store_url: str, paths: Sequence[str], inventories: Sequence[str] = (),
                   events: Sequence[str] = (), workers: int = 1, scheduler: str | None = None,
                   snap_tolerance: float = DEFAULT_SNAP_TOLERANCE,
                   progress: Progress | None = None) -> IngestReport:
    """Ingest miniSEED/SDS inputs (plus StationXML and QuakeML) into a store."""
    t0 = time.perf_counter()
    store = Store(store_url, mode="a")
    report = IngestReport(bytes_before=store.nbytes())
    inventories, events = _regular_only(inventories, report), _regular_only(events, report)
    invs, inv_issues = read_inventories(inventories)
    report.issues += inv_issues
    scanned = scan(paths)
    report.issues += scanned.issues
    report.files_total = len({f.path for f in scanned.files} | {i.path for i in scanned.issues})
    report.input_bytes = sum(f.size for f in scanned.files)
    by_channel = scanned.by_channel()
    first = {ch: min(f.channels[ch] for f in scanned.files if ch in f.channels)
             for ch in by_channel}
    readers = scanned.readers()
    tasks = [ChannelTask(store.url, ch, files, channel_metadata(invs, ch, first[ch]),
                         snap_tolerance, {f: readers[f] for f in files})
             for ch, files in by_channel.items()]
    sizes = {f.path: f.size for f in scanned.files}
    total = sum(sizes[p] for t in tasks for p in t.files)
    done = 0
    files_ok: set[str] = set()
    files_new: set[str] = set()
    if scheduler:
        results = run_tasks(ingest_channel, tasks, workers, scheduler)
    elif workers > 1 and len(tasks) > 1:
        results = ingest_channels_threaded(tasks, workers, sizes)
    else:  # one task at a time, each next file (across channels) decoded while writing
        results = ingest_channels(tasks)
    for task, res in results:
        done += sum(sizes[p] for p in task.files)
        if progress:
            progress(done, total)
        report.streams += res.streams
        report.samples_written += res.samples_written
        report.samples_read += res.samples_read
        report.conflicts += res.conflicts
        report.issues += res.issues
        files_ok.update(task.files)
        if res.files_ingested:
            files_new.update(task.files)
    bad = {i.path for i in report.issues}
    report.files_ingested = len(files_new - bad)
    report.files_unchanged = len(files_ok - files_new - bad)
    _apply_inventories(store, invs, set(by_channel), report)
    for path in events:
        try:
            found, notes = quakeml.read_with_notes(path)
            added = store.set_events(found)
        except Exception as exc:
            report.issues.append(FileIssue(path, f"not a readable QuakeML file: "
                                                 f"{type(exc).__name__}: {exc}"))
            continue
        report.events_added += added
        report.notes += [FileIssue(path, n) for n in notes]
        if found and not added:
            report.notes.append(FileIssue(path, f"all {len(found)} events are already in the "
                                                "catalogue; nothing added"))
    consolidate(store)  # everything is committed: xarray can open the store in one read
    store = Store(store.url, mode="r")
    report.streams = sorted(set(report.streams))
    report.gaps = sum(len(store[s].gaps()) for s in report.streams)
    report.bytes_after = store.nbytes()
    report.seconds = time.perf_counter() - t0
    return report


def _regular_only(paths: Sequence[str], report: IngestReport) -> list[str]:
    """The paths that are regular files; the others reported (a pipe is never opened)."""
    keep = []
    for p in paths:
        problem = not_regular(p)
        if problem is None:
            keep.append(p)
        else:
            report.issues.append(FileIssue(p, f"{problem}; skipped"))
    return keep


def _apply_inventories(store: Store, invs: list, ingested: set[str],
                       report: IngestReport) -> None:
    """Put StationXML metadata on existing streams too; flag inventories that match nothing."""
    if not invs:
        return
    keep_inventories(store, invs)  # whole, responses included (the analyses use them)
    matched = {path: False for path, _ in invs}
    for name in store.streams():
        ch = channel_of(name)
        for path, inv in invs:
            meta = channel_metadata([(path, inv)], ch)
            if meta:
                matched[path] = True
                if ch not in ingested:
                    store.writer(name).update_attrs(meta)
                break
    for path, ok in matched.items():
        if not ok:
            report.issues.append(FileIssue(
                path, "StationXML matches none of the streams in the store; check network, "
                      "station, location and channel codes"))


