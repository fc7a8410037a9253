"""What every FDSN handler shares: CORS, the FDSN error document, nodata, version, WADL."""

from __future__ import annotations

import logging
import os
import time

import tornado.web
from tornado.ioloop import IOLoop

from dashboard.webservices import params, wadl
from pipelines.seismic.fdsn.dataselect import RequestTooLarge
from pipelines.seismic.fdsn.select import QueryError
from pipelines.timebase import utc_iso

log = logging.getLogger(__name__)
REASONS = {204: "No Content", 400: "Bad Request", 404: "Not Found",
           413: "Request Entity Too Large", 500: "Internal Server Error"}
DEFAULT_MAX_SAMPLES = 1_000_000_000  # a month of 40 channels at 10 Hz, or of 4 at 100 Hz


def limits_from_env() -> dict[str, int]:
    """The size limits: `BELVEDERE_FDSN_MAX_SAMPLES` (samples per dataselect request)."""
    raw = os.environ.get("BELVEDERE_FDSN_MAX_SAMPLES", "")
    try:
        return {"max_samples": int(raw) if raw else DEFAULT_MAX_SAMPLES}
    except ValueError:
        raise ValueError(f"BELVEDERE_FDSN_MAX_SAMPLES={raw!r} is not a whole number") from None


class FdsnError(Exception):
    """An answer other than 200: status and the detail the error document gives."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class FdsnHandler(tornado.web.RequestHandler):
    """Base of the services' handlers."""

    service = ""

    def initialize(self, sources, limits: dict[str, int] | None = None) -> None:
        """Tornado passes the served stores and the size limits here."""
        self.sources = sources
        self.limits = limits or limits_from_env()

    def set_default_headers(self) -> None:
        """CORS: browser-based FDSN clients (seisplotjs) read the answers from any page."""
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.set_header("Access-Control-Allow-Headers", "Content-Type, Authorization")

    def options(self, *args) -> None:
        """The CORS pre-flight."""
        self.set_status(204)
        self.finish()

    def base_url(self) -> str:
        """This service's URL (…/fdsnws/SERVICE/1/), as the client reached it."""
        path = self.request.path
        root = path[:path.index("/fdsnws/")] if "/fdsnws/" in path else ""
        tail = f"{self.service}/1/" if self.service else ""
        return f"{self.request.protocol}://{self.request.host}{root}/fdsnws/{tail}"

    def stores(self) -> list:
        """The served data stores."""
        return [self.sources.store(label) for label in self.sources.labels]

    def request_params(self) -> params.Request:
        """GET arguments or the POST body, checked against the service's parameters."""
        allowed = wadl.allowed(self.service)
        if self.request.method == "POST":
            req = params.from_body(self.request.body, allowed)
            for k, v in params.from_query(self.request.query_arguments, allowed).params.items():
                req.params.setdefault(k, v)
            return req
        return params.from_query(self.request.query_arguments, allowed)

    def nodata(self, req: params.Request) -> None:
        """No match: 204 with an empty body, or 404 with the error document (nodata=404)."""
        code = req.get("nodata", "204")
        if code not in ("204", "404"):
            raise FdsnError(400, f"nodata={code!r}: write 204 or 404")
        if code == "404":
            raise FdsnError(404, "No data matches the request.")
        self.set_status(204)
        self.finish()

    def fail(self, status: int, detail: str) -> None:
        """The FDSN error document (plain text): code, detail, usage, request, time, version."""
        self.clear()
        self.set_default_headers()
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(
            f"Error {status}: {REASONS.get(status, self._reason)}\n\n{detail}\n\n"
            f"Usage details are available from {self.base_url()}\n\n"
            f"Request:\n{self.request.full_url()[:500]}\n\n"
            f"Request Submitted:\n{utc_iso(time.time_ns())}\n\n"
            f"Service version:\n{wadl.VERSIONS.get(self.service, '1.0.0')}\n")

    async def answer(self, work) -> None:
        """Run `work(req)` (a coroutine function) with errors turned into FDSN answers."""
        try:
            req = self.request_params()
            await work(req)
        except FdsnError as exc:
            self.fail(exc.status, exc.detail)
        except RequestTooLarge as exc:
            self.fail(413, str(exc))
        except QueryError as exc:
            self.fail(400, str(exc))
        except Exception as exc:  # the message to the client, the traceback to the log
            log.exception("FDSN %s request %s failed", self.service, self.request.uri)
            if not self._headers_written:
                self.fail(500, f"The request could not be answered: {exc}")
            else:  # mid-stream: cut the connection so the client cannot take it as complete
                self.request.connection.close()

    def write_error(self, status_code: int, **kwargs) -> None:
        """Tornado's own errors (a malformed request) as the FDSN document, no traceback."""
        self.fail(status_code, self._reason)

    async def run(self, fn, *args):
        """`fn(*args)` in a worker thread (store reads must not stall the event loop)."""
        return await IOLoop.current().run_in_executor(None, fn, *args)


class VersionHandler(FdsnHandler):
    """GET version: digits and dots only (ObsPy parses it)."""

    def get(self) -> None:
        """The service's version."""
        self.set_header("Content-Type", "text/plain")
        self.finish(wadl.VERSIONS[self.service])


class WadlHandler(FdsnHandler):
    """GET application.wadl."""

    def get(self) -> None:
        """The WADL document of the service."""
        self.set_header("Content-Type", "application/xml")
        self.finish(wadl.document(self.service, self.base_url()))


class IndexHandler(FdsnHandler):
    """GET /fdsnws/SERVICE/1/: what the service offers, as text."""

    def get(self) -> None:
        """A short usage page."""
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        names = ", ".join(n for n, _ in wadl.PARAMETERS[self.service])
        methods = " and ".join(wadl.METHODS[self.service])
        self.finish(f"FDSN {self.service} web service {wadl.VERSIONS[self.service]} "
                    f"(Belvedere)\n\nResources: {methods} (GET; POST for bulk requests), "
                    f"version, application.wadl\nParameters: {names}\n"
                    "Times are UTC as YYYY-MM-DDThh:mm:ss[.ssssss]; the empty location is --.\n")


class NotFoundHandler(FdsnHandler):
    """Anything else under /fdsnws/: 404 with the FDSN document, naming the services."""

    def prepare(self) -> None:
        """Every method answers the same."""
        self.fail(404, f"No such FDSN resource: {self.request.path[:200]!r}. This server offers "
                       "dataselect/1/, station/1/, availability/1/ and event/1/ under /fdsnws/.")
