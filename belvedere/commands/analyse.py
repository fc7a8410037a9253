"""`belvedere analyse psd|rsam|detect|filter`: analyses over a store's streams, on any cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from belvedere.console import err, fail, out, progress_bar, settings_or_exit

ANALYSES = ("psd", "rsam", "detect", "filter")


def _infrastructure(cluster: str, address: str | None, workers: int) -> str:
    import os

    if os.environ.get("BELVEDERE_INFRASTRUCTURE"):
        return os.environ["BELVEDERE_INFRASTRUCTURE"]
    if cluster in ("slurm", "kubernetes"):
        return cluster
    if address:
        return "dask"
    return f"local-threads-{workers}" if workers > 1 else "local"


def analyse_cmd(
    ctx: typer.Context,
    analysis: Annotated[str, typer.Argument(help="psd, rsam, detect or filter")],
    streams: Annotated[list[str] | None, typer.Argument(
        help="Stream wildcards (default: every stream)")] = None,
    store: Annotated[str | None, typer.Option(
        help="Store folder or fsspec URL (default: ingest.store)")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Start (ISO or now-7d)")] = None,
    to: Annotated[str | None, typer.Option("--to", help="End (ISO or now)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Local worker threads")] = 1,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (default: Dask config / DASK_SCHEDULER_ADDRESS)")] = None,
    param: Annotated[list[str], typer.Option(
        "--param", help="KEY=JSON parameter of the analysis, e.g. thr_on=4 or "
                        "'bands=[[0.5,2],[2,8]]'")] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    config: Annotated[Path | None, typer.Option(
        "--config", envvar="BELVEDERE_CONFIG", help="Configuration file (TOML)")] = None,
) -> None:
    """Compute hourly PSDs, RSAM, STA/LTA detections or filtered pyramids into the store, day
    by day."""
    from pipelines.analysis.engine import AnalysisError, analyse, parameters, record_run
    from pipelines.ingest.clusters import ClusterError, use_cluster
    from pipelines.ingest.runner import scheduler_address
    from pipelines.store import StoreError
    from pipelines.timebase import parse_range
    from pipelines.usage.costs import RunMeter

    if analysis not in ANALYSES:
        fail(f"unknown analysis {analysis!r}; choose {', '.join(ANALYSES)}", 2)
    cfg = settings_or_exit(ctx, "ingest", config)
    if not cfg.ingest.store:
        fail("no store: give --store, or ingest.store in the config", 2, soft_wrap=False)
    overrides = cfg.analysis.parameters(analysis)  # the config file's, then --param's
    streams = streams or cfg.analysis.streams(analysis)
    for p in param:
        key, _, text = p.partition("=")
        try:
            overrides[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            overrides[key.strip()] = text
    if analysis == "filter":  # the configured bands unless --param gives others
        overrides.setdefault("bands", list(cfg.views.bands))
    try:
        parameters(analysis, overrides)
        t0, t1 = parse_range(from_, to) if (from_ or to) else (None, None)
    except (AnalysisError, ValueError) as exc:
        fail(str(exc), 2, soft_wrap=False)
    # Measured from here: a cluster's start-up is part of what running there costs.
    meter = RunMeter(f"analyse-{analysis}", "", " ".join(streams or []))
    try:
        with use_cluster(cfg.dask) as address:
            sched = scheduler_address(address)
            infra = _infrastructure(cfg.dask.cluster, sched, cfg.ingest.workers)
            meter.infrastructure = infra
            with progress_bar("items") as bar:
                task = bar.add_task(f"{analysis}: stream-days", total=None)
                report = analyse(cfg.ingest.store, analysis, streams or [], t0, t1,
                                 cfg.ingest.workers, sched, overrides,
                                 lambda d, n: bar.update(task, completed=d, total=n), infra)
    except ClusterError as exc:
        fail(str(exc), 2, soft_wrap=False)
    except (StoreError, AnalysisError, RuntimeError) as exc:
        fail(str(exc), 2, soft_wrap=False)
    report.cpu_seconds = meter.record(0, 0)["cpu_seconds"]
    record_run(report, meter, remote=sched is not None)
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        det = "" if report.detections is None else f", {report.detections} network detections"
        out.print(f"{analysis}: {report.tasks} tasks computed, {report.skipped} unchanged "
                  f"({report.channel_days} channel-days over {len(report.streams)} streams), "
                  f"{report.samples_read:,} samples read, {report.values_written:,} values "
                  f"written{det}; wall {report.seconds:.1f} s, CPU {report.cpu_seconds:.1f} s "
                  f"here + {report.task_cpu_seconds:.1f} s in tasks, on {infra}",
                  highlight=False)
    for issue in report.issues:
        err.print(f"[yellow]{issue}[/yellow]", highlight=False, soft_wrap=True)
    raise typer.Exit(1 if report.issues else 0)


def register(app: typer.Typer) -> None:
    """Add `analyse` to the command line."""
    app.command("analyse")(analyse_cmd)
