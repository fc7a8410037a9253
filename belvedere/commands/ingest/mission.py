"""`belvedere ingest mission`: LISA/LDC HDF5, OGIP FITS light curves, CSV/Parquet telemetry."""

from __future__ import annotations

from typing import Annotated

import typer

from belvedere.commands.ingest.report import print_ingest_report
from belvedere.console import fail


def ingest_mission_cmd(
    paths: Annotated[list[str], typer.Argument(
        help="HDF5 (LISA instrument, LDC), FITS light curves, CSV/Parquet tables, folders, "
             "globs")],
    store: Annotated[str, typer.Option(help="Store folder or fsspec URL (created if missing)")],
    sim_epoch: Annotated[str, typer.Option(
        help="UTC time of simulation second 0 (LISA, LDC): times are laid out as EPOCH + t")
                         ] = "2000-01-01T12:00:00",
    prefix: Annotated[str | None, typer.Option(
        help="Stream prefix for telemetry tables (default: the file name without a trailing "
             "date or number)")] = None,
    spectra_block: Annotated[float, typer.Option(
        min=1.0, help="Seconds per precomputed Welch ASD block (long regular streams)")
                             ] = 3600.0,
    snap_tolerance: Annotated[float, typer.Option(
        min=0.0, max=0.5, help="Fraction of a sample within which times snap to the grid")
                              ] = 0.25,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Ingest space-mission files (LISA/LDC HDF5, OGIP FITS light curves, telemetry)."""
    raise typer.Exit(run_mission_ingest(store, paths, sim_epoch, prefix, spectra_block,
                                        snap_tolerance, as_json))


def run_mission_ingest(store: str, paths: list[str], sim_epoch: str, prefix: str | None,
                       spectra_block: float, snap_tolerance: float, as_json: bool) -> int:
    """Run the ingest and print the report; returns the exit status (0, 1 or 2)."""
    from pipelines.ingest.allocator import tune_allocator
    from pipelines.mission.ingest import ingest_mission
    from pipelines.mission.options import MissionOptions
    from pipelines.mission.series import epoch_ns
    from pipelines.store import StoreError

    tune_allocator()
    try:
        epoch_ns(sim_epoch)
    except ValueError:
        fail(f"--sim-epoch {sim_epoch!r} is not an ISO-8601 time (e.g. 2000-01-01T12:00:00)", 2)
    options = MissionOptions(sim_epoch=sim_epoch, prefix=prefix, spectra_block_s=spectra_block,
                             snap_tolerance=snap_tolerance)
    try:
        report = ingest_mission(store, paths, options)
    except StoreError as exc:
        fail(str(exc), 2, escape=True)
    return print_ingest_report(report, as_json)


def register(ingest_app: typer.Typer) -> None:
    """Add `ingest mission` to the ingest sub-app."""
    ingest_app.command("mission")(ingest_mission_cmd)
