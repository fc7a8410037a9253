"""The stations page: stations (and epicentres) on a map; a click opens their waveforms.

Without a tile URL the map is drawn on plain longitude/latitude axes, which works offline and
inside any firewall. With one (`BELVEDERE_TILE_URL`, e.g. an OpenStreetMap-style
`https://tile.example.org/{Z}/{X}/{Y}.png`), tiles are fetched by the user's browser, never by
the server.
"""

from __future__ import annotations

import html
import logging
import math
from dataclasses import dataclass, field
from urllib.parse import urlencode

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, HoverTool, LabelSet, OpenURL, TapTool
from bokeh.plotting import figure

from dashboard import chrome, share
from dashboard import theme as themes
from dashboard.pages.base import Page, SnapshotError, SnapshotParts, style_and_fit
from pipelines.store import Store, UnknownStreamError
from pipelines.timebase import format_time

log = logging.getLogger(__name__)

EARTH_RADIUS_M = 6378137.0


@dataclass
class Station:
    """A station: its code, where it is, and the streams the store holds for it."""

    code: str  # NET.STA
    latitude: float | None = None
    longitude: float | None = None
    elevation: float | None = None
    name: str = ""
    streams: list[str] = field(default_factory=list)

    @property
    def pattern(self) -> str:
        """The wildcard that selects all its streams."""
        return f"{self.code}.*"


def stations_of(store: Store) -> list[Station]:
    """Stations of a store's streams (NET.STA of NET.STA.LOC.CHA), with their coordinates."""
    out: dict[str, Station] = {}
    for name in store.streams():
        parts = name.split("~")[0].split(".")
        code = ".".join(parts[:2]) if len(parts) >= 2 else parts[0]
        st = out.setdefault(code, Station(code))
        st.streams.append(name)
        if st.latitude is None:
            attrs = store[name].attrs
            coords = attrs.get("coordinates") or {}
            lat, lon = coords.get("latitude"), coords.get("longitude")
            if isinstance(lat, int | float) and isinstance(lon, int | float):
                st.latitude, st.longitude = float(lat), float(lon)
                st.elevation = coords.get("elevation")
            st.name = str(attrs.get("station_name") or "")
    return list(out.values())


def waveform_url(store_label: str, default_store: bool, **query: str) -> str:
    """Relative link to the waveforms page with these parameters."""
    q = {} if default_store else {"store": store_label}
    q.update(query)
    return "./waveforms?" + urlencode(q, safe="*,:")


def mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator metres of longitudes/latitudes (what tile maps use)."""
    x = np.radians(lon) * EARTH_RADIUS_M
    y = np.log(np.tan(np.pi / 4 + np.radians(np.clip(lat, -85, 85)) / 2)) * EARTH_RADIUS_M
    return x, y


def map_figure(stations: list[Station], events: list[dict], store_label: str,
               default_store: bool, tile_url: str | None = None) -> figure:
    """Stations as labelled triangles, epicentres as circles; a click opens waveforms."""
    located = [s for s in stations if s.latitude is not None]
    lon = np.array([s.longitude for s in located], dtype=float)
    lat = np.array([s.latitude for s in located], dtype=float)
    ev = [e for e in events if isinstance(e.get("latitude"), int | float)
          and isinstance(e.get("longitude"), int | float)]
    ev_lon = np.array([e["longitude"] for e in ev], dtype=float)
    ev_lat = np.array([e["latitude"] for e in ev], dtype=float)
    all_lat = np.concatenate([lat, ev_lat])
    st_data = {
        "code": [s.code for s in located], "name": [s.name for s in located],
        "streams": [", ".join(s.streams) for s in located],
        "lat": [f"{v:.4f}" for v in lat], "lon": [f"{v:.4f}" for v in lon],
        "url": [waveform_url(store_label, default_store, streams=s.pattern) for s in located]}
    mags = [e.get("magnitude") if isinstance(e.get("magnitude"), int | float) else 1.0
            for e in ev]
    ev_data = {
        "id": [str(e.get("id", "")) for e in ev],
        "time": [format_time(int(e["time_ns"])) for e in ev],
        "mag": [f"{m:.1f}" for m in mags], "size": [6 + 4 * max(m, 0) for m in mags],
        "depth": [f"{(e.get('depth_m') or 0) / 1000:.1f} km" for e in ev],
        "url": [waveform_url(store_label, default_store, event=str(e.get("id", "")))
                for e in ev]}
    if tile_url:
        x, y = mercator(lon, lat)
        ex, ey = mercator(ev_lon, ev_lat)
        fig = figure(x_axis_type="mercator", y_axis_type="mercator", match_aspect=True,
                     sizing_mode="stretch_width", height=560, name="map",
                     tools="pan,wheel_zoom,box_zoom,reset,save", active_scroll="wheel_zoom")
        from bokeh.models import WMTSTileSource

        fig.add_tile(WMTSTileSource(url=tile_url))
    else:
        x, y, ex, ey = lon, lat, ev_lon, ev_lat
        mid_lat = float(np.nanmean(all_lat)) if len(all_lat) else 0.0
        # Plain degrees, stretched so that a kilometre east looks as long as one north.
        fig = figure(match_aspect=True, aspect_scale=max(math.cos(math.radians(mid_lat)), 0.1),
                     sizing_mode="stretch_width", height=560, name="map",
                     tools="pan,wheel_zoom,box_zoom,reset,save", active_scroll="wheel_zoom")
        fig.xaxis.axis_label = "longitude (°E)"
        fig.yaxis.axis_label = "latitude (°N)"
        fig.background_fill_color = "#f3f6f9"
        fig.grid.grid_line_color = "#dde3ea"
    fig.toolbar.logo = None
    st_data["x"], st_data["y"] = list(x), list(y)
    ev_data["x"], ev_data["y"] = list(ex), list(ey)
    ev_src = ColumnDataSource(ev_data)
    st_src = ColumnDataSource(st_data)
    ev_r = fig.scatter("x", "y", source=ev_src, size="size", marker="circle",
                       fill_color="#e53935", fill_alpha=0.35, line_color="#b71c1c",
                       legend_label="earthquakes")
    st_r = fig.scatter("x", "y", source=st_src, size=16, marker="triangle",
                       fill_color="#1f4e99", line_color="#0b1f40", legend_label="stations")
    fig.add_layout(LabelSet(x="x", y="y", text="code", source=st_src, x_offset=9, y_offset=-4,
                            text_font_size="13px", text_color="#0b1f40",
                            background_fill_color="white", background_fill_alpha=0.7))
    fig.add_tools(HoverTool(renderers=[st_r], tooltips=[
        ("station", "@code @name"), ("streams", "@streams"), ("lat, lon", "@lat, @lon"),
        ("", "click to open the waveforms")]))
    fig.add_tools(HoverTool(renderers=[ev_r], tooltips=[
        ("earthquake", "@id"), ("time", "@time"), ("magnitude", "@mag"), ("depth", "@depth"),
        ("", "click to open the waveforms")]))
    fig.add_tools(TapTool(renderers=[st_r, ev_r], callback=OpenURL(url="@url", same_tab=True)))
    fig.legend.location = "top_left"
    fig.title.text = "Click a station (or an earthquake) to open its waveforms"
    return fig


def station_table(stations: list[Station], store_label: str, default_store: bool) -> str:
    """HTML table of stations with links to their waveforms."""
    rows = []
    for s in stations:
        url = waveform_url(store_label, default_store, streams=s.pattern)
        coords = (f"{s.latitude:.4f}, {s.longitude:.4f}" if s.latitude is not None
                  else "no coordinates")
        elev = f"{s.elevation:.0f} m" if isinstance(s.elevation, int | float) else ""
        rows.append(
            f"<tr><td><a class='bv-station' href='{html.escape(url)}'>{html.escape(s.code)}</a>"
            f"</td><td>{html.escape(s.name)}</td><td>{coords}</td><td>{elev}</td>"
            f"<td>{html.escape(', '.join(s.streams))}</td></tr>")
    return ("<table class='bv-table'><thead><tr><th>station</th><th>name</th>"
            "<th>latitude, longitude</th><th>elevation</th><th>streams</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


TABLE_CSS = """
:host {overflow-x: auto;}  /* a table wider than the window scrolls inside its pane, not the page */
.bv-table {border-collapse: collapse; font-family: system-ui, sans-serif; font-size: 14px;}
.bv-table th, .bv-table td {border-bottom: 1px solid #dde3ea; padding: 4px 12px;
  text-align: left;}
