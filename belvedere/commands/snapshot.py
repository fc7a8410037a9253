"""`belvedere snapshot`: a view as a self-contained HTML file or a PNG."""

from __future__ import annotations

import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

import typer

from belvedere.console import fail, out


def _fetch(url: str, timeout: float) -> bytes:
    """GET a URL; SnapshotError with the server's own message when it refuses."""
    from dashboard.snapshot import SnapshotError

    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace").strip()
        raise SnapshotError(body or f"the server answered {exc.code} for {url}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SnapshotError(f"cannot reach the dashboard at {url}: {reason}") from exc


def snapshot(
    url: Annotated[str | None, typer.Argument(
        help="The view's URL as copied from the browser, e.g. "
             "'http://host:5006/waveforms?streams=BV.*&from=...&to=...'")] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="OUT.html or OUT.png")] = "",
    store: Annotated[str | None, typer.Option(
        help="Make the snapshot from this store directly (no server needed); with a URL, its "
             "view and parameters are used on this store")] = None,
    view: Annotated[str, typer.Option(
        help="overview, waveforms, availability, stations, resources or mission (without a "
             "URL)")
    ] = "waveforms",
    streams: Annotated[str | None, typer.Option(help="Streams, wildcards allowed")] = None,
    start: Annotated[str | None, typer.Option("--from", help="ISO time or now-6h")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO time or now")] = None,
    query: Annotated[str, typer.Option(
        help="More URL parameters of the view, e.g. 'scale=shared&units=physical'")] = "",
    theme: Annotated[str | None, typer.Option(help="light or dark")] = None,
    width: Annotated[int, typer.Option(min=200, max=8000, help="PNG width (CSS px)")] = 1400,
    height: Annotated[int, typer.Option(min=150, max=8000, help="PNG height (CSS px)")] = 700,
    scale: Annotated[float, typer.Option(min=0.5, max=4.0, help="PNG pixels per CSS px")
                     ] = 1.0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a server/browser")
                       ] = 90.0,
) -> None:
    """Export a view as one self-contained HTML file (no server needed to open it) or a PNG."""
    from dashboard.snapshot import SnapshotError, check_output, split_url, view_of_path

    t_start = time.monotonic()
    try:
        if not output:
            raise SnapshotError("give the output file: -o OUT.html or -o OUT.png")
        out_path = check_output(output)
        if theme not in (None, "light", "dark"):
            raise SnapshotError(f"theme {theme!r}: choose light or dark")
        args: dict[str, str] = {}
        root = None
        if url:
            root, view, args = split_url(url)
        else:
            view_of_path("/" + (view if view != "overview" else ""))
            if not store:
                raise SnapshotError("give a URL, or --store with --view (and --streams, "
                                    "--from, --to)")
        args.update(dict(parse_qsl(query, keep_blank_values=True)))
        for key, value in (("streams", streams), ("from", start), ("to", end)):
            if value:
                args[key] = value
        if theme:
            args["theme"] = theme
        png = out_path.suffix.lower() == ".png"
        if store:
            _from_store(store, view, args, out_path, png, width, height, scale, timeout)
        else:
            _from_server(root, view, args, out_path, png, width, height, scale, timeout)
    except SnapshotError as exc:
        fail(str(exc), 2)
    size = out_path.stat().st_size
    out.print(f"wrote {out_path} ({size / 1e6:.2f} MB, {time.monotonic() - t_start:.1f} s)",
              highlight=False)


def _from_store(store: str, view: str, args: dict[str, str], out_path: Path, png: bool,
                width: int, height: int, scale: float, timeout: float) -> None:
    from dashboard.snapshot import SnapshotError, build, render_png
    from dashboard.sources import Sources
    from pipelines.store import StoreError

    try:
        sources = Sources([store])
        sources.usage() if view == "resources" else sources.store()
    except (StoreError, OSError, ValueError) as exc:
        raise SnapshotError(f"cannot open the store {store!r}: {exc}") from exc
    args.pop("store", None)  # a served URL names the server's store; this one is given
    snap = build(view, sources, args, fit=(width, height) if png else None)
    if not png:
        out_path.write_text(snap.html, encoding="utf-8")
        return
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "snapshot.html"
        page.write_text(snap.html, encoding="utf-8")
        render_png(page.as_uri(), out_path, width, height, scale, timeout, offline=True)


def _from_server(root: str, view: str, args: dict[str, str], out_path: Path, png: bool,
                 width: int, height: int, scale: float, timeout: float) -> None:
    from dashboard.snapshot import render_png

    qs = urlencode(args, safe="*,?:/")
    if png:
        page = "" if view == "overview" else view
        embed_args = dict(args, embed="1")
        render_png(f"{root}{page}?{urlencode(embed_args, safe='*,?:/')}", out_path, width,
                   height, scale, timeout)
        return
    # The server makes it from the store it serves (its `snapshot/<view>.html` route).
    out_path.write_bytes(_fetch(f"{root}snapshot/{view}.html?{qs}", timeout))


def register(app: typer.Typer) -> None:
    """Add the `snapshot` command to the `belvedere` app."""
    app.command("snapshot")(snapshot)
