"""Synthetic seismic network written as a real archive: SDS of Steim2 miniSEED, StationXML, QuakeML.

The network, its noise, its earthquakes and its metadata live in the sibling modules
(`network`, `plan`, `noise`, `quakes`, `synthesis`, `metadata`); this module writes them out.
Every channel-day can be computed on its own (in any process, in any order) and still join its
neighbours sample for sample, so the archive is byte-identical however it is produced.

With workers > 1 the process pool uses the "spawn" start method (safe when the caller already
runs threads, e.g. a progress bar or Dask): a script calling generate_archive must then guard
its entry point with ``if __name__ == "__main__":``, as multiprocessing requires.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from obspy import Stream, Trace, UTCDateTime

from pipelines.demo.metadata import catalog_of, inventory_of
from pipelines.demo.network import (
    DAY_NS,
    ENCODING,
    GENERATOR_VERSION,
    NETWORK,
    RECORD_LENGTH,
    REF_NS,
    SIZES,
    GapSpec,
    StationSpec,
    SyntheticSpec,
    spec_for,
)
from pipelines.demo.plan import Plan, plan_for
from pipelines.demo.synthesis import signal_counts, synthesize_samples

__all__ = [
    "SIZES",
    "GapSpec",
    "StationSpec",
    "SyntheticArchive",
    "SyntheticSpec",
    "generate_archive",
    "synthesize_samples",
]


@dataclass(frozen=True)
class SyntheticArchive:
    """What generate_archive wrote; `end` is exclusive, gap ends are the first sample after."""

    sds_root: Path
    inventory: Path
    catalog: Path
    streams: list[str]
    start: UTCDateTime
    end: UTCDateTime
    n_samples: int
    gaps: list[tuple[str, UTCDateTime, UTCDateTime]]
    dead_channel: str


def _channel_days(plan: Plan) -> Iterator[tuple[int, int, int]]:
    """(stream index, first, end) global sample numbers of each channel-day."""
    d0 = (plan.start_ns - REF_NS) // DAY_NS
    d1 = (plan.end_ns - 1 - REF_NS) // DAY_NS
    for i, s in enumerate(plan.streams):
        for d in range(d0, d1 + 1):
            a = max(plan.start_ns, REF_NS + d * DAY_NS)
            b = min(plan.end_ns, REF_NS + (d + 1) * DAY_NS)
            yield i, (a - REF_NS) // s.period_ns, (b - REF_NS) // s.period_ns


def _present(n0: int, n1: int, gaps: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    spans, a = [], n0
    for g0, g1 in gaps:
        if g1 <= a or g0 >= n1:
            continue
        if g0 > a:
            spans.append((a, g0))
        a = max(a, g1)
    if a < n1:
        spans.append((a, n1))
    return spans


def _sds_relpath(sid: str, t_ns: int) -> str:
    net, sta, loc, cha = sid.split(".")
    t = UTCDateTime(ns=t_ns)
    return f"{t.year}/{net}/{sta}/{cha}.D/{sid}.D.{t.year}.{t.julday:03d}"


def _replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    # A crash never leaves a half-written file under its final name.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_channel_day(spec: SyntheticSpec, seed: int, index: int, n0: int, n1: int,
                       sds_root: str) -> tuple[str, int, int]:
    """Generate and write one SDS day file; returns (relative path, bytes, samples)."""
    s = plan_for(spec, seed).streams[index]
    spans = _present(n0, n1, s.gaps)
    if not spans:
        return "", 0, 0
    data = signal_counts(seed, s, n0, n1)
    net, sta, loc, cha = s.sid.split(".")
    traces = [
        Trace(np.ascontiguousarray(data[a - n0:b - n0]), header={
            "network": net, "station": sta, "location": loc, "channel": cha,
            "sampling_rate": float(s.sr),
            "starttime": UTCDateTime(ns=REF_NS + a * s.period_ns),
        })
        for a, b in spans
    ]
    rel = _sds_relpath(s.sid, REF_NS + n0 * s.period_ns)
    path = Path(sds_root) / rel
    _replace_atomically(path, lambda p: Stream(traces).write(
        str(p), format="MSEED", encoding=ENCODING, reclen=RECORD_LENGTH))
    return rel, path.stat().st_size, sum(b - a for a, b in spans)


def _describe(plan: Plan, out_dir: Path) -> SyntheticArchive:
    gaps = sorted(
        (s.sid, UTCDateTime(ns=REF_NS + g0 * s.period_ns),
         UTCDateTime(ns=REF_NS + g1 * s.period_ns))
        for s in plan.streams for g0, g1 in s.gaps
    )
    n = sum(b - a for i, n0, n1 in _channel_days(plan)
            for a, b in _present(n0, n1, plan.streams[i].gaps))
    return SyntheticArchive(
        sds_root=out_dir / "sds", inventory=out_dir / f"{NETWORK}.stationxml.xml",
        catalog=out_dir / f"{NETWORK}.quakeml.xml", streams=[s.sid for s in plan.streams],
        start=UTCDateTime(ns=plan.start_ns), end=UTCDateTime(ns=plan.end_ns), n_samples=n,
        gaps=gaps, dead_channel=plan.spec.dead_channel)


def _identity(plan: Plan) -> dict:
    digest = hashlib.sha256(json.dumps(asdict(plan.spec), sort_keys=True).encode()).hexdigest()
    return {"generator": "belvedere.pipelines.synthetic", "version": GENERATOR_VERSION,
            "size": plan.spec.name, "seed": plan.seed, "spec_sha256": digest}


def _read_manifest(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def _is_complete(manifest: dict | None, identity: dict, out_dir: Path) -> bool:
    if not manifest or manifest.get("identity") != identity:
        return False
    files = manifest.get("files", {})
    return all((out_dir / rel).is_file() and (out_dir / rel).stat().st_size == size
               for rel, size in files.items())


def _remove_previous(manifest: dict | None, out_dir: Path) -> None:
    # Only files a previous run of this generator listed are ours to delete.
    root = out_dir.resolve()
    for rel in (manifest or {}).get("files", {}):
        p = (out_dir / rel).resolve()
        if p.is_relative_to(root):
            p.unlink(missing_ok=True)


def generate_archive(out_dir: Path, size: str = "full", seed: int = 0, workers: int = 1,
                     progress: Callable[[int, int], None] | None = None) -> SyntheticArchive:
    """Write (or reuse) the synthetic SDS archive, StationXML and QuakeML under out_dir."""
    out_dir = Path(out_dir)
    plan = plan_for(spec_for(size), int(seed))
    archive = _describe(plan, out_dir)
    identity = _identity(plan)
    total = archive.n_samples
    manifest = _read_manifest(out_dir)
    if _is_complete(manifest, identity, out_dir):
        if progress:
            progress(total, total)
        return archive

    (out_dir / "manifest.json").unlink(missing_ok=True)
    _remove_previous(manifest, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, int] = {}
    done = 0
    tasks = list(_channel_days(plan))
    sds_root = str(archive.sds_root)

    def record(result: tuple[str, int, int]) -> None:
        nonlocal done
        rel, nbytes, nsamp = result
        if rel:
            files[f"sds/{rel}"] = nbytes
        done += nsamp
        if progress:
            progress(done, total)

    if workers > 1:
        # spawn: safe even when the caller runs threads (dask, panel), and portable.
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_write_channel_day, plan.spec, plan.seed, i, n0, n1, sds_root)
                       for i, n0, n1 in tasks]
            try:
                for fut in as_completed(futures):
                    record(fut.result())
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise
    else:
        for i, n0, n1 in tasks:
            record(_write_channel_day(plan.spec, plan.seed, i, n0, n1, sds_root))

    _replace_atomically(archive.inventory,
                        lambda p: inventory_of(plan).write(str(p), format="STATIONXML"))
    _replace_atomically(archive.catalog,
                        lambda p: catalog_of(plan).write(str(p), format="QUAKEML"))
    for p in (archive.inventory, archive.catalog):
        files[p.name] = p.stat().st_size

    manifest = {
        "identity": identity,
        "start": str(archive.start), "end": str(archive.end),
        "n_samples": archive.n_samples, "streams": archive.streams,
        "dead_channel": archive.dead_channel,
        "gaps": [[sid, str(a), str(b)] for sid, a, b in archive.gaps],
        "files": dict(sorted(files.items())),
    }
    # Written last: its presence means everything it lists is complete.
    _replace_atomically(out_dir / "manifest.json",
                        lambda p: p.write_text(json.dumps(manifest, indent=1) + "\n"))
    return archive
