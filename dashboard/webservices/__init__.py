"""FDSN web services (dataselect, station, availability, event) served under /fdsnws/: the HTTP
layer only; the queries are pipelines.seismic.fdsn."""

from __future__ import annotations

from typing import Any

from dashboard.webservices import availability, common, dataselect, event, station


def routes(sources: Any, prefix: str | None = None, limits: dict[str, int] | None = None
           ) -> list[tuple[str, type, dict[str, Any]]]:
    """The (pattern, handler, kwargs) of the services, relative to the server's root (the
    server prepends its `--prefix`, which the handlers read back from the request path)."""
    kw = {"sources": sources, "limits": limits or common.limits_from_env()}
    out = []
    for service, queries in (("dataselect", {"query": dataselect.QueryHandler}),
                             ("station", {"query": station.QueryHandler}),
                             ("availability", {"extent": availability.ExtentHandler,
                                               "query": availability.QueryHandler}),
                             ("event", {"query": event.QueryHandler,
                                        "catalogs": event.CatalogsHandler,
                                        "contributors": event.ContributorsHandler})):
        base = f"/fdsnws/{service}/1"
        for name, handler in queries.items():
            out.append((f"{base}/{name}/?", handler, kw))
        for name, handler in (("version", common.VersionHandler),
                              ("application.wadl", common.WadlHandler),
                              ("", common.IndexHandler)):
            cls = type(f"{handler.__name__}_{service}", (handler,), {"service": service})
            out.append((f"{base}/{name}" if name else f"{base}/?", cls, kw))
    out.append((r"/fdsnws(/.*)?", common.NotFoundHandler, kw))
    return out
