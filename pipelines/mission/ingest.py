"""The mission ingest run: find each file's reader, read its series, write, report.

Same guarantees as the seismic ingest, through the same machinery: regular series go through
`pipelines.ingest.append.ChannelAppender` (grid, snapping, epochs, overlaps, per-file commit
with provenance), irregular ones through `pipelines.store.irregular`; a file already committed to a
stream (same content digest) is skipped for that stream, so a re-run changes nothing; every
file that cannot be used gets one `FileIssue` line, and the other files are still ingested.
A file ingested whole whose header needed an assumption (or whose auxiliary datasets are kept
as attributes) gets `warnings` lines; a warning is not a failure (exit status 0).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.ingest.append import ChannelAppender, epoch_names
from pipelines.ingest.digest import FileDigest, file_digest, recorded
from pipelines.ingest.inputs import expand_inputs
from pipelines.ingest.report import FileIssue, IngestReport, one_line
from pipelines.mission import spectra
from pipelines.mission.options import MissionOptions
from pipelines.mission.readers import reader_for
from pipelines.mission.series import LayoutError, Series, epoch_ns
from pipelines.store import (
    IrregularStream,
    Store,
    Stream,
    consolidate,
    create_irregular,
    is_irregular,
    open_stream,
    open_writer,
)
from pipelines.timebase import utc_iso

FLUSH_SAMPLES = 2**24  # per stream: commit segments (no provenance) every this many samples


@dataclass
class FileOutcome:
    """What ingesting one file did."""

    layout: str = ""
    streams: list[str] = field(default_factory=list)
    written: int = 0
    read: int = 0
    new_streams: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def open_any(store: Store, name: str) -> Stream | IrregularStream:
    """A stream of either kind, for reading."""
    if is_irregular(store.root[name].attrs):
        return open_stream(store, name)
    return store[name]


def _committed(store: Store, names: list[str], digest: FileDigest) -> bool:
    return any(recorded(store.root[n].attrs.get("provenance", []), digest) for n in names)


def ingest_series(store: Store, s: Series, path: str, digest: FileDigest, options: MissionOptions,
                  out: FileOutcome) -> None:
    """Write one series of a file (skipped where this file is already committed)."""
    prov = {"file": path, **digest.record(), "bytes": os.path.getsize(path),
            "ingested_at": utc_iso(time.time_ns()), "samples": int(s.n), "layout": out.layout}
    existing = epoch_names(store, s.name)
    irregular_there = s.name in existing and is_irregular(store.root[s.name].attrs)
    if s.regular and not irregular_there:
        _ingest_regular(store, s, digest, prov, options, out)
    else:
        _ingest_irregular(store, s, digest, prov, out)


def _ingest_regular(store: Store, s: Series, digest: FileDigest, prov: dict,
                    options: MissionOptions, out: FileOutcome) -> None:
    app = ChannelAppender(store, s.name, options.snap_tolerance, dict(s.attrs))
    if app.has_file(digest):
        out.streams += sorted(app.writers)
        out.read += s.n
        for w in app.writers.values():  # spectra an interrupted run left behind
            spectra.update_spectra(w, 0, 0, options.spectra_block_s)
        return
    spans: dict[str, tuple[int, int]] = {}

    def note_spans() -> None:
        for name, (a, b) in app.outcome.touched.items():
            lo, hi = spans.get(name, (a, b))
            spans[name] = (min(lo, a), max(hi, b))

    since = 0
    for piece in s.pieces():
        out.read += len(piece.values)
        app.add(piece)
        since += len(piece.values)
        if since >= FLUSH_SAMPLES:  # bounded memory; provenance only with the last commit
            note_spans()
            app.flush(None)
            since = 0
    note_spans()
    app.flush(prov)
    out.written += app.outcome.written
    out.conflicts += app.outcome.conflicts
    out.new_streams += len(app.outcome.new_streams)
    out.streams += sorted(app.writers)
    for name, w in app.writers.items():
        a, b = spans.get(name, (0, 0))
        spectra.update_spectra(w, a, b, options.spectra_block_s, frozenset({digest}))


def _ingest_irregular(store: Store, s: Series, digest: FileDigest, prov: dict,
                      out: FileOutcome) -> None:
    if s.regular:  # the store holds this stream as irregular: add the samples as such
        parts = list(s.pieces())
        times = np.concatenate([p.start_ns + np.round(np.arange(len(p.values)) * 1e9
                                                      / p.sampling_rate).astype(np.int64)
                                for p in parts]) if parts else np.zeros(0, np.int64)
        values = np.concatenate([p.values for p in parts]) if parts else np.zeros(0)
    else:
        times, values = s.times, s.values
    out.read += len(times)
    if s.name in store.root:
        if not is_irregular(store.root[s.name].attrs):
            raise LayoutError(f"stream {s.name} is stored on a regular grid, but this file's "
                              "timestamps are irregular; give these files another --prefix")
        if _committed(store, [s.name], digest):
            out.streams.append(s.name)
            return
        w = open_writer(store, s.name)
    else:
        if not len(times):
            return
        w = create_irregular(store, s.name, times, values.dtype, dict(s.attrs))
        out.new_streams += 1
    oc = w.append(times, values, prov["file"])
    w.commit([prov], oc.conflicts)
    out.written += oc.written
    out.conflicts += oc.conflicts
    out.streams.append(s.name)


def ingest_file(store: Store, path: str, options: MissionOptions) -> FileOutcome:
    """Ingest one mission file; LayoutError (or another exception) when it cannot be used."""
    out = FileOutcome()
    with reader_for(path).read(path, options) as contents:
        out.layout = contents.layout
        out.warnings = list(contents.warnings)
        digest = file_digest(path)
        for s in contents.series:
            ingest_series(store, s, path, digest, options, out)
    return out


def ingest_mission(store_url: str, paths: Sequence[str], options: MissionOptions | None = None,
                   progress: Callable[[int, int], None] | None = None) -> IngestReport:
    """Ingest mission files (LISA/LDC HDF5, OGIP FITS, CSV/Parquet telemetry) into a store."""
    options = options or MissionOptions()
    epoch_ns(options.sim_epoch)  # a bad epoch is a usage error before anything is written
    t0 = time.perf_counter()
    store = Store(store_url, mode="a")
    report = IngestReport(bytes_before=store.nbytes())
    files, issues = expand_inputs(paths)
    report.issues += issues
    report.files_total = len(files) + len(issues)
    sizes = {f: os.path.getsize(f) for f in files}
    report.input_bytes = sum(sizes.values())
    done = 0
    streams: set[str] = set()
    for path in files:
        try:
            res = ingest_file(store, path, options)
        except LayoutError as exc:
            report.issues.append(FileIssue(path, str(exc)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            report.issues.append(FileIssue(path, f"cannot be read: {one_line(exc)}"))
        else:
            streams.update(res.streams)
            report.warnings += [FileIssue(path, w) for w in res.warnings]
            report.samples_written += res.written
            report.samples_read += res.read
            report.conflicts += res.conflicts
            if res.written or res.conflicts or res.new_streams:
                report.files_ingested += 1
            else:
                report.files_unchanged += 1
        done += sizes[path]
        if progress:
            progress(done, report.input_bytes)
    consolidate(store)  # everything is committed: xarray can open the store in one read
    ro = Store(store.url, mode="r")
    report.streams = sorted(streams)
    report.gaps = sum(len(open_any(ro, s).gaps()) for s in report.streams if s in ro.root)
    report.bytes_after = ro.nbytes()
    report.seconds = time.perf_counter() - t0
    return report
