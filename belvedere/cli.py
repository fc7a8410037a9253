"""The `belvedere` command: demo, ingest, info, export, serve."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TimeRemainingColumn,
)
from rich.table import Table

from belvedere import cli_dataset, cli_mission, cli_snapshot, cli_usage
from belvedere.cli_common import err, fail, out

app = typer.Typer(help="Belvedere: seismic, mission and usage time series in Zarr stores, "
                       "shown as datashaded views.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
ingest_app = typer.Typer(help="Bring data into a store.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
cli_usage.register(ingest_app)  # `ingest usage` (compute-resource usage, issue 6)
cli_snapshot.register(app)  # `snapshot` (HTML/PNG of a view, issue 4)
cli_dataset.register(ingest_app)  # `ingest dataset NAME` (datasets/ catalog, issue 7)
cli_mission.register(ingest_app)  # `ingest mission` (HDF5, FITS, telemetry, issue 5)


def _progress_bar(unit: str = "bytes") -> Progress:
    counter = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    return Progress("[progress.description]{task.description}", BarColumn(), counter,
                    TimeRemainingColumn(), console=err, transient=False)


def run_seismic_ingest(store: str, paths: list[str], inventory: list[str], events: list[str],
                       workers: int, scheduler: str | None, snap_tolerance: float,
                       as_json: bool) -> int:
    """Run an ingest with a progress bar and print the report; returns the exit status."""
    from pipelines.allocator import tune_allocator
    from pipelines.ingest import ingest_seismic
    from pipelines.runner import scheduler_address
    from pipelines.store import StoreError

    tune_allocator()
    sched = scheduler_address(scheduler)
    from pipelines.usage.costs import usage_run_hook
    record_cost = usage_run_hook("seismic", " ".join(paths))  # when BELVEDERE_USAGE_STORE is set
    try:
        with _progress_bar("bytes") as bar:
            task = bar.add_task("ingesting", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = ingest_seismic(store, paths, inventory, events, workers, sched,
                                    snap_tolerance, progress)
    except StoreError as exc:
        fail(str(exc), 2, soft_wrap=False)
    except RuntimeError as exc:
        fail(str(exc), 2, soft_wrap=False)
    record_cost(report.samples_written, report.bytes_after - report.bytes_before, report.failed)
    return print_ingest_report(report, as_json)


def print_ingest_report(report, as_json: bool) -> int:
    """Print an ingest report (problems and conflicts to stderr) and return the exit status."""
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        for issue in report.issues:
            err.print(f"[yellow]problem:[/yellow] {issue.line()}", highlight=False, soft_wrap=True)
        for c in report.conflicts:
            err.print(f"[yellow]conflict:[/yellow] {c['file']}: {c['stream']} {c['start']} to "
                      f"{c['end']}: {c['samples']} samples {c['reason']}; kept the "
                      f"{c['kept']}", highlight=False, soft_wrap=True)
        for line in report.summary_lines():
            out.print(line, highlight=False)
    return 1 if report.failed else 0


@ingest_app.command("seismic")
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
    config: Annotated[Path | None, typer.Option(
        "--config", envvar="BELVEDERE_CONFIG", help="Configuration file (TOML)")] = None,
) -> None:
    """Ingest miniSEED / SDS archives (with StationXML and QuakeML) into a store."""
    from pipelines.clusters import ClusterError, use_cluster

    cfg = cli_dataset.settings_or_exit(ctx, "ingest", config)  # CLI > env > file > defaults
    if not cfg.ingest.store:
        fail("no store: give --store, or ingest.store in the config / BELVEDERE_INGEST_STORE", 2,
             soft_wrap=False)
    try:
        with use_cluster(cfg.dask) as address:
            code = run_seismic_ingest(cfg.ingest.store, paths, inventory, events,
                                      cfg.ingest.workers, address, cfg.ingest.snap_tolerance,
                                      as_json)
    except ClusterError as exc:
        fail(str(exc), 2, soft_wrap=False)
    raise typer.Exit(code)


@app.command()
def info(
    store: Annotated[str, typer.Argument(help="Store folder or URL")],
    stream: Annotated[str | None, typer.Argument(help="One stream (wildcards allowed)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts")] = False,
) -> None:
    """List a store's streams with spans, gaps and sizes."""
    from pipelines.store import StoreError, describe, open_store

    cli_usage.info_if_usage_store(store, as_json)  # a usage store: jobs, metrics, runs

    try:
        st = open_store(store)
        if stream:
            names = st.select(stream)
            desc = {"store": st.url, "streams": [st[n].summary() | {
                "bytes": st[n].nbytes_stored(),
                "gap_list": [[a, b] for a, b in _iso_pairs(st[n].gaps())]} for n in names]}
        else:
            desc = describe(st)
    except StoreError as exc:
        fail(str(exc), 1, soft_wrap=False)
    if as_json:
        out.print_json(json.dumps(desc, default=str))
        return
    table = Table(title=f"{desc['store']}", title_justify="left")
    for col in ("stream", "rate Hz", "start", "end", "samples", "gaps", "gap s", "station"):
        table.add_column(col, overflow="fold")
    for s in desc["streams"]:
        table.add_row(s["stream"], f"{s['sampling_rate']:g}", s["start"] or "-", s["end"] or "-",
                      f"{s['samples']:,}", str(s["gaps"]), f"{s['gap_seconds']:,.1f}",
                      str(s.get("station_name") or ""))
    out.print(table)
    if "bytes" in desc:
        out.print(f"{len(desc['streams'])} streams, {desc['bytes'] / 1e6:,.1f} MB, "
                  f"{desc['events']} events, layout version {desc['layout_version']}")
    for s in desc["streams"]:
        for a, b in s.get("gap_list", []):
            out.print(f"gap {s['stream']}: {a} to {b}", highlight=False)


