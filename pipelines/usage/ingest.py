"""A usage ingest run: sacct output and Prometheus range queries into a usage store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from pipelines.usage import sacct
from pipelines.usage.costs import RunMeter
from pipelines.usage.prometheus import PrometheusError, Query, query_range, query_range_raw
from pipelines.usage.sacct import SACCT_FIELDS, Job, SacctOptions, parse_sacct
from pipelines.usage.usage_store import UsageStore

JOB_FIELDS = ("cluster", "job_id", "job_id_raw", "array_job_id", "array_task_id", "partition",
              "qos", "account", "group", "user", "job_name", "state", "exit_code", "elapsed_s",
              "timelimit_s", "nnodes", "ncpus", "req_cpus", "ngpus", "req_mem_bytes",
              "max_rss_bytes", "total_cpu_s", "node_list")


class UsageInputError(RuntimeError):
    """A source that cannot be used at all (missing sacct command, unreachable Prometheus)."""


@dataclass
class MetricReport:
    """What one Prometheus query brought in."""

    name: str
    series: int = 0
    points: int = 0
    written: int = 0
    requests: int = 0


@dataclass
class UsageReport:
    """Totals of one usage ingest run, printed at the end."""

    sources: list[str] = field(default_factory=list)
    lines: int = 0
    job_lines: int = 0
    step_lines: int = 0
    jobs_read: int = 0
    jobs_added: int = 0
    jobs_updated: int = 0
    jobs_unchanged: int = 0
    jobs_kept: int = 0
    metrics: list[MetricReport] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)
    bytes_before: int = 0
    bytes_after: int = 0
    seconds: float = 0.0
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when some input could not be used whole (exit status 1)."""
        return bool(self.issues)

    @property
    def samples_written(self) -> int:
        """Job rows plus metric samples written (new or changed)."""
        return self.jobs_added + self.jobs_updated + sum(m.written for m in self.metrics)

    def summary_lines(self) -> list[str]:
        """The closing summary, one fact per line."""
        out = []
        if self.lines:
            out.append(f"sacct: {self.lines} lines ({self.job_lines} job lines, "
                       f"{self.step_lines} step lines folded into their jobs)")
            out.append(f"jobs: {self.jobs_read} read, {self.jobs_added} added, "
                       f"{self.jobs_updated} updated, {self.jobs_unchanged} already stored"
                       + (f", {self.jobs_kept} older than the stored record (kept it)"
                          if self.jobs_kept else ""))
        for m in self.metrics:
            out.append(f"metric {m.name}: {m.series} series, {m.points:,} points in "
                       f"{m.requests} request(s), {m.written:,} written")
        written = self.bytes_after - self.bytes_before
        out.append(f"bytes written: {written / 1e6:,.3f} MB (store now "
                   f"{self.bytes_after / 1e6:,.3f} MB) in {self.seconds:,.2f} s")
        if self.issues:
            out.append(f"problems: {len(self.issues)} (listed above)")
        if self.samples_written == 0 and not self.issues:
            out.append("nothing changed: the store already held all of these inputs")
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        d["samples_written"] = self.samples_written
        return d


def jobs_frame(jobs: Sequence[Job], infrastructure: str, source: str,
               ingested_ns: int | None = None) -> pd.DataFrame:
    """Job records as a DataFrame in the jobs table's columns."""
    now = time.time_ns() if ingested_ns is None else ingested_ns
    rows = []
    for j in jobs:
        r = {f: getattr(j, f) for f in JOB_FIELDS}
        r.update(submit=j.submit_ns, eligible=j.eligible_ns, start=j.start_ns, end=j.end_ns,
                 infrastructure=infrastructure, source=source, ingested=now)
        rows.append(r)
    df = pd.DataFrame(rows)
    for c in ("submit", "eligible", "start", "end"):
        if c in df:
            df[c] = df[c].astype("Int64")
    return df


