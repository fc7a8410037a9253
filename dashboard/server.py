"""The Panel server: routes to pages, the one error guard every page is built under, the
snapshot route, a liveness endpoint, and `serve`.

Nothing that reads the store runs on the event loop. A page is built in the build pool
(`work.BUILDS`) while Bokeh creates its session: `PrebuildHandler` is a Bokeh application
handler whose asynchronous `on_session_created` (awaited before the document is laid out)
builds the page in a thread into the new document, which no other thread touches yet; the
route's factory then hands the built page to Panel. Frames render in their own pool
(`work.FRAMES`, see `pages.waveforms`), snapshots in theirs (`work.SNAPSHOTS`); each pool is
bounded and a request past its limit gets "busy, try again" (the page says it, the snapshot
route answers 503), so `/liveness` always answers at once.
"""

from __future__ import annotations

import gc
import logging
import sys
import traceback
import weakref
from collections.abc import Callable

import panel as pn
import tornado.web
from bokeh.application.handlers.handler import Handler
from panel.io.state import set_curdoc

from dashboard import chrome, chunks, model_defaults, state, work
from dashboard.access import hooks as access_hooks
from dashboard.errors import NotServedError
from dashboard.sources import Sources

log = logging.getLogger(__name__)

# Pages built by PrebuildHandler for their documents, picked up by the route's factory.
_BUILT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _busy_page(page_class, text: str) -> pn.viewable.Viewable:
    return chrome.page(page_class.slug, chrome.alert(f"{text}.", "warning"),
                       title=page_class.title)


def build_page(page_class, sources: Sources) -> pn.viewable.Viewable:
    """One session's page from its URL (pn.state.curdoc is its document); a page that fails
    to build shows the reason, the traceback goes to the server log only."""
    state.normalise_request()  # before Panel parses the request URI (a raw `?` in a value)
    args = state.query_args()
    sources = sources.for_user(access_hooks.session_user(), "/" + page_class.slug)  # [access]
    try:  # laid out here too: a page may read the store while laying itself out
        return page_class(sources, args).__panel__()
    except Exception as exc:
        name = page_class.slug or "overview"
        if isinstance(exc, NotServedError):  # the URL names what is not here: the visitor's
            log.info("page %s: %s", name, exc)
        else:
            log.error("page %s failed:\n%s", name, traceback.format_exc())
        return chrome.page(page_class.slug, chrome.alert(
            f"The {name} page could not be built: {exc}"), embed=state.is_embed(args),
            title=page_class.title)


class PrebuildHandler(Handler):
    """Builds a route's page, and the page's Bokeh models, in the worker pool while Bokeh
    creates the session: the page is laid out into the new document there (Panel's
    `server_doc`), which no other thread touches until the session exists; the route's
    factory then has nothing left to do. Laying a page out is most of a page's cost (its
    widgets' models), so it leaves the event loop too."""

    def __init__(self, page_class, sources: Sources, application=None, title: str = ""):
        super().__init__()
        self.page_class = page_class
        self.sources = sources
        self.application = application
        self.title = title

    def modify_document(self, doc) -> None:
        """Nothing: the document was laid out in `on_session_created`."""

    def _build(self, doc) -> None:
        with set_curdoc(doc):
            if self.application is not None:  # what Panel does first in initialize_document
                self.application._set_session_prefix(doc)
            page = build_page(self.page_class, self.sources)
            pn.panel(page).server_doc(doc, title=self.title or doc.title, location=True)
            _prepatch_css(doc)
        doc.validate()  # here, not on the loop (see `quiet_loop`): it walks every model

    async def on_session_created(self, session_context) -> None:
        """Build and lay out the page off the event loop (a "busy" page when the pool is
        full, laid out by the route's factory)."""
        doc = session_context._document
        try:
            await work.BUILDS.run(self._build, doc)
            _BUILT[doc] = None  # laid out already
        except work.Busy as exc:
            with set_curdoc(doc):
                _BUILT[doc] = _busy_page(self.page_class, str(exc))


