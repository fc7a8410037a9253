"""FDSN availability: extents and time spans from the stores' segment lists."""

from __future__ import annotations

from dashboard.webservices import params
from dashboard.webservices.common import FdsnError, FdsnHandler
from pipelines.seismic.fdsn import availability as av


def query_of(req: params.Request, extent: bool) -> av.AvailabilityQuery:
    """The availability options of a request."""
    merge = av.check_merge([m.strip().lower() for m in (req.get("merge") or "").split(",")
                            if m.strip()])
    gaps = req.get("mergegaps")
    show = [s.strip().lower() for s in (req.get("show") or "").split(",") if s.strip()]
    if any(s != "latestupdate" for s in show):
        raise FdsnError(400, f"show={req.get('show')!r}: the only choice is latestupdate")
    orderby = (req.get("orderby") or av.ORDERS[0]).lower()
    orders = av.ORDERS if extent else av.ORDERS[:3]
    if orderby not in orders:
        raise FdsnError(400, f"orderby={orderby!r}: choose one of {', '.join(orders)}")
    if extent and gaps is not None:
        raise FdsnError(400, "mergegaps applies to query, not extent")
    limit = req.get("limit")
    return av.AvailabilityQuery(
        merge=merge, latestupdate=bool(show), orderby=orderby,
        mergegaps_s=None if gaps is None else params.parse_float("mergegaps", gaps, 0.0),
        limit=None if limit is None else params.parse_int("limit", limit, 1))


class _Base(FdsnHandler):
    service = "availability"
    extent = False

    async def get(self) -> None:
        """Answer a GET request."""
        await self.answer(self._query)

    async def post(self) -> None:
        """Answer a POST request."""
        await self.answer(self._query)

    async def _query(self, req: params.Request) -> None:
        fmt = (req.get("format") or "text").lower()
        if fmt not in av.FORMATS:
            raise FdsnError(400, f"format={fmt!r}: choose one of {', '.join(av.FORMATS)}")
        q = query_of(req, self.extent)
        params.parse_bool("includerestricted", req.get("includerestricted") or "true")
        sels = params.selections(req)

        def work():
            rows = av.sources(self.stores(), sels, q)
            return av.render(rows, q, self.extent, fmt) if rows else None

        out = await self.run(work)
        if out is None:
            self.nodata(req)
            return
        body, ctype = out
        self.set_header("Content-Type", ctype + ("; charset=utf-8" if "text" in ctype else ""))
        self.finish(body)


class ExtentHandler(_Base):
    """GET/POST extent."""

    extent = True


class QueryHandler(_Base):
    """GET/POST query."""

    extent = False
