"""`belvedere info`: a store's streams with spans, gaps and sizes (a usage store's tables)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from belvedere.console import fail, out, shown


def info(
    store: Annotated[str, typer.Argument(help="Store folder or URL")],
    stream: Annotated[str | None, typer.Argument(help="One stream (wildcards allowed)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts")] = False,
) -> None:
    """List a store's streams with spans, gaps and sizes."""
    from pipelines.store import StoreError, describe, open_store

    info_if_usage_store(store, as_json)  # a usage store: jobs, metrics, runs

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
        fail(str(exc), 1, soft_wrap=False, escape=True)
    if as_json:
        out.print_json(json.dumps(desc, default=str))
        return
    table = Table(title=shown(desc["store"]), title_justify="left")
    for col in ("stream", "rate Hz", "start", "end", "samples", "gaps", "gap s", "station"):
        table.add_column(col, overflow="fold")
    for s in desc["streams"]:
        table.add_row(shown(s["stream"]), f"{s['sampling_rate']:g}", s["start"] or "-",
                      s["end"] or "-", f"{s['samples']:,}", str(s["gaps"]),
                      f"{s['gap_seconds']:,.1f}", shown(s.get("station_name") or ""))
    out.print(table)
    if "bytes" in desc:
        out.print(f"{len(desc['streams'])} streams, {desc['bytes'] / 1e6:,.1f} MB, "
                  f"{desc['events']} events, layout version {desc['layout_version']}")
    for s in desc["streams"]:
        for a, b in s.get("gap_list", []):
            out.print(f"gap {shown(s['stream'])}: {a} to {b}", highlight=False)


def _iso_pairs(gaps):
    from pipelines.timebase import utc_iso

    return [(utc_iso(a), utc_iso(b)) for a, b in gaps]


def info_if_usage_store(store: str, as_json: bool) -> None:
    """When `store` is a usage store, describe it (jobs, metrics, runs) and exit; else return."""
    from pipelines.usage.usage_store import is_usage_store

    if not is_usage_store(store):
        return
    from pipelines.store import StoreError
    from pipelines.usage.usage_store import UsageStore

    try:
        st = UsageStore(store, mode="r")
        desc = st.describe()
    except StoreError as exc:
        fail(str(exc), 1, escape=True)
    if as_json:
        out.print_json(json.dumps(desc, default=str))
    else:
        j = desc["jobs"]
        out.print(f"{desc['store']}: usage store, layout version {desc['layout_version']}, "
                  f"{desc['bytes'] / 1e6:,.3f} MB", highlight=False)
        out.print(f"jobs: {j['rows']} ({', '.join(f'{k} {v}' for k, v in j['states'].items())})"
                  f" from {j['first'] or '-'} to {j['last'] or '-'}", highlight=False)
        for m in desc["metrics"]:
            out.print(f"metric {m['name']}: {m['series']} series x {m['times']} times, "
                      f"{m['first']} to {m['last']}", highlight=False)
        out.print(f"ingest runs recorded: {desc['runs']}", highlight=False)
    raise typer.Exit(0)


def register(app: typer.Typer) -> None:
    """Add `info` to the `belvedere` app."""
    app.command("info")(info)