def _iso_pairs(gaps):
    from pipelines.timebase import utc_iso

    return [(utc_iso(a), utc_iso(b)) for a, b in gaps]


@app.command()
def export(
    stream: Annotated[str, typer.Argument(
        help="Stream name, e.g. BV.ALPA.00.HHZ; in a usage store `jobs` or a metric name")],
    store: Annotated[str, typer.Option(help="Store folder or URL")],
    output: Annotated[str, typer.Option("-o", "--output", help="Output file")],
    fmt: Annotated[str, typer.Option(
        "--format", help="mseed, sac, csv or npy (usage store: csv or parquet)")] = "mseed",
    start: Annotated[str | None, typer.Option("--from", help="ISO time or now-6h")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO time or now")] = None,
) -> None:
    """Write a stream's samples (exactly as stored) to a file."""
    from pipelines.export import FORMATS, export_stream
    from pipelines.store import StoreError, open_store
    from pipelines.timebase import parse_range

    cli_usage.export_if_usage_store(store, stream, output, fmt, start, end)  # exits if usage
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", 2, soft_wrap=False)
    try:
        t0, t1 = parse_range(start, end)
    except ValueError as exc:
        fail(str(exc), 2, soft_wrap=False)
    try:
        files = export_stream(open_store(store), stream, output, fmt, t0, t1)
    except (StoreError, ValueError, OSError) as exc:
        fail(str(exc), 1, soft_wrap=False)
    for f in files:
        out.print(f"wrote {f}", highlight=False)


@app.command()
def demo(
    size: Annotated[str, typer.Option(help="small (tests), medium, or full (~1e9 samples)")
                    ] = "full",
    directory: Annotated[Path | None, typer.Option(
        "--dir", help="Where the archive and store go (default ./belvedere-demo)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes for generation and ingest")] = 2,
    serve: Annotated[bool, typer.Option(help="Serve the dashboard when the store is ready")
                     ] = True,
    port: Annotated[int, typer.Option(help="Dashboard port")] = 5006,
) -> None:
    """Build the demo store (real ObsPy files + a synthetic network) and serve it."""
    from pipelines.demo import default_demo_dir, obspy_files
    from pipelines.synthetic import SIZES, generate_archive

    if size not in SIZES:
        fail(f"unknown size {size!r}; choose one of {', '.join(SIZES)}", 2, soft_wrap=False)
    base = directory or default_demo_dir()
    base.mkdir(parents=True, exist_ok=True)
    with _progress_bar("samples") as bar:
        task = bar.add_task("generating synthetic SDS archive (samples)", total=None)
        arch = generate_archive(base / f"archive-{size}", size=size, workers=workers,
                                progress=lambda d, t: bar.update(task, completed=d, total=t))
    store = str(base / f"store-{size}.zarr")
    usage = str(base / f"usage-{size}.zarr")
    real = obspy_files()
    out.print(f"archive: {arch.sds_root} ({arch.n_samples:,} samples)", highlight=False)
    # The campus computing beside the data: a month of synthetic jobs and node metrics
    # (10 days for small) ending with the archive, and the demo's own ingest cost.
    from pipelines.usage.synthetic import generate_usage

    days = 10 if size == "small" else 30
    generate_usage(usage, arch.end.ns - days * 86400 * 10**9, days=days,
                   n_jobs=4000 if size == "small" else 20000, nodes=24 if size == "small" else 64)
    os.environ.setdefault("BELVEDERE_USAGE_STORE", usage)
    os.environ.setdefault("BELVEDERE_INFRASTRUCTURE", "demo")
    out.print(f"usage store: {usage}", highlight=False)
    code = run_seismic_ingest(store, [str(arch.sds_root), *real.mseed],
                              [str(arch.inventory), *real.stationxml],
                              [str(arch.catalog), *real.quakeml], workers, None, 0.25, False)
    out.print(f"store: {store}", highlight=False)
    if code not in (0, 1):
        raise typer.Exit(code)
    mission = demo_mission(base, size, SIZES[size].start)
    if serve:
        _serve([store, mission, usage], port, "127.0.0.1", [], show_url=True)


def demo_mission(base: Path, size: str, start_utc: str) -> str:
    """Write the demo's mission files (LISA, LDC, light curve, housekeeping) beside the seismic
    archive and ingest them into their own store (shown by /mission); returns its path."""
    from pipelines.mission.synthetic import generate_mission_files

    files = generate_mission_files(base / f"mission-files-{size}", size, start_utc)
    mission = str(base / f"mission-{size}.zarr")
    code = cli_mission.run_mission_ingest(mission, files.paths, files.sim_epoch, "HK", 3600.0,
                                          0.25, False)
    out.print(f"mission store: {mission}", highlight=False)
    if code not in (0, 1):
        raise typer.Exit(code)
    return mission


def _serve(stores: list[str], port: int, address: str, origins: list[str],
           show_url: bool = False, tile_url: str | None = None, prefix: str = "",
           use_xheaders: bool = False) -> None:
    from dashboard.server import serve as serve_dashboard

    prefix = ("/" + prefix.strip("/")) if prefix.strip("/") else ""
    if show_url:
        out.print(f"dashboard: http://{address}:{port}{prefix}/", highlight=False)
    serve_dashboard(stores, port=port, address=address,
                    allow_websocket_origin=origins or None, tile_url=tile_url, prefix=prefix,
                    use_xheaders=use_xheaders)


@app.command()
def serve(
    ctx: typer.Context,
    store: Annotated[list[str], typer.Option(
        help="Store(s) to show (default: serve.stores in the config, BELVEDERE_SERVE_STORES)")
                     ] = [],  # noqa: B006
    port: Annotated[int, typer.Option(help="Port")] = 5006,
    address: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    allow_websocket_origin: Annotated[list[str], typer.Option(
        help="Host[:port] allowed to open the websocket (repeat)")] = [],  # noqa: B006
    tile_url: Annotated[str | None, typer.Option(
        envvar="BELVEDERE_TILE_URL",
        help="Map tiles for the stations page, fetched by the browser, e.g. "
             "https://tile.openstreetmap.org/{Z}/{X}/{Y}.png; none: plain lon/lat axes")] = None,
    prefix: Annotated[str, typer.Option(
        help="Serve under this URL path behind a reverse proxy, e.g. /belvedere")] = "",
    use_xheaders: Annotated[bool, typer.Option(
        help="Trust the proxy's X-Forwarded-For/-Proto headers")] = False,
    config: Annotated[Path | None, typer.Option(
        "--config", envvar="BELVEDERE_CONFIG", help="Configuration file (TOML)")] = None,
) -> None:
    """Serve the dashboard over one or more stores."""
    from pipelines.store import StoreError, open_store

    cfg = cli_dataset.settings_or_exit(ctx, "serve", config).serve  # CLI > env > file > defaults
    store, port, address = cfg.stores, cfg.port, cfg.address
    allow_websocket_origin, tile_url = cfg.allow_websocket_origin, cfg.tile_url
    prefix, use_xheaders = cfg.prefix, cfg.use_xheaders
    if not store:
        fail("no store: give --store, or serve.stores in the config / BELVEDERE_SERVE_STORES", 2,
             soft_wrap=False)

    from pipelines.usage.usage_store import is_usage_store, open_usage_store

    for s in store:
        try:
            open_usage_store(s) if is_usage_store(s) else open_store(s)
        except StoreError as exc:
            fail(str(exc), 2, soft_wrap=False)
    _serve(store, port, address, allow_websocket_origin, show_url=True, tile_url=tile_url,
           prefix=prefix, use_xheaders=use_xheaders)


def main() -> None:
    """Entry point for `python -m belvedere`."""
    app()


if __name__ == "__main__":
    sys.exit(main())
