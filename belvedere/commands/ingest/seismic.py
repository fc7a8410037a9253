"""`belvedere ingest seismic`: miniSEED / SDS archives (with StationXML and QuakeML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from belvedere.commands.ingest.report import print_ingest_report
from belvedere.console import fail, progress_bar, settings_or_exit


def run_seismic_ingest(store: str, paths: list[str], inventory: list[str], events: list[str],
                       workers: int, scheduler: str | None, snap_tolerance: float,
                       as_json: bool, bands: list[str] | None = None) -> int:
    """Run an ingest with a progress bar and print the report, then build the filtered
    `bands` of the streams it changed (None: none); returns the exit status."""
    from pipelines.ingest.allocator import tune_allocator
    from pipelines.ingest.runner import scheduler_address
    from pipelines.seismic.ingest import ingest_seismic
    from pipelines.store import StoreError

    tune_allocator()
    sched = scheduler_address(scheduler)
    from pipelines.usage.costs import usage_run_hook
    record_cost = usage_run_hook("seismic", " ".join(paths))  # when BELVEDERE_USAGE_STORE is set
    try:
        with progress_bar("bytes") as bar:
            task = bar.add_task("ingesting", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = ingest_seismic(store, paths, inventory, events, workers, sched,
                                    snap_tolerance, progress)
    except StoreError as exc:
        fail(str(exc), 2, soft_wrap=False, escape=True)
    except RuntimeError as exc:
        fail(str(exc), 2, soft_wrap=False, escape=True)
    record_cost(report.samples_written, report.bytes_after - report.bytes_before, report.failed)
    code = print_ingest_report(report, as_json)
    if bands and report.samples_written:
        code = max(code, build_bands(store, report.streams, bands, workers, sched, as_json))
    return code


def build_bands(store: str, streams: list[str], bands: list[str], workers: int,
                scheduler: str | None, quiet: bool) -> int:
    """Build the filtered bands of the streams an ingest changed, through the `filter`
    analysis (its fingerprints skip the days whose samples did not change); the exit status
    (1 when some stream-day could not be filtered)."""
    from belvedere.console import err, out
    from pipelines.analysis.engine import AnalysisError, analyse
    from pipelines.store import StoreError

    try:
        report = analyse(store, "filter", streams, workers=workers, scheduler=scheduler,
                         overrides={"bands": list(bands)})
    except (StoreError, AnalysisError, RuntimeError) as exc:
        fail(f"filtered bands: {exc}", 2, soft_wrap=False, escape=True)
    if not quiet:
        out.print(f"bands {', '.join(bands)}: {report.tasks} stream-days filtered, "
                  f"{report.skipped} unchanged; {report.seconds:.1f} s", highlight=False,
                  markup=False)
    for issue in report.issues:
        err.print(f"warning: {issue}", highlight=False, markup=False)
    return 1 if report.issues else 0


def run_follow(store: str, roots: list[str], inventory: list[str], snap_tolerance: float,
               poll: float | None) -> int:
    """Follow SDS roots until Ctrl-C (or SIGTERM), printing a line per step that wrote."""
    import os
    import signal
    import threading

    from belvedere.console import out
    from pipelines.ingest.follow import Follower
    from pipelines.seismic.stationxml import channel_metadata, read_inventories
    from pipelines.store import StoreError
    from pipelines.timebase import format_time, now_ns

    missing = [r for r in roots if not os.path.isdir(r)]
    if missing:
        fail(f"--follow watches folders (SDS roots); not a folder: {', '.join(missing)}", 2,
             soft_wrap=False, escape=True)
    invs, issues = read_inventories(inventory)
    for issue in issues:
        out.print(f"warning: {issue.line()}", highlight=False, markup=False)
    try:
        follower = Follower(store, roots, snap_tolerance,
                            metadata=lambda ch: channel_metadata(invs, ch) if invs else {})
    except StoreError as exc:
        fail(str(exc), 2, soft_wrap=False, escape=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # stop between files: every commit completes
        signal.signal(sig, lambda *_: stop.set())
    totals = {"samples": 0, "files": 0}

    def report(step) -> None:
        totals["samples"] += step.samples
        totals["files"] += step.files
        for issue in step.issues:
            out.print(f"warning: {issue}", highlight=False, markup=False)
        if step.files:
            out.print(f"{format_time(now_ns())} +{step.samples:,} samples from {step.files} "
                      f"file(s): {', '.join(sorted(step.streams))}", highlight=False,
                      markup=False)

    how = f"polling every {poll:g} s" if poll else "file events"
    out.print(f"following {', '.join(roots)} into {store} ({how}); Ctrl-C stops",
              highlight=False, markup=False)
    try:
        follower.run(stop, poll, report)
    finally:
        follower.close()
    out.print(f"stopped: {totals['samples']:,} samples written from {totals['files']} file "
              "step(s)", highlight=False, markup=False)
    return 0


def ingest_seismic_cmd(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="miniSEED files, folders, globs, SDS roots")],
    store: Annotated[str | None, typer.Option(
        help="Store folder or fsspec URL (created if missing; default: ingest.store)")] = None,
    inventory: Annotated[list[str], typer.Option(help="StationXML file(s)")] = [],  # noqa: B006
    events: Annotated[list[str], typer.Option(help="QuakeML catalogue file(s)")] = [],  # noqa: B006
    workers: Annotated[int, typer.Option(min=1, help="Local worker threads")] = 1,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (default: Dask config / DASK_SCHEDULER_ADDRESS)")] = None,
    snap_tolerance: Annotated[float, typer.Option(
        min=0.0, max=0.5, help="Fraction of a sample within which times snap to the grid")] = 0.25,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    follow: Annotated[bool, typer.Option(
        "--follow", help="Keep watching the SDS root(s) given and append what is written into "
                         "them (grown and new day files, whole records only) until Ctrl-C")
                      ] = False,
    poll: Annotated[float | None, typer.Option(
        min=0.05, help="With --follow: look for changes every SECONDS instead of waiting "
                       "for file events (network file systems)")] = None,
    bands: Annotated[bool | None, typer.Option(
        "--bands/--no-bands", help="Build the filtered bands ([views] bands) of the streams "
                                   "changed, only their changed days (default: [views] "
                                   "build_at_ingest)")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", envvar="BELVEDERE_CONFIG", help="Configuration file (TOML)")] = None,
) -> None:
    """Ingest miniSEED / SDS archives (with StationXML and QuakeML) into a store."""
    from pipelines.ingest.clusters import ClusterError, use_cluster

    cfg = settings_or_exit(ctx, "ingest", config)  # CLI > env > file > defaults
    if not cfg.ingest.store:
        fail("no store: give --store, or ingest.store in the config / BELVEDERE_INGEST_STORE", 2,
             soft_wrap=False)
    if poll is not None and not follow:
        fail("--poll applies to --follow only", 2, soft_wrap=False)
    build = cfg.views.build_at_ingest if bands is None else bands
    if follow and bands:
        fail("--follow does not build filtered bands (each commit would filter whole days "
             "again); run `belvedere analyse filter` from time to time instead", 2,
             soft_wrap=False)
    if follow:
        raise typer.Exit(run_follow(cfg.ingest.store, paths, inventory,
                                    cfg.ingest.snap_tolerance, poll))
    try:
        with use_cluster(cfg.dask) as address:
            code = run_seismic_ingest(cfg.ingest.store, paths, inventory, events,
                                      cfg.ingest.workers, address, cfg.ingest.snap_tolerance,
                                      as_json, list(cfg.views.bands) if build else None)
    except ClusterError as exc:
        fail(str(exc), 2, soft_wrap=False, escape=True)
    raise typer.Exit(code)


def register(ingest_app: typer.Typer) -> None:
    """Add `ingest seismic` to the `ingest` command group."""
    ingest_app.command("seismic")(ingest_seismic_cmd)
