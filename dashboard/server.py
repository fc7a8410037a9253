"""The Panel server: routes to page factories, a liveness endpoint, and `serve`."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

import panel as pn

from dashboard import layout
from dashboard.sources import Sources

log = logging.getLogger(__name__)

TITLES = {"/": "Belvedere", "/waveforms": "Waveforms · Belvedere",
          "/availability": "Availability · Belvedere", "/stations": "Stations · Belvedere",
          "/resources": "Resources · Belvedere", "/mission": "Mission · Belvedere"}


def _guarded(name: str, factory: Callable[[], pn.viewable.Viewable]
             ) -> Callable[[], pn.viewable.Viewable]:
    # A page that fails to build shows the reason; the traceback goes to the server log only.
    def page() -> pn.viewable.Viewable:
        try:
            return factory()
        except Exception as exc:
            log.error("page %s failed:\n%s", name, traceback.format_exc())
            return layout.page(name.strip("/"), layout.alert(
                f"This page could not be built: {exc}"))
    page.__name__ = f"page_{name.strip('/') or 'overview'}"
    return page


def build_app(stores: list[str] | Sources, tile_url: str | None = None
              ) -> dict[str, Callable[[], pn.viewable.Viewable]]:
    """Routes -> page factories (each call builds one session's page) for these stores."""
    from dashboard.availability import availability_page
    from dashboard.mission import mission_page
    from dashboard.overview import overview_page
    from dashboard.resources import resources_page
    from dashboard.stations import stations_page
    from dashboard.waveforms import waveforms_page

    sources = stores if isinstance(stores, Sources) else Sources(list(stores), tile_url)
    for label in sources.labels:  # fail at start, with the store's own message, not per page
        sources.store(label)
    for label in sources.usage_labels:
        sources.usage(label)
    pages = {
        "/": lambda: overview_page(sources),
        "/waveforms": lambda: waveforms_page(sources),
        "/availability": lambda: availability_page(sources),
        "/stations": lambda: stations_page(sources),
        "/resources": lambda: resources_page(sources),
        "/mission": lambda: mission_page(sources),  # issue 5
    }
    return {route: _guarded(route, f) for route, f in pages.items()}


def serve(stores: list[str], port: int = 5006, address: str = "127.0.0.1",
          allow_websocket_origin: list[str] | None = None, show: bool = False,
          tile_url: str | None = None, prefix: str | None = None,
          use_xheaders: bool = False) -> None:
    """Serve the dashboard for these stores until interrupted (blocks).

    `prefix` serves every route under a path (/belvedere/waveforms) for a reverse proxy;
    `use_xheaders` trusts its X-Forwarded-* headers for the client's scheme and address.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sources = Sources(list(stores), tile_url)
    app = build_app(sources)
    from dashboard import raster
    from dashboard.snapshot_route import SnapshotHandler

    raster.warm_up()  # compile the drawing kernels before the first visitor waits for them
    origins = list(allow_websocket_origin or [])
    # Bokeh only accepts websocket connections from the origins it is told about; the page
    # must work at both names of the loopback address and at the address it listens on.
    for host in ("localhost", "127.0.0.1", address):
        if host and host not in ("0.0.0.0", "::"):
            origins.append(f"{host}:{port}")
    extra = [(r"/snapshot/([a-z]+)\.html", SnapshotHandler, {"sources": sources})]
    pn.serve(app, port=port, address=address, websocket_origin=sorted(set(origins)),
             show=show, title=TITLES, liveness=True, verbose=True, threaded=False,
             prefix=prefix or "", use_xheaders=use_xheaders, extra_patterns=extra)