def run_sacct(t0_ns: int, t1_ns: int, extra: Sequence[str] = ()) -> tuple[list[str], str]:
    """Call `sacct` for jobs active in [t0, t1] (times given and printed in UTC).

    Returns (output lines, the command line). Raises UsageInputError without a sacct command.
    """
    exe = shutil.which("sacct")
    if exe is None:
        raise UsageInputError("no `sacct` command on this machine's PATH; give its output with "
                              "--sacct FILE instead of --run-sacct")
    fmt = "%Y-%m-%dT%H:%M:%S"
    t0 = time.strftime(fmt, time.gmtime(t0_ns // 10**9))
    t1 = time.strftime(fmt, time.gmtime(-(-t1_ns // 10**9)))
    cmd = [exe, "--parsable2", "--allusers", f"--format={','.join(SACCT_FIELDS)}",
           f"--starttime={t0}", f"--endtime={t1}", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TZ": "UTC"})
    if proc.returncode != 0:
        raise UsageInputError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): "
                              f"{proc.stderr.strip()[:500]}")
    return proc.stdout.splitlines(), " ".join(cmd)


def read_lines(path: str) -> Iterable[str]:
    """Lines of a file, or of standard input for `-`."""
    if path == "-":
        return sys.stdin.read().splitlines()
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read().splitlines()


def check_prometheus(url: str) -> None:
    """Raise UsageInputError unless `url` answers as a Prometheus server."""
    try:
        query_range_raw(url, "vector(1)", 0, 0, 10**9, timeout=15)
    except PrometheusError as exc:
        raise UsageInputError(str(exc)) from None


def ingest_usage(store_url: str, infrastructure: str, sacct_inputs: Sequence[str] = (),
                 sacct_window: tuple[int, int] | None = None, timezone: str | None = None,
                 prometheus: str | None = None, queries: Sequence[Query] = (),
                 window: tuple[int, int] | None = None, step_ns: int = 30 * 10**9,
                 cluster: str = "") -> UsageReport:
    """Ingest sacct outputs (files, `-`, or a sacct run) and Prometheus queries into a store."""
    meter = RunMeter("usage", infrastructure)
    if prometheus and queries:
        check_prometheus(prometheus)  # before any write: an unreachable server is a usage error
    sacct_runs: list[tuple[str, list[str]]] = []
    if sacct_window is not None:
        lines, cmd = run_sacct(*sacct_window)
        sacct_runs.append((cmd, lines))
    store = UsageStore(store_url, mode="a")
    report = UsageReport(bytes_before=store.nbytes())
    meter.inputs = " ".join([*sacct_inputs, *(c for c, _ in sacct_runs),
                             *(f"{prometheus} {q.name}={q.promql}" for q in queries)])
    now = time.time_ns()
    sources = [(p, None) for p in sacct_inputs] + [(c, lines) for c, lines in sacct_runs]
    for source, lines in sources:
        label = "stdin" if source == "-" else ("sacct" if lines is not None else source)
        report.sources.append(label)
        options = SacctOptions(cluster or infrastructure, timezone if lines is None else "UTC")
        try:
            if lines is None and source != "-":
                res = sacct.read(source, options)
            else:
                res = parse_sacct(lines if lines is not None else read_lines(source),
                                  cluster=options.cluster, timezone=options.timezone)
        except OSError as exc:
            report.issues.append(f"{label}: cannot read: {exc.strerror or exc}")
            continue
        report.issues += [i.describe(label) for i in res.issues]
        report.lines += res.lines
        report.job_lines += res.job_lines
        report.step_lines += res.step_lines
        report.jobs_read += len(res.jobs)
        if res.jobs:
            up = store.write_jobs(jobs_frame(res.jobs, infrastructure, label, now))
            report.jobs_added += up.added
            report.jobs_updated += up.updated
            report.jobs_unchanged += up.unchanged
            report.jobs_kept += up.kept
    if prometheus and queries and window is not None:
        report.sources.append(prometheus)
        for q in queries:
            mr = MetricReport(q.name)
            try:
                res = query_range(prometheus, q, window[0], window[1], step_ns)
            except PrometheusError as exc:
                report.issues.append(f"query {q.name}: {exc}")
                continue
            mr.series, mr.points, mr.requests = len(res.series), res.points, res.requests
            report.issues += [f"query {q.name}: Prometheus warns: {w}" for w in res.warnings]
            if res.series:
                mr.written = store.write_metric(
                    q.name, res.times_ns, res.series, res.values,
                    attrs={"query": q.promql, "infrastructure": infrastructure,
                           "source": prometheus, "step_ns": step_ns})
            else:
                report.issues.append(f"query {q.name}: no series in the range (check the query "
                                     "and the time range)")
            report.metrics.append(mr)
    report.bytes_after = store.nbytes()
    report.seconds = meter.elapsed()
    report.run = meter.record(report.samples_written, report.bytes_after - report.bytes_before,
                              "failed" if report.failed else "ok",
                              f"{len(report.issues)} problem(s)" if report.issues else "")
    store.add_run(report.run)
    return report
