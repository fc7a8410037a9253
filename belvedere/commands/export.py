"""`belvedere export`: a stream's samples, exactly as stored, or a usage store's table."""

from __future__ import annotations

from typing import Annotated

import typer

from belvedere.console import fail, out


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
    from pipelines.seismic.export import FORMATS, export_stream
    from pipelines.store import StoreError, open_store
    from pipelines.timebase import parse_range

    export_if_usage_store(store, stream, output, fmt, start, end)  # exits if usage
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


def export_if_usage_store(store: str, name: str, output: str, fmt: str, start: str | None,
                          end: str | None) -> None:
    """When `store` is a usage store, export `jobs` or a metric and exit; else return."""
    from pipelines.usage.usage_store import is_usage_store

    if not is_usage_store(store):
        return
    raise typer.Exit(export_usage(store, name, output, fmt, start, end))


def export_usage(store: str, name: str, output: str, fmt: str, start: str | None,
                 end: str | None) -> int:
    """Write the jobs table or one metric of a usage store; returns the exit status."""
    from pipelines.store import StoreError
    from pipelines.timebase import parse_range
    from pipelines.usage.export import FORMATS, export_jobs, export_metric
    from pipelines.usage.usage_store import UsageStore

    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r} for a usage store; choose csv or parquet", 2)
    try:
        t0, t1 = parse_range(start, end)
    except ValueError as exc:
        fail(str(exc), 2)
    try:
        st = UsageStore(store, mode="r")
        if name == "jobs":
            n = export_jobs(st, output, fmt, t0, t1)
        else:
            n = export_metric(st, name, output, fmt, t0, t1)
    except (StoreError, ValueError, OSError) as exc:
        fail(str(exc), 1)
    out.print(f"wrote {output} ({n} rows)", highlight=False)
    return 0


def register(app: typer.Typer) -> None:
    """Add `export` to the `belvedere` app."""
    app.command("export")(export)
