"""`belvedere serve`: the dashboard over one or more stores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from belvedere.console import fail, out, settings_or_exit


def start_server(stores: list[str], port: int, address: str, origins: list[str],
                 show_url: bool = False, tile_url: str | None = None, prefix: str = "",
                 use_xheaders: bool = False, num_procs: int = 1, threads: int = 2,
                 queue: int = 60, snapshot_threads: int = 1, snapshot_queue: int = 2,
                 chunk_cache_mb: int = 256, access=None) -> None:
    """Serve the dashboard over `stores` (blocks until the server stops)."""
    from dashboard.server import serve as serve_dashboard

    prefix = ("/" + prefix.strip("/")) if prefix.strip("/") else ""
    if show_url:
        out.print(f"dashboard: http://{address}:{port}{prefix}/", highlight=False)
    serve_dashboard(stores, port=port, address=address,
                    allow_websocket_origin=origins or None, tile_url=tile_url, prefix=prefix,
                    use_xheaders=use_xheaders, num_procs=num_procs, threads=threads,
                    queue=queue, snapshot_threads=snapshot_threads,
                    snapshot_queue=snapshot_queue, chunk_cache_mb=chunk_cache_mb, access=access)


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
    num_procs: Annotated[int, typer.Option(
        min=0, help="Server processes sharing the port (Bokeh's --num-procs; 0: one per core). "
             "Each process builds its own sessions; behind a load balancer, prefer one "
             "process per container and more replicas")] = 1,
    threads: Annotated[int, typer.Option(
        min=1, help="Worker threads per process for frames (off the event loop); about one "
             "per core the process may use (page builds have one thread of their own)")] = 2,
    queue: Annotated[int, typer.Option(
        min=0, help="Page builds and frames that may wait for a thread; past that a page says "
             "'busy, try again'")] = 60,
    snapshot_threads: Annotated[int, typer.Option(
        min=1, help="Snapshots rendered at once per process")] = 1,
    snapshot_queue: Annotated[int, typer.Option(
        min=0, help="Snapshots that may wait; past that the snapshot route answers 503")] = 2,
    chunk_cache_mb: Annotated[int, typer.Option(
        min=0, help="Memory for decoded store chunks shared by all sessions (MB per process)")
                              ] = 256,
    config: Annotated[Path | None, typer.Option(
        "--config", envvar="BELVEDERE_CONFIG", help="Configuration file (TOML)")] = None,
) -> None:
    """Serve the dashboard over one or more stores."""
    from pipelines.store import StoreError, open_store

    settings = settings_or_exit(ctx, "serve", config)  # CLI > env > file > defaults
    cfg = settings.serve
    from dashboard import latency

    latency.configure(settings.latency.amber_s, settings.latency.red_s)
    store, port, address = cfg.stores, cfg.port, cfg.address
    allow_websocket_origin, tile_url = cfg.allow_websocket_origin, cfg.tile_url
    prefix, use_xheaders = cfg.prefix, cfg.use_xheaders
    num_procs, threads, queue = cfg.num_procs, cfg.threads, cfg.queue
    snapshot_threads, snapshot_queue = cfg.snapshot_threads, cfg.snapshot_queue
    chunk_cache_mb = cfg.chunk_cache_mb
    if not store:
        fail("no store: give --store, or serve.stores in the config / BELVEDERE_SERVE_STORES", 2,
             soft_wrap=False)

    from pipelines.usage.usage_store import is_usage_store, open_usage_store

    for s in store:
        try:
            open_usage_store(s) if is_usage_store(s) else open_store(s)
        except StoreError as exc:
            fail(str(exc), 2, soft_wrap=False)
    start_server(store, port, address, allow_websocket_origin, show_url=True, tile_url=tile_url,
                 prefix=prefix, use_xheaders=use_xheaders, num_procs=num_procs,
                 threads=threads, queue=queue, snapshot_threads=snapshot_threads,
                 snapshot_queue=snapshot_queue, chunk_cache_mb=chunk_cache_mb,
                 access=settings.access)


def register(app: typer.Typer) -> None:
    """Add `serve` to the `belvedere` app."""
    app.command("serve")(serve)
