"""The server's `snapshot/<view>.html` route: the view's URL parameters in, an HTML file out.

The Share control links here, and `belvedere snapshot URL -o OUT.html` asks a running server
here, so a snapshot of a served view is made from the store that server serves.
"""

from __future__ import annotations

import logging

import tornado.web
from tornado.ioloop import IOLoop

from dashboard.snapshot import SnapshotError, build
from dashboard.sources import Sources

log = logging.getLogger(__name__)


class SnapshotHandler(tornado.web.RequestHandler):
    """GET snapshot/waveforms.html?streams=...&from=...&to=... -> the snapshot as a download."""

    def initialize(self, sources: Sources) -> None:
        """Tornado passes the served stores here."""
        self.sources = sources

    async def get(self, view: str) -> None:
        """Render in a worker thread (seconds) so the server keeps answering meanwhile."""
        args = {k: self.get_argument(k) for k in self.request.arguments}
        try:
            snap = await IOLoop.current().run_in_executor(None, build, view, self.sources, args)
        except SnapshotError as exc:
            self.set_status(400)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(f"snapshot: {exc}\n")
            return
        except Exception as exc:  # the message to the client, the traceback to the log
            log.exception("snapshot of %s failed", view)
            self.set_status(500)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(f"snapshot failed: {exc}\n")
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{snap.filename}"')
        self.finish(snap.html)