.bv-table th {background: #eef2f6;}
"""


class StationsPage(Page):
    """/stations: the map of the store's stations and epicentres, and the station table."""

    slug = "stations"
    title = "Stations"

    def __init__(self, sources, args: dict[str, str], **params):
        super().__init__(sources, args, **params)
        self.label, self.errors = sources.resolve_or_first(args.get("store"))
        self.store = sources.store(self.label)
        self.default = self.label == sources.labels[0]
        self.stations = stations_of(self.store)

    def figures(self, tile_url: str | None = None) -> list:
        """The map (on map tiles from `tile_url`, else on plain longitude/latitude axes)."""
        return [map_figure(self.stations, self.store.events(), self.label, self.default,
                           tile_url)]

    def __panel__(self) -> pn.viewable.Viewable:
        """The whole page."""
        try:
            fig = self.figures(self.sources.tile_url)[0]
        except Exception as exc:
            log.exception("stations failed")
            return chrome.page(self.slug, chrome.alert(f"Stations failed: {exc}"),
                               store=self.label, embed=self.embed, title=self.title)
        themes.style_figure(fig, self.theme)
        if self.embed:  # an iframe shows the map only
            return chrome.page(self.slug, *chrome.alerts(self.errors),
                               pn.pane.Bokeh(fig, sizing_mode="stretch_both"),
                               store=self.label, embed=True, title=self.title)
        body = [share.for_page(self.slug, self.args, "map"), *chrome.alerts(self.errors)]
        missing = [s.code for s in self.stations if s.latitude is None]
        if missing:
            body.append(chrome.alert("No coordinates (no StationXML) for: "
                                     + ", ".join(missing)
                                     + "; they are listed below but not on the map.", "info"))
        body += [pn.pane.Bokeh(fig, sizing_mode="stretch_width"),
                 pn.pane.HTML(station_table(self.stations, self.label, self.default),
                              stylesheets=themes.stylesheets(self.theme, TABLE_CSS),
                              sizing_mode="stretch_width", margin=(10, 12))]
        return chrome.page(self.slug, *body, store=self.label, embed=self.embed,
                           title=self.title)

    @classmethod
    def snapshot(cls, sources, args: dict[str, str], theme: str,
                 fit: tuple[int, int] | None) -> SnapshotParts:
        """The map with its data inline, never on map tiles: a snapshot fetches nothing."""
        cls.snapshot_label(sources, args)  # an unserved store: SnapshotError, not a page
        page = cls(sources, args)
        pattern = args.get("streams", "").strip()
        try:
            names = page.store.select(pattern) if pattern else page.store.streams()
        except UnknownStreamError as exc:
            raise SnapshotError(f"streams={pattern!r}: {exc}") from exc
        return SnapshotParts(style_and_fit(page.figures(None), theme, fit), {"streams": names},
                             page.label, page.store.url)
