"""FDSN event: the stores' earthquake catalogue as QuakeML or text, and its catalogs and
contributors."""

from __future__ import annotations

from xml.sax.saxutils import escape

from dashboard.webservices import params
from dashboard.webservices.common import FdsnError, FdsnHandler
from pipelines.seismic.fdsn import event as ev
from pipelines.seismic.fdsn.select import QueryError

_NUMBERS = {"mindepth": (-1e4, 1e4), "maxdepth": (-1e4, 1e4), "minmagnitude": (-20, 20),
            "maxmagnitude": (-20, 20)}


def query_of(req: params.Request) -> ev.EventQuery:
    """The event query of a request."""
    t0 = params.parse_time("starttime", req.get("starttime")) if req.get("starttime") else None
    t1 = params.parse_time("endtime", req.get("endtime")) if req.get("endtime") else None
    if t0 is not None and t1 is not None and t1 <= t0:
        raise QueryError("the end time must be after the start time")
    box = (params.parse_float("minlatitude", req.get("minlatitude") or "-90", -90, 90),
           params.parse_float("maxlatitude", req.get("maxlatitude") or "90", -90, 90),
           params.parse_float("minlongitude", req.get("minlongitude") or "-180", -180, 180),
           params.parse_float("maxlongitude", req.get("maxlongitude") or "180", -180, 180))
    if box[0] > box[1]:
        raise QueryError(f"minlatitude={box[0]:g} is above maxlatitude={box[1]:g}")
    nums = {k: params.parse_float(k, req.get(k), *lim) if req.get(k) else None
            for k, lim in _NUMBERS.items()}
    for name in ("includeallorigins", "includeallmagnitudes"):
        params.parse_bool(name, req.get(name) or "false")  # one origin and magnitude each
    for name, known in (("catalog", ev.CATALOG), ("contributor", ev.CONTRIBUTOR)):
        if req.get(name) not in (None, known):
            raise QueryError(f"{name}={req.get(name)!r}: this server has one, {known!r} "
                             f"(/fdsnws/event/1/{name}s)")
    if req.get("updatedafter"):
        raise QueryError("updatedafter is not supported by this event service: the "
                         "catalogue keeps no update times; select by starttime/endtime")
    limit, offset = req.get("limit"), req.get("offset")
    return ev.EventQuery(
        t0_ns=t0, t1_ns=t1, box=box, radius=params.radius(req), **nums,
        magnitudetype=req.get("magnitudetype"), eventid=req.get("eventid"),
        orderby=(req.get("orderby") or "time").lower(),
        limit=None if limit is None else params.parse_int("limit", limit, 1),
        offset=1 if offset is None else params.parse_int("offset", offset, 1),
        includearrivals=params.parse_bool("includearrivals",
                                          req.get("includearrivals") or "false"))


class QueryHandler(FdsnHandler):
    """GET query (the specification defines no POST for events)."""

    service = "event"

    async def get(self) -> None:
        """Answer a GET query."""
        await self.answer(self._query)

    async def _query(self, req: params.Request) -> None:
        fmt = (req.get("format") or "xml").lower()
        if fmt not in ("xml", "quakeml", "text"):
            raise FdsnError(400, f"format={fmt!r}: choose xml or text")
        q = query_of(req)
        if req.get("nodata") not in (None, "204", "404"):
            raise FdsnError(400, f"nodata={req.get('nodata')!r}: write 204 or 404")

        def work():
            events = ev.select_events(self.stores(), q)
            if not events:
                return None
            if fmt == "text":
                return ev.as_text(events)
            return ev.as_quakeml(ev.catalog(events, q.includearrivals,
                                            "Belvedere event service"))

        body = await self.run(work)
        if body is None:
            self.nodata(req)
            return
        self.set_header("Content-Type", "text/plain; charset=utf-8" if fmt == "text"
                        else "application/xml")
        self.finish(body)


class _ListHandler(FdsnHandler):
    service = "event"
    element = ""
    value = ""

    def get(self) -> None:
        """The one name this server has."""
        self.set_header("Content-Type", "application/xml")
        self.finish(f'<?xml version="1.0" encoding="UTF-8"?>\n<{self.element}s>'
                    f"<{self.element}>{escape(self.value)}</{self.element}></{self.element}s>\n")


class CatalogsHandler(_ListHandler):
    """GET catalogs."""

    element, value = "Catalog", ev.CATALOG


class ContributorsHandler(_ListHandler):
    """GET contributors."""

    element, value = "Contributor", ev.CONTRIBUTOR
