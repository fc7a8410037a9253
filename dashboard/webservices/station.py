"""FDSN station: StationXML or text of the selected networks, stations, channels, responses."""

from __future__ import annotations

from dashboard.webservices import params
from dashboard.webservices.common import FdsnError, FdsnHandler
from pipelines.seismic.fdsn import station as st
from pipelines.seismic.fdsn.select import QueryError


def queries(req: params.Request) -> list[st.StationQuery]:
    """The station queries of a request."""
    level = (req.get("level") or "station").lower()
    if level not in st.LEVELS:
        raise QueryError(f"level={level!r}: choose one of {', '.join(st.LEVELS)}")
    if params.parse_bool("includeavailability", req.get("includeavailability") or "false"):
        raise QueryError("includeavailability=true is not supported; ask the availability "
                         "service (/fdsnws/availability/1/extent)")
    params.parse_bool("includerestricted", req.get("includerestricted") or "true")
    params.parse_bool("matchtimeseries", req.get("matchtimeseries") or "false")
    times = {k: params.parse_time(k, req.get(k)) if req.get(k) else None
             for k in ("startbefore", "startafter", "endbefore", "endafter")}
    box = (params.parse_float("minlatitude", req.get("minlatitude") or "-90", -90, 90),
           params.parse_float("maxlatitude", req.get("maxlatitude") or "90", -90, 90),
           params.parse_float("minlongitude", req.get("minlongitude") or "-180", -180, 180),
           params.parse_float("maxlongitude", req.get("maxlongitude") or "180", -180, 180))
    if box[0] > box[1]:
        raise QueryError(f"minlatitude={box[0]:g} is above maxlatitude={box[1]:g}")
    updated = req.get("updatedafter")
    extra = {"box": box, "radius": params.radius(req),
             "updatedafter": params.parse_time("updatedafter", updated) if updated else None}
    return [st.StationQuery(sel, level, **extra, **times) for sel in params.selections(req)]


class QueryHandler(FdsnHandler):
    """GET/POST query."""

    service = "station"

    async def get(self) -> None:
        """Answer a GET query."""
        await self.answer(self._query)

    async def post(self) -> None:
        """Answer a POST query."""
        await self.answer(self._query)

    async def _query(self, req: params.Request) -> None:
        fmt = (req.get("format") or "xml").lower()
        if fmt not in ("xml", "text"):
            raise FdsnError(400, f"format={fmt!r}: choose xml or text")
        qs = queries(req)
        inv = await self.run(st.inventory, self.stores(), qs)
        if not inv.networks:
            self.nodata(req)
            return
        if fmt == "xml":
            body = await self.run(st.as_xml, inv)
            self.set_header("Content-Type", "application/xml")
        else:
            body = await self.run(st.as_text, inv, qs[0].level)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(body)
