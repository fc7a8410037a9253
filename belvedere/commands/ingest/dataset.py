"""`belvedere ingest dataset NAME`: run the ingest a catalog entry describes (see datasets/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from belvedere.commands.ingest.seismic import run_seismic_ingest
from belvedere.commands.ingest.usage import run_usage_ingest
from belvedere.console import fail, out, settings_or_exit


def ingest_dataset_cmd(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Dataset name in the catalog")] = None,
    catalog: Annotated[Path | None, typer.Option(
        help="Catalog file (default: ingest.catalog, else datasets/catalog.toml)")] = None,
    store: Annotated[str | None, typer.Option(help="Ingest into this store instead")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Local worker processes")] = 1,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", envvar="BELVEDERE_CONFIG", help="Configuration file (TOML)")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the catalog's datasets")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Ingest a dataset named in the catalog (its sources into its store)."""
    from belvedere.catalog import catalog_path, load_catalog
    from belvedere.config import ConfigError

    settings = settings_or_exit(ctx, "ingest", config)
    path = catalog_path(catalog, settings)
    try:
        cat = load_catalog(path)
    except ConfigError as exc:
        fail(str(exc), 2, escape=True)
    if list_ or name is None:
        for n, ds in cat.datasets.items():
            out.print(f"{n}\t{ds.kind}\t{ds.store}\t{ds.description}", highlight=False)
        raise typer.Exit(0 if list_ else 2)
    if name not in cat.datasets:
        fail(f"no dataset {name!r} in {path}; it has: {', '.join(cat.datasets) or 'none'}", 2,
             escape=True)
    ds = cat.datasets[name]
    target = store or ds.store
    code = run_dataset(ds, target, settings, as_json)
    raise typer.Exit(code)


def run_dataset(ds, store: str, settings, as_json: bool) -> int:
    """Run one catalog entry's ingest on the configured cluster; returns the exit status."""
    from belvedere.catalog import SeismicDataset
    from pipelines.ingest.clusters import ClusterError, use_cluster

    try:
        with use_cluster(settings.dask) as address:
            if isinstance(ds, SeismicDataset):
                snap = (ds.snap_tolerance if ds.snap_tolerance is not None
                        else settings.ingest.snap_tolerance)
                return run_seismic_ingest(store, ds.sources, ds.inventory, ds.events,
                                          settings.ingest.workers, address, snap, as_json)
            queries = [f"{k}={v}" for k, v in ds.queries.items()]
            return run_usage_ingest(store, ds.infrastructure, ds.sacct, ds.run_sacct,
                                    ds.timezone, ds.cluster, ds.prometheus, queries, ds.start,
                                    ds.end, ds.step, as_json)
    except ClusterError as exc:
        fail(str(exc), 2, escape=True)
    return 2


def register(ingest_app: typer.Typer) -> None:
    """Add `ingest dataset` to the `ingest` command group."""
    ingest_app.command("dataset")(ingest_dataset_cmd)