def guarded(page_class, sources: Sources) -> Callable[[], pn.viewable.Viewable]:
    """The route's page factory: the page PrebuildHandler built for this session, or (outside
    a served session) the page built here."""
    def page() -> pn.viewable.Viewable | None:
        doc = pn.state.curdoc
        if doc is not None and doc in _BUILT:
            return _BUILT.pop(doc)  # None: laid out into the document already
        return build_page(page_class, sources)
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


def _text(value: bytes) -> str:
    """A query value as text (bytes that are not UTF-8 become U+FFFD, not an error)."""
    return value.decode("utf-8", "replace")


class SnapshotHandler(tornado.web.RequestHandler):
    """GET snapshot/waveforms.html?streams=...&from=...&to=... -> the snapshot as a download.

    The Share control links here, and `belvedere snapshot URL -o OUT.html` asks a running server
    here, so a snapshot of a served view is made from the store that server serves."""

    def initialize(self, sources: Sources) -> None:
        """Tornado passes the served stores here."""
        self.sources = sources

    async def get(self, view: str) -> None:
        """Render in the snapshot pool (seconds) so the server keeps answering meanwhile; 503
        when it already holds as many snapshots as it takes."""
        from dashboard.snapshot import SnapshotError, build

        args = {k: _text(v[-1]) for k, v in self.request.arguments.items() if v}
        try:
            sources = self.sources.for_user(access_hooks.request_user(self), f"/snapshot/{view}")
            snap = await work.SNAPSHOTS.run(build, view, sources, args)
        except work.Busy as exc:
            self.set_header("Retry-After", "5")
            self._fail(503, f"snapshot: {exc}")
            return
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
          use_xheaders: bool = False, num_procs: int = 1, threads: int = 2,
          queue: int = 60, snapshot_threads: int = 1, snapshot_queue: int = 2,
          chunk_cache_mb: int = 256, access=None) -> None:
    """Serve the dashboard for these stores until interrupted (blocks).

    `prefix` serves every route under a path (/belvedere/waveforms) for a reverse proxy;
    `use_xheaders` trusts its X-Forwarded-* headers for the client's scheme and address.
    `num_procs` forks that many server processes on the one port (Bokeh's --num-procs; 0: one
    per core); in each, `threads` build pages and frames with at most `queue` more waiting,
    `snapshot_threads` render snapshots with at most `snapshot_queue` more waiting;
    `chunk_cache_mb` of decoded store chunks are kept per process (see `chunks`).
    `access` is the `[access]` configuration (who may see what; None: everything public).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if num_procs != 1:
        log.warning("--num-procs %d: the processes share port %d and a page's websocket may "
                    "reach another process than the one that served the page, which then "
                    "builds it again; for production run one process per port behind a "
                    "sticky proxy (deploy/nginx/belvedere.conf)", num_procs, port)
    work.configure(threads, queue, snapshot_threads, snapshot_queue)
    chunks.CACHE.max_bytes = int(chunk_cache_mb) * 2**20
    # The workers' Python (page layouts) holds the GIL; a thread that wants it waits up to the
    # switch interval each time. 1 ms instead of 5 keeps the event loop (and /liveness)
    # answering within milliseconds while they work, for a little more switching.
    sys.setswitchinterval(0.001)
    model_defaults.install()  # page builds: a third less CPU, the same documents
    quiet_loop()
    sources = Sources(list(stores), tile_url)
    app = build_app(sources)
    from dashboard import raster

    raster.warm_up()  # first-call costs before the first visitor waits for them
    # What was loaded at start (modules, the stores' kept streams) lives as long as the
    # server: out of the collector's way, a full collection (Panel runs one on the loop after
    # sessions close) walks only the sessions' objects.
    gc.collect()
    gc.freeze()
    # A page build makes many short-lived cycles. At the default thresholds (700, 10, 10)
    # twenty pages opening at once ran ~1,200 young and 10 full collections (1.2-1.4 s in
    # all, up to 290 ms each, holding the GIL the event loop waits for); at these, 42 and 1-2
    # (0.3-0.4 s of full collections), for ~10 MB more RSS.
    gc.set_threshold(20_000, 20, 20)
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
             *webservices.routes(sources, prefix),  # FDSN services under /fdsnws/
             *access_hooks.install(sources, access, prefix or "")]  # /login, /logout
    # threaded=False: the server's own loop; the work goes to the pools of `work`.
    server = pn.serve(app, port=port, address=address,
                      websocket_origin=sorted(set(origins)), show=show, title=titles,
                      liveness=True, verbose=True, threaded=False, prefix=prefix or "",
                      use_xheaders=use_xheaders, extra_patterns=extra, start=False,
                      num_procs=num_procs)
    add_prebuild(server, sources, titles)
    access_hooks.guard(server._tornado)  # a bad session cookie: 401 on every route
    server.start()
    server.io_loop.start()


# doc -> the stylesheet URL prefix its models were given in the worker (see `_prepatch_css`).
_CSS_PATCHED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _prepatch_css(doc) -> None:
    """Give the document's stylesheets the URL prefix Panel gives them when it renders the
    session's HTML page (on the loop: a walk over every model, ~100 ms a page under load),
    here in the worker; `_patch_css_once` then skips that walk when the prefix is the same."""
    from panel.io import resources
    from panel.io.state import state as pn_state

    dist = f"{pn_state.rel_path}/{resources.LOCAL_DIST}" if pn_state.rel_path \
        else resources.LOCAL_DIST
    for root in doc.roots:
        resources.patch_model_css(root, dist_url=dist)
    _CSS_PATCHED[doc] = dist


def _patch_css_once(root, dist_url: str) -> None:
    """Panel's `patch_model_css`, skipped for a document patched already for `dist_url`."""
    from panel.io import resources

    doc = root.document
    if doc is not None and _CSS_PATCHED.get(doc) == dist_url:
        return
    resources.patch_model_css(root, dist_url=dist_url)


