"""The analysis engine: (stream, UTC day) tasks with padding, run anywhere ingest runs, written
beside the stream, recomputed only where their inputs changed.

A task reads its day plus the padding its analysis needs at both edges (so a day's result does
not depend on where days or chunks end) and returns a small result; this process writes the
results through `pipelines.store` as they arrive (values first, then the day's record: the
commit point), so an interrupted run resumes where it stopped and a task rerun on another
Dask worker gives the same values. A day is skipped when its record says it was computed from
the same inputs: the analysis, its parameters, the stream's rate and dtype, the segments in the
padded day (stored samples never change; new ones change the segments) and, for PSDs, the
StationXML document the response comes from.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xxhash

from pipelines.analysis import detect, filtered, psd, rsam
from pipelines.ingest.runner import run_tasks
from pipelines.store import (
    Store,
    consolidate,
    open_store,
    require_filtered,
    require_psd,
    require_table,
    runs_of,
    series_writer,
)
from pipelines.store.products import NETWORK, day_key, open_table, require_product
from pipelines.timebase import DAY_NS, NS, day_start_ns, utc_iso

ANALYSES = {"psd": psd, "rsam": rsam, "detect": detect, "filter": filtered}
TRIGGER_COLUMNS = {"time_ns": "time", "end_ns": "time", "peak": "float", "day_ns": "time"}
DETECTION_COLUMNS = {"time_ns": "time", "end_ns": "time", "count": "int", "day_ns": "time",
                     "streams": "str"}
Progress = Callable[[int, int], None]


class AnalysisError(ValueError):
    """An analysis that cannot run as asked (unknown name, bad parameter, no such stream)."""


@dataclass(frozen=True)
class DayTask:
    """One (stream, UTC day) of an analysis: what to read and what it is computed from."""

    store: str
    stream: str
    analysis: str
    day_ns: int
    t0_ns: int  # padded window read
    t1_ns: int
    params: str  # JSON
    fingerprint: str
    response_doc: str | None = None
    response_at_ns: int = 0  # a time with data in the day: the channel epoch to take


@dataclass
class DayResult:
    """What a task returns: the analysis' values and what computing them took."""

    payload: Any
    samples: int
    cpu_seconds: float
    seconds: float


@dataclass
class AnalysisReport:
    """What an analysis run did."""

    analysis: str
    store: str
    streams: list[str] = field(default_factory=list)
    tasks: int = 0  # (stream, day) tasks run
    skipped: int = 0  # days whose inputs were unchanged
    channel_days: int = 0  # tasks + skipped
    samples_read: int = 0
    values_written: int = 0
    task_cpu_seconds: float = 0.0
    task_seconds: float = 0.0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    bytes_written: int = 0
    detections: int | None = None
    issues: list[str] = field(default_factory=list)
    infrastructure: str = ""
    workers: int = 1
    first_wait_s: float = 0.0  # from the start to the first result, less that task's own time

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(self.__dict__)


