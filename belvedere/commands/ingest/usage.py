"""`belvedere ingest usage`: Slurm accounting (sacct) and Prometheus metrics."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from belvedere.console import err, fail, out, shown


def ingest_usage_cmd(
    store: Annotated[str, typer.Option(help="Usage store folder or URL (created if missing)")],
    infrastructure: Annotated[str, typer.Option(
        help="Label of the infrastructure: local-cluster, national-centre, grid, cloud, ...")],
    sacct: Annotated[list[str], typer.Option(
        help="`sacct --parsable2` output file(s); `-` for standard input")] = [],  # noqa: B006
    run_sacct: Annotated[bool, typer.Option(
        "--run-sacct", help="Call sacct for the jobs active between --from and --to")] = False,
    timezone: Annotated[str | None, typer.Option(
        help="Zone sacct printed its times in (default: this machine's)")] = None,
    cluster: Annotated[str, typer.Option(
        help="Cluster name for sacct output without a Cluster column "
             "(default: the infrastructure label)")] = "",
    prometheus: Annotated[str | None, typer.Option(
        help="Prometheus base URL, e.g. http://127.0.0.1:9090")] = None,
    query: Annotated[list[str], typer.Option(
        help="NAME=PROMQL range query (repeat); series are named NAME{labels}")] = [],  # noqa: B006
    start: Annotated[str | None, typer.Option("--from", help="ISO time or now-6h")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO time or now")] = None,
    step: Annotated[str, typer.Option(help="Prometheus step: 30s, 1m, 5m ...")] = "30s",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Ingest Slurm accounting (sacct) and Prometheus metrics into a usage store."""
    raise typer.Exit(run_usage_ingest(store, infrastructure, sacct, run_sacct, timezone, cluster,
                                      prometheus, query, start, end, step, as_json))


def run_usage_ingest(store: str, infrastructure: str, sacct: list[str], run_sacct: bool,
                     timezone: str | None, cluster: str, prometheus: str | None,
                     query: list[str], start: str | None, end: str | None, step: str,
                     as_json: bool) -> int:
    """Check the options, run the ingest, print the report; returns the exit status."""
    from pipelines.store import StoreError
    from pipelines.timebase import parse_range
    from pipelines.usage.ingest import UsageInputError, ingest_usage
    from pipelines.usage.prometheus import parse_query, parse_step, points_per_series
    from pipelines.usage.sacct import resolve_timezone

    if not infrastructure.strip():
        fail("--infrastructure must name the infrastructure (e.g. local-cluster)", 2)
    if not sacct and not run_sacct and not prometheus:
        fail("nothing to ingest: give --sacct FILE, --run-sacct or --prometheus URL", 2)
    if prometheus and not query:
        fail("--prometheus needs at least one --query NAME=PROMQL", 2)
    if query and not prometheus:
        fail("--query needs --prometheus URL", 2)
    if sacct.count("-") > 1:
        fail("standard input (-) can be given only once", 2)
    try:
        resolve_timezone(timezone)
        queries = [parse_query(q) for q in query]
        names = [q.name for q in queries]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"query name(s) given twice: {', '.join(sorted(dup))}")
        step_ns = parse_step(step)
        t0, t1 = parse_range(start or ("now-1d" if (run_sacct or prometheus) else None),
                             end or ("now" if (run_sacct or prometheus) else None))
    except ValueError as exc:
        fail(str(exc), 2, escape=True)
    window = (t0, t1) if t0 is not None and t1 is not None else None
    if prometheus and window and points_per_series(*window, step_ns) == 0:
        fail(f"no multiple of the step {step} lies between --from and --to; widen the range "
             "or give a smaller --step", 2)
    try:
        report = ingest_usage(store, infrastructure.strip(), sacct,
                              sacct_window=window if run_sacct else None, timezone=timezone,
                              prometheus=prometheus, queries=queries, window=window,
                              step_ns=step_ns, cluster=cluster)
    except (StoreError, UsageInputError) as exc:
        fail(str(exc), 2, escape=True)
    if as_json:
        out.print_json(json.dumps(report.as_dict(), default=str))
    else:
        for issue in report.issues:
            err.print(f"[yellow]problem:[/yellow] {shown(issue)}", highlight=False,
                      soft_wrap=True)
        for line in report.summary_lines():
            out.print(line, highlight=False)
    return 1 if report.failed else 0


def register(ingest_app: typer.Typer) -> None:
    """Add `ingest usage` to the ingest sub-app."""
    ingest_app.command("usage")(ingest_usage_cmd)