def quiet_loop() -> None:
    """Keep the work that walks a whole document off the event loop: Bokeh validates each new
    session's document there after its handlers ran and Panel patches its stylesheets' URLs
    when it renders the page (`PrebuildHandler` does both in the worker instead), and Bokeh
    serialises the document there for the browser's first request."""
    import panel.io.server
    from bokeh.server.session import ServerSession, _needs_document_lock
    from bokeh.settings import settings

    settings.perform_document_validation.set_value(False)
    panel.io.server.patch_model_css = _patch_css_once  # what its page renderer calls
    if getattr(ServerSession._handle_pull, "_belvedere", False):
        return

    # A browser's first message asks for the whole document, which Bokeh serialises on the
    # loop: 0.1-1 s a page (all its models' properties), the loop's largest block while pages
    # open. Serialised in the worker pool instead, under the session's document lock (held
    # while awaited), so nothing changes the document meanwhile: the events that change it
    # run on the loop under that lock, and the workers hand their results back through it.
    @_needs_document_lock
    def _handle_pull(self, message, connection):
        args = ("PULL-DOC-REPLY", message.header["msgid"], self.document)

        def create():
            msg = connection.protocol.create(*args)
            msg.content_json  # noqa: B018 -- its JSON text too (kept by the message)
            return msg

        async def reply():
            try:
                return await work.BUILDS.run(create)
            except work.Busy:
                return connection.protocol.create(*args)

        return reply()

    _handle_pull._belvedere = True
    ServerSession._handle_pull = _handle_pull


def add_prebuild(server, sources: Sources, titles: dict[str, str]) -> None:
    """Give each page route of a Bokeh server its PrebuildHandler."""
    from dashboard.pages import PAGES

    by_route = {"/" + cls.slug: cls for cls in PAGES.values()}
    for route, ctx in server._tornado._applications.items():
        key = route.rstrip("/") or "/"
        cls = by_route.get(key)
        if cls is not None:
            ctx.application.add(PrebuildHandler(cls, sources, ctx.application,
                                                titles.get(key, "")))