def parameters(analysis: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The analysis' parameters: its defaults with `overrides` (unknown keys refused)."""
    if analysis not in ANALYSES:
        raise AnalysisError(f"unknown analysis {analysis!r}; choose one of "
                            f"{', '.join(ANALYSES)}")
    params = json.loads(json.dumps(ANALYSES[analysis].DEFAULTS))
    for k, v in (overrides or {}).items():
        if k not in params:
            raise AnalysisError(f"{analysis} has no parameter {k!r}; its parameters: "
                                f"{', '.join(params) or 'none'}")
        params[k] = v
    check = getattr(ANALYSES[analysis], "check", None)
    if check is not None:
        try:
            check(params)
        except ValueError as exc:
            raise AnalysisError(f"{analysis}: {exc}") from None
    return params


# -- planning -------------------------------------------------------------------------------
def _days(segments: np.ndarray, t0_ns: int | None, t1_ns: int | None,
          period_ns: float = 1.0) -> list[int]:
    """UTC days (start ns) in [t0, t1) holding any present sample."""
    days: set[int] = set()
    for s, e in segments:
        e = int(e) - int(period_ns) + 1  # just after the last sample
        s, e = max(int(s), t0_ns if t0_ns is not None else int(s)), \
            min(int(e), t1_ns if t1_ns is not None else int(e))
        if e > s:
            days.update(range(day_start_ns(s), e, DAY_NS))
    return sorted(days)


def _clipped(segments: np.ndarray, t0: int, t1: int) -> list[list[int]]:
    return [[max(int(s), t0), min(int(e), t1)] for s, e in segments if e > t0 and s < t1]


def fingerprint(analysis: str, params: dict[str, Any], stream: Any, t0: int, t1: int,
                response_doc: str | None) -> str:
    """The digest of everything a day's result is computed from."""
    key = [analysis, ANALYSES[analysis].ALGORITHM, params, stream.sampling_rate,
           str(stream.dtype), _clipped(stream.segments, t0, t1), response_doc]
    return xxhash.xxh3_128_hexdigest(json.dumps(key, sort_keys=True).encode())


def data_time_in_day(segments: np.ndarray, day_ns: int) -> int:
    """The middle of the day's first stretch of data (its noon when none): a time the
    channel's epoch must cover (an epoch may begin or end within the day)."""
    for s, e in segments:
        a, b = max(int(s), day_ns), min(int(e), day_ns + DAY_NS)
        if b > a:
            return a + (b - a) // 2
    return day_ns + DAY_NS // 2


def _computed(store: Store, analysis: str, stream: str) -> dict[str, dict[str, Any]]:
    from pipelines.store import open_product

    prod = open_product(store, stream, analysis)
    return {} if prod is None else prod.computed


def plan(store: Store, analysis: str, names: Sequence[str], t0_ns: int | None,
         t1_ns: int | None, params: dict[str, Any]) -> tuple[list[DayTask], int, list[str]]:
    """The tasks to run (days new or changed), how many days are unchanged, and issues."""
    from pipelines.seismic.stationxml import response_document

    mod = ANALYSES[analysis]
    tasks, skipped, issues = [], 0, []
    pjson = json.dumps(params, sort_keys=True)
    for name in names:
        s = store[name]
        if getattr(s, "kind", "") != "regular":
            issues.append(f"{name}: not a regular stream; {analysis} needs samples on a grid")
            continue
        before, after = mod.padding_s(params, s.sampling_rate)
        done = _computed(store, analysis, name)
        if analysis == "rsam" and not rsam.series_of(params, s.sampling_rate):
            issues.append(f"{name}: no RSAM band fits under its Nyquist frequency "
                          f"({s.sampling_rate / 2:g} Hz); give bands with --param")
            continue
        if analysis == "filter" and not filtered.usable(params, s.sampling_rate):
            issues.append(f"{name}: no filter band has its lowest corner under its Nyquist "
                          f"frequency ({s.sampling_rate / 2:g} Hz); give bands with --param")
            continue
        for day in _days(s.segments, t0_ns, t1_ns, s.period_ns):
            doc, at = None, day + DAY_NS // 2
            if analysis == "psd":
                at = data_time_in_day(s.segments, day)
                doc = response_document(store, name.split("~")[0], at)
                if doc is None:
                    issues.append(f"{name}: no StationXML response for {utc_iso(day)[:10]} in "
                                  "the store; ingest it with `belvedere ingest seismic "
                                  "--inventory FILE`")
                    continue
            t0, t1 = day - int(before * NS), day + DAY_NS + int(after * NS)
            fp = fingerprint(analysis, params, s, t0, t1, doc)
            if done.get(day_key(day), {}).get("from") == fp:
                skipped += 1
                continue
            tasks.append(DayTask(store.url, name, analysis, day, t0, t1, pjson, fp, doc, at))
    return tasks, skipped, issues


# -- the task (runs on a worker) ----------------------------------------------------------
_RESPONSES: dict[tuple, np.ndarray] = {}


def _response(task: DayTask, store: Store, rate: float) -> np.ndarray:
    key = (task.store, task.response_doc, task.stream, rate)
    if key not in _RESPONSES:
        from pipelines.seismic.stationxml import response_of

        found = response_of(store, task.stream.split("~")[0],
                            task.response_at_ns or task.day_ns + DAY_NS // 2)
        if found is None:
            raise AnalysisError(f"{task.stream}: no response in the store's StationXML")
        _RESPONSES[key] = psd.response_curve(found[0], rate)
    return _RESPONSES[key]


def run_day(task: DayTask) -> DayResult:
    """Read the task's padded day and compute the analysis over it (on any worker)."""
    from pipelines.analysis.base import DayInput

    t_wall, t_cpu = time.perf_counter(), time.thread_time()
    store = open_store(task.store)
    s = store[task.stream]
    i0 = math.ceil(s.index_of(task.t0_ns) - 1e-6)
    i1 = math.ceil(s.index_of(task.t1_ns) - 1e-6)
    values = np.full(i1 - i0, np.nan)
    present = np.zeros(i1 - i0, dtype=bool)
    raw, mask = s.read_raw(i0, i1)
    off = max(0, -i0)
    values[off:off + len(raw)] = raw
    present[off:off + len(raw)] = mask
    values[~present] = np.nan
    params = json.loads(task.params)
    context: dict[str, Any] = {"index0": i0}  # the grid index of values[0]
    if task.analysis == "psd":
        context["response"] = _response(task, store, s.sampling_rate)
    day = DayInput(task.stream, task.day_ns, int(s.time_of(i0)), s.sampling_rate, values,
                   present, context)
    payload = ANALYSES[task.analysis].compute(day, params)
    return DayResult(payload, int(present.sum()), time.thread_time() - t_cpu,
                     time.perf_counter() - t_wall)


# -- writing (in this process) ------------------------------------------------------------
class _Writer:
    """Writes each day's result of one analysis, then records the day."""

    def __init__(self, store: Store, analysis: str, params: dict[str, Any]):
        self.store, self.analysis, self.params = store, analysis, params
        self._open: dict[str, Any] = {}
        self.values_written = 0

    def write(self, task: DayTask, res: DayResult) -> None:
        rec = {day_key(task.day_ns): {"from": task.fingerprint, "samples": res.samples,
                                      "computed_at": utc_iso(time.time_ns())}}
        getattr(self, f"_{self.analysis}")(task, res.payload, rec)

    def _psd(self, task: DayTask, db: np.ndarray, rec: dict) -> None:
        prod = self._open.get(task.stream)
        if prod is None:
            rate = self.store[task.stream].sampling_rate
            k0, periods = psd.period_grid(rate)
            prod = self._open[task.stream] = require_psd(
                self.store, task.stream, k0, periods, self.params, psd.ALGORITHM)
        prod.write_day(task.day_ns, db)
        self.values_written += int(np.isfinite(db).sum())
        prod.record_days(rec)

    def _rsam(self, task: DayTask, payload: dict[str, np.ndarray], rec: dict) -> None:
        src = self.store[task.stream]
        origin = day_start_ns(src.span_ns[0]) if src.span_ns else task.day_ns
        for name, band, iv, metric in rsam.series_of(self.params, src.sampling_rate):
            v = payload[name]
            attrs = {"source_stream": task.stream, "band_hz": list(band), "interval_s": iv,
                     "metric": metric, "units": src.attrs.get("units", "counts"),
                     "product": "rsam", "algorithm": rsam.ALGORITHM}
            w = series_writer(self.store, task.stream, "rsam", name, 1.0 / iv,
                              min(origin, task.day_ns), attrs)
            i0 = int(round(w.index_of(task.day_ns)))
            pieces = [(i0 + a, v[a:b]) for a, b in runs_of(np.isfinite(v))]
            for j, vals in pieces:
                w.write(j, vals)
            if pieces:
                w.update_pyramid(i0, i0 + len(v), pieces)
                w.commit()
            self.values_written += int(sum(len(p) for _, p in pieces))
        prod = self._open.get(task.stream)
        if prod is None:
            prod = self._open[task.stream] = require_product(
                self.store, task.stream, "rsam", "rsam", rsam.ALGORITHM, self.params)
        prod.record_days(rec)

    def _filter(self, task: DayTask, payload: dict[str, tuple], rec: dict) -> None:
        prod = self._open.get(task.stream)
        if prod is None:  # the product group first: it carries the analysis' marker
            prod = self._open[task.stream] = require_product(
                self.store, task.stream, "filter", "filter", filtered.ALGORITHM, self.params)
        raw = self.store[task.stream]
        for band in filtered.bands_of(self.params):
            if band.name in payload:
                key = (task.stream, band.name)
                if key not in self._open:
                    self._open[key] = require_filtered(self.store, raw, band.name,
                                                       band.as_attrs())
                b0, mn, mx = payload[band.name]
                self._open[key].write_level1(b0, mn, mx)
                self.values_written += int(np.isfinite(mn).sum())
        prod.record_days(rec)

    def _detect(self, task: DayTask, payload: dict[str, np.ndarray], rec: dict) -> None:
        tab = self._open.get(task.stream)
        if tab is None:
            tab = self._open[task.stream] = require_table(
                self.store, task.stream, "detect", TRIGGER_COLUMNS, "detect",
                detect.ALGORITHM, self.params)
        rows = dict(payload, day_ns=np.full(len(payload["time_ns"]), task.day_ns, np.int64))
        tab.replace_days([task.day_ns], rows, rec)
        self.values_written += len(payload["time_ns"])


def network_detections(store: Store, names: Sequence[str], days: Sequence[int],
                       params: dict[str, Any]) -> int:
    """Recompute the network coincidences of the days whose streams' triggers changed;
    returns the number of detections on those days."""
    net_params = {"coincidence": params["coincidence"]}
    net = require_table(store, NETWORK, "detect", DETECTION_COLUMNS, "detect",
                        detect.ALGORITHM, net_params)
    done = net.computed
    tables = {n: open_table(store, n, "detect") for n in names}
    todo, records = [], {}
    for day in sorted(set(days)):
        key = day_key(day)
        inputs = sorted((n, t.computed.get(key, {}).get("from", "")) for n, t in tables.items()
                        if t is not None)
        fp = xxhash.xxh3_128_hexdigest(json.dumps([inputs, net_params]).encode())
        if done.get(key, {}).get("from") != fp:
            todo.append(day)
            records[key] = {"from": fp, "streams": [n for n, _ in inputs],
                            "computed_at": utc_iso(time.time_ns())}
    if not todo:
        return 0
    found = []
    for day in todo:
        trig = {n: t.read(day, day + DAY_NS) for n, t in tables.items() if t is not None}
        rows = detect.coincidences(trig, int(params["coincidence"]))
        rows["day_ns"] = np.full(len(rows["time_ns"]), day, np.int64)
        found.append(rows)
    merged = {c: np.concatenate([r[c] for r in found]) for c in DETECTION_COLUMNS}
    net.replace_days(todo, merged, records)
    return len(merged["time_ns"])


# -- the run ------------------------------------------------------------------------------
def analyse(store_url: str, analysis: str, patterns: Sequence[str] = (),
            t0_ns: int | None = None, t1_ns: int | None = None, workers: int = 1,
            scheduler: str | None = None, overrides: dict[str, Any] | None = None,
            progress: Progress | None = None, infrastructure: str = "") -> AnalysisReport:
    """Run an analysis over the store's streams (all, or those matching `patterns`).

    Parameters
    ----------
    store_url : str
        The store (written in place).
    analysis : {"psd", "rsam", "detect", "filter"}
    patterns : sequence of str
        Stream wildcards (`BV.*.00.HH?`); empty: every stream.
    t0_ns, t1_ns : int or None
        Only days overlapping [t0, t1).
    workers, scheduler
        Local threads, or a Dask scheduler address (as ingest).
    overrides : dict, optional
        Parameters of the analysis that differ from its defaults.
    progress : callable, optional
        Called with (tasks done, tasks planned).
    infrastructure : str
        The label of where it ran (recorded with the run).

    Returns
    -------
    AnalysisReport
    """
    t_start = time.perf_counter()
    params = parameters(analysis, overrides)
    store = Store(store_url, mode="a")
    bytes_before = store.nbytes("_products")
    names = store.select(list(patterns)) if patterns else store.streams()
    report = AnalysisReport(analysis, store.url, list(names), infrastructure=infrastructure,
                            workers=workers)
    tasks, report.skipped, report.issues = plan(store, analysis, names, t0_ns, t1_ns, params)
    report.tasks = len(tasks)
    report.channel_days = report.tasks + report.skipped
    writer = _Writer(store, analysis, params)
    if progress:
        progress(0, len(tasks))
    for done, (task, res) in enumerate(run_tasks(run_day, tasks, workers, scheduler), 1):
        if done == 1:  # what starting the work cost (scheduling, workers, imports, planning)
            report.first_wait_s = max(time.perf_counter() - t_start - res.seconds, 0.0)
        writer.write(task, res)
        report.samples_read += res.samples
        report.task_cpu_seconds += res.cpu_seconds
        report.task_seconds += res.seconds
        if progress:
            progress(done, len(tasks))
    report.values_written = writer.values_written
    if analysis == "detect":
        days = sorted({d for n in names
                       for d in _days(store[n].segments, t0_ns, t1_ns, store[n].period_ns)
                       if getattr(store[n], "kind", "") == "regular"})
        report.detections = network_detections(store, names, days, params)
    # The products are committed: xarray can open the store in one read.
    consolidate(store, rewrite=report.tasks > 0)
    report.bytes_written = max(store.nbytes("_products") - bytes_before, 0)
    report.seconds = time.perf_counter() - t_start
    return report


def record_run(report: AnalysisReport, meter: Any, remote: bool) -> None:
    """Add the run to the usage store's runs table (`BELVEDERE_USAGE_STORE`), if one is set."""
    import sys

    url = os.environ.get("BELVEDERE_USAGE_STORE")
    if not url:
        return
    from pipelines.store import StoreError
    from pipelines.usage.usage_store import UsageStore

    row = meter.record(report.values_written, report.bytes_written,
                       "failed" if report.issues else "ok",
                       json.dumps({"tasks": report.tasks, "skipped": report.skipped,
                                   "channel_days": report.channel_days,
                                   "samples_read": report.samples_read,
                                   "task_cpu_seconds": round(report.task_cpu_seconds, 3),
                                   "task_seconds": round(report.task_seconds, 3),
                                   # before `analyse` (a cluster's start-up) and before its
                                   # first result
                                   "startup_s": round(max(meter.elapsed() - report.seconds, 0)
                                                      + report.first_wait_s, 3),
                                   "workers": report.workers}))
    if remote:  # the work ran on other machines: count its CPU too
        row["cpu_seconds"] += report.task_cpu_seconds
    report.cpu_seconds = row["cpu_seconds"]
    try:
        UsageStore(url, mode="a").add_run(row)
    except (StoreError, OSError) as exc:
        print(f"warning: could not record this run's cost in {url}: {exc}", file=sys.stderr)
