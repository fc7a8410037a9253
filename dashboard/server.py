"""The Panel server: routes to pages, the one error guard every page is built under, the
snapshot route, a liveness endpoint, and `serve`."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

import panel as pn
import tornado.web
from tornado.ioloop import IOLoop

from dashboard import chrome, state
from dashboard.sources import Sources

log = logging.getLogger(__name__)

def guarded(page_class, sources: Sources) -> Callable[[], pn.viewable.Viewable]:
    """The route's page factory: builds one session's page from its URL; a page that fails
    to build shows the reason, the traceback goes to the server log only."""
    def page() -> pn.viewable.Viewable:
        state.normalise_request()  # before Panel parses the request URI (a raw `?` in a value)
        args = state.query_args()
        try:  # laid out here too: a page may read the store while laying itself out
            return page_class(sources, args).__panel__()
        except Exception as exc:
            name = page_class.slug or "overview"
            log.error("page %s failed:\n%s", name, traceback.format_exc())
            return chrome.page(page_class.slug, chrome.alert(
                f"The {name} page could not be built: {exc}"), embed=state.is_embed(args),
                title=page_class.title)
    page.__name__ = f"page_{page_class.slug or 'overview'}"
    return page


def build_app(stores: list[str] | Sources, tile_url: str | None = None
              ) -> dict[str, Callable[[], pn.viewable.Viewable]]:
    """Routes -> page factories (each call builds one session's page) for these stores."""
    from dashboard.pages import PAGES

    sources = stores if isinstance(stores, Sources) else Sources(list(stores), tile_url)
    for label in sources.labels:  # fail at start, with the store's own message, not per page
        sources.store(label)
    for label in sources.usage_labels:
        sources.usage(label)
    return {"/" + cls.slug: guarded(cls, sources) for cls in PAGES.values()}


class SnapshotHandler(tornado.web.RequestHandler):
    """GET snapshot/waveforms.html?streams=...&from=...&to=... -> the snapshot as a download.

    The Share control links here, and `belvedere snapshot URL -o OUT.html` asks a running server
    here, so a snapshot of a served view is made from the store that server serves."""

    def initialize(self, sources: Sources) -> None:
        """Tornado passes the served stores here."""
        self.sources = sources

    async def get(self, view: str) -> None:
        """Render in a worker thread (seconds) so the server keeps answering meanwhile."""
        from dashboard.snapshot import SnapshotError, build

        args = {k: self.get_argument(k) for k in self.request.arguments}
        try:
            snap = await IOLoop.current().run_in_executor(None, build, view, self.sources, args)
        except SnapshotError as exc:
            self._fail(400, f"snapshot: {exc}")
            return
        except Exception as exc:  # the message to the client, the traceback to the log
            log.exception("snapshot of %s failed", view)
            self._fail(500, f"snapshot failed: {exc}")
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{snap.filename}"')
        self.finish(snap.html)

    def _fail(self, status: int, text: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(text + "\n")


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

    raster.warm_up()  # compile the drawing kernels before the first visitor waits for them
    origins = list(allow_websocket_origin or [])
    # Bokeh only accepts websocket connections from the origins it is told about; the page
    # must work at both names of the loopback address and at the address it listens on.
    for host in ("localhost", "127.0.0.1", address):
        if host and host not in ("0.0.0.0", "::"):
            origins.append(f"{host}:{port}")
    from dashboard.pages import PAGES

    titles = {"/" + c.slug: f"{c.title} · Belvedere" if c.slug else "Belvedere"
              for c in PAGES.values()}
    from dashboard import webservices

    extra = [(r"/snapshot/([a-z]+)\.html", SnapshotHandler, {"sources": sources}),
             *webservices.routes(sources, prefix)]  # FDSN services under /fdsnws/
    # Page builds and callbacks run on the server's one event loop (threaded=False): a pool
    # of workers for slow builds belongs here, next to the routes.
    pn.serve(app, port=port, address=address, websocket_origin=sorted(set(origins)),
             show=show, title=titles, liveness=True, verbose=True, threaded=False,
             prefix=prefix or "", use_xheaders=use_xheaders, extra_patterns=extra)
