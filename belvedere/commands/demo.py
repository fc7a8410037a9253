"""`belvedere demo`: the demo stores (real ObsPy files, a synthetic network, mission files,
campus computing usage), built and served."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from belvedere.commands.ingest.mission import run_mission_ingest
from belvedere.commands.ingest.seismic import run_seismic_ingest
from belvedere.commands.serve import start_server
from belvedere.console import fail, out, progress_bar


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
    from pipelines.demo.seismic import SIZES, generate_archive

    if size not in SIZES:
        fail(f"unknown size {size!r}; choose one of {', '.join(SIZES)}", 2, soft_wrap=False)
    base = directory or default_demo_dir()
    base.mkdir(parents=True, exist_ok=True)
    with progress_bar("samples") as bar:
        task = bar.add_task("generating synthetic SDS archive (samples)", total=None)
        arch = generate_archive(base / f"archive-{size}", size=size, workers=workers,
                                progress=lambda d, t: bar.update(task, completed=d, total=t))
    store = str(base / f"store-{size}.zarr")
    usage = str(base / f"usage-{size}.zarr")
    real = obspy_files()
    out.print(f"archive: {arch.sds_root} ({arch.n_samples:,} samples)", highlight=False)
    # The campus computing beside the data: a month of synthetic jobs and node metrics
    # (10 days for small) ending with the archive, and the demo's own ingest cost.
    from pipelines.demo.usage import generate_usage

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
    demo_analyses(store, size, workers)
    mission = demo_mission(base, size, SIZES[size].start)
    if serve:
        start_server([store, mission, usage], port, "127.0.0.1", [], show_url=True)


# The synthetic network has responses; the small demo analyses its vertical channels only.
DEMO_ANALYSIS_STREAMS = {"small": ["BV.*.00.?HZ"]}


def demo_analyses(store: str, size: str, workers: int) -> None:
    """Hourly PSDs, RSAM, detections and the verticals' standard filtered bands of the synthetic
    network (so /noise, /rsam and the filtered views have data), each run recorded in the usage
    store like any `belvedere analyse` run."""
    from pipelines.analysis.engine import analyse, record_run
    from pipelines.usage.costs import RunMeter

    streams = DEMO_ANALYSIS_STREAMS.get(size, ["BV.*"])
    runs = {"psd": streams, "rsam": streams, "detect": streams, "filter": ["BV.*.*.??Z"]}
    infra = f"local-threads-{workers}" if workers > 1 else "local"
    with progress_bar("items") as bar:
        for name, patterns in runs.items():
            task = bar.add_task(f"{name}: stream-days", total=None)
            meter = RunMeter(f"analyse-{name}", infra, " ".join(patterns))
            report = analyse(store, name, patterns, workers=workers, infrastructure=infra,
                             progress=lambda d, n, t=task: bar.update(t, completed=d, total=n))
            record_run(report, meter, remote=False)
            out.print(f"{name}: {report.tasks} stream-days in {report.seconds:.1f} s",
                      highlight=False)


def demo_mission(base: Path, size: str, start_utc: str) -> str:
    """Write the demo's mission files (LISA, LDC, light curve, housekeeping) beside the seismic
    archive and ingest them into their own store (shown by /mission); returns its path."""
    from pipelines.demo.mission import generate_mission_files

    files = generate_mission_files(base / f"mission-files-{size}", size, start_utc)
    mission = str(base / f"mission-{size}.zarr")
    code = run_mission_ingest(mission, files.paths, files.sim_epoch, "HK", 3600.0,
                                          0.25, False)
    out.print(f"mission store: {mission}", highlight=False)
    if code not in (0, 1):
        raise typer.Exit(code)
    return mission


def register(app: typer.Typer) -> None:
    """Add `demo` to the `belvedere` app."""
    app.command("demo")(demo)
