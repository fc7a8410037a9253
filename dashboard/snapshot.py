"""Static snapshots of a view: one self-contained HTML file (or a PNG) that needs no server.

The HTML holds BokehJS and its CSS inline and every image as a data: URL, so opening it makes
no request at all. A waveform snapshot stays interactive within its time range: it holds the
stacked trace bands (drawn exactly as the page draws them, from the store's envelopes) once for
the whole range and again as finer tiles (4 and 16 tiles across the range at 1000 pixels
each), and a small CustomJS callback on the x range shows the coarsest set that still has an
image pixel per screen pixel. Tiles are palette PNGs (a few colours), which keeps a typical
six-stream view under 3 MB, BokehJS included. Other views (overview, availability, stations)
are their Bokeh figures with the data inline.

Every snapshot records what it shows (view, streams, time range, store, export time,
version) in a visible line and in a JSON block (`<script id="belvedere-snapshot">`).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    Div,
    Label,
    PanTool,
    Range1d,
    ResetTool,
    SaveTool,
    WheelZoomTool,
)
from bokeh.plotting import figure
from bokeh.resources import Resources
from PIL import Image

from dashboard import embed, filters, raster
from dashboard.frames import FrameOptions, read_trace
from dashboard.sources import Sources
from pipelines import __version__
from pipelines.store import Store, Stream, UnknownStreamError
from pipelines.timebase import NS, format_duration, format_time, now_ns, parse_range

VIEWS = ("overview", "waveforms", "availability", "stations", "resources", "mission")
BASE_WIDTH = 1600  # pixels of the whole-range image
TILE_WIDTH = 1000  # pixels of one finer tile
TILE_FACTOR = 4  # each finer level has this many times more tiles
MAX_LEVELS = 2  # finer levels: 4 and 16 tiles (2.5x and 10x the base resolution)
AXES_PX = 70
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class _Inline(Resources):
    """BokehJS inline, without the external scripts other libraries register (Panel adds a
    module-shim <script src=...> for every page, which a snapshot neither needs nor may load)."""

    def _collect_external_resources(self, resource_attr) -> list[str]:
        return []

    def clone(self, *, components=None) -> _Inline:
        """A copy with these components (Bokeh clones before bundling)."""
        return _Inline(mode="inline", components=components or self.components)


INLINE = _Inline(mode="inline")


class SnapshotError(Exception):
    """A snapshot that cannot be made as asked (unknown view, bad parameters, no data)."""


@dataclass
class Snapshot:
    """A rendered snapshot: the HTML text and what it shows."""

    html: str
    meta: dict

    @property
    def filename(self) -> str:
        """A file name that says what it is: belvedere-waveforms-20240301T0000.html."""
        stamp = str(self.meta.get("from", "")).replace("-", "").replace(":", "")[:13]
        return f"belvedere-{self.meta['view']}{'-' + stamp if stamp else ''}.html"


# -- URLs ---------------------------------------------------------------------------------
def view_of_path(path: str) -> str:
    """The view a URL path shows ('/prefix/waveforms' -> 'waveforms'); SnapshotError if none."""
    last = path.rstrip("/").rsplit("/", 1)[-1] if path.strip("/") else ""
    view = last or "overview"
    if view not in VIEWS:
        raise SnapshotError(f"unknown view {view!r} in {path!r}; the views are: "
                            + ", ".join(VIEWS))
    return view


def split_url(url: str) -> tuple[str, str, dict[str, str]]:
    """A dashboard URL -> (server root with prefix, view, query parameters)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SnapshotError(f"not a dashboard URL: {url!r} (expected http://host:port/view?...)")
    view = view_of_path(parts.path)
    path = parts.path.rstrip("/")
    root_path = path[: -len(view)] if path.endswith("/" + view) else path + "/"
    root = urlunsplit((parts.scheme, parts.netloc, root_path.rstrip("/") + "/", "", ""))
    return root, view, dict(parse_qsl(parts.query, keep_blank_values=True))


def with_query(url: str, **extra: str) -> str:
    """`url` with these query parameters set (others kept)."""
    parts = urlsplit(url)
    q = dict(parse_qsl(parts.query, keep_blank_values=True))
    q.update(extra)
    return urlunsplit(parts._replace(query=urlencode(q, safe="*,?:/")))


# -- building -----------------------------------------------------------------------------
def build(view: str, sources: Sources, args: dict[str, str], theme: str | None = None,
          fit: tuple[int, int] | None = None) -> Snapshot:
    """The snapshot of `view` with URL parameters `args` over the served `sources`.

    `fit` (width, height in CSS pixels) sizes the plot to a fixed viewport, for PNG export.
    """
    if view not in VIEWS:
        raise SnapshotError(f"unknown view {view!r}; the views are: {', '.join(VIEWS)}")
    theme = theme or embed.theme_of(args)
    t_start = time.monotonic()
    if view == "resources":
        body, meta, label, url = _resources(sources, args, theme, fit)
        return _document(view, body, meta, label, url, theme, t_start, fit)
    try:
        label = sources.resolve(args.get("store"))
    except ValueError as exc:
        raise SnapshotError(str(exc)) from exc
    store = sources.store(label)
    if view == "waveforms":
        body, meta = _waveforms(store, label, args, theme, fit)
    elif view == "mission":
        body, meta = _mission(store, label, args, theme, fit)
    else:
        body, meta = _figures(view, sources, label, args, theme, fit)
    return _document(view, body, meta, label, store.url, theme, t_start, fit)


def _document(view: str, body: list, meta: dict, label: str, store_url: str, theme: str,
              t_start: float, fit: tuple[int, int] | None) -> Snapshot:
    """The self-contained HTML of a view's figures, with what it shows recorded in it."""
    meta |= {"view": view, "store": label, "store_url": store_url, "theme": theme,
             "exported": format_time(now_ns()), "version": __version__,
             "render_seconds": round(time.monotonic() - t_start, 2)}
    head = _meta_div(meta, theme)
    doc = column(head, *body, sizing_mode="stretch_width" if fit is None else "fixed")
    title = f"Belvedere snapshot: {view} of {label}"
    text = file_html(doc, INLINE, title)
    block = ('<script type="application/json" id="belvedere-snapshot">'
             + html.escape(json.dumps(meta), quote=False) + "</script>\n")
    bg = embed.DARK_BORDER if theme == "dark" else "#ffffff"
    style = (f"<style>html, body {{margin: 0; background: {bg};"
             " font-family: system-ui, sans-serif;}</style>\n")
    cut = text.rfind("</head>")  # the last one: BokehJS holds the string too
    text = text[:cut] + block + style + text[cut:]
    return Snapshot(text, meta)


def _meta_div(meta: dict, theme: str) -> Div:
    color = embed.DARK_TEXT if theme == "dark" else "#334"
    streams = meta.get("streams") or []
    shown = ", ".join(streams[:8]) + (f" and {len(streams) - 8} more" if len(streams) > 8
                                      else "")
    parts = [f"<b>Belvedere snapshot</b> · {html.escape(meta['view'])} of "
             f"<b>{html.escape(meta['store'])}</b>"]
    if meta.get("from"):
        parts.append(f"{meta['from']} → {meta['to']} ({html.escape(meta.get('duration', ''))})")
    if shown:
        parts.append(html.escape(shown))
    parts.append(f"exported {meta['exported']} by belvedere {html.escape(meta['version'])}")
    if meta.get("hint"):
        parts.append(html.escape(meta["hint"]))
    return Div(text=f"<div style='font-size:12px;color:{color};padding:4px 8px'>"
               + " · ".join(parts) + "</div>", sizing_mode="stretch_width",
               name="snapshot-meta")


# -- waveforms ----------------------------------------------------------------------------
@dataclass
class _Band:
    stream: Stream
    options: FrameOptions
    center: float = 0.0
    scale: float = 1.0
    label: str = "no data here"


def _bands(streams: list[Stream], t0: int, t1: int, options: FrameOptions, shared: bool,
           notes: list[str]) -> list[_Band]:
    """One amplitude scale per trace for the whole snapshot (every tile uses it)."""
    bands = []
    for s in streams:
        tr = read_trace(s, t0, t1, BASE_WIDTH, options, notes)
        opts = options if tr.filtered else replace(options, filter=filters.FilterSpec())
        band = _Band(s, opts)
        lo, hi = raster.visible(tr.window, t0, t1)
        if not np.isnan(lo).all():
            band.center = float(np.nanmedian((lo + hi) / 2))
            band.scale = float(np.nanmax(np.maximum(hi - band.center, band.center - lo)))
            band.label = tr.units
        bands.append(band)
    if shared:
        by_unit: dict[str, float] = {}
        for b in bands:
            by_unit[b.label] = max(by_unit.get(b.label, 0.0), b.scale)
        for b in bands:
            b.scale = by_unit[b.label] if b.scale else 0.0
    for b in bands:
        if b.label != "no data here":
            b.label = (f"±{b.scale:.3g} {b.label}" if b.scale
                       else f"flat at {b.center:.6g} {b.label}")
    return bands


def _tile_png(bands: list[_Band], t0: int, t1: int, width: int, band_h: int,
              palette: tuple[str, ...], background: str) -> str:
    """[t0, t1) of every band as one palette PNG, returned as a data: URL."""
    n = len(bands)
    idx = np.zeros((n * band_h, width), dtype=np.uint8)
    for i, b in enumerate(bands):
        tr = read_trace(b.stream, t0, t1, width, b.options, [])
        if tr.window is None or not len(tr.window.lo):
            continue
        mask = raster.band_mask(tr.window, t0, t1, width, band_h, b.center, b.scale or 1.0)
        idx[i * band_h:(i + 1) * band_h][mask] = i % len(palette) + 1
    img = Image.fromarray(idx, mode="P")
    rgb = [int(c.lstrip("#")[k:k + 2], 16) for c in (background, *palette) for k in (0, 2, 4)]
    img.putpalette(rgb)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True, transparency=0)  # the grid shows through
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


LEVEL_JS = """
const s = xr.start, e = xr.end;
const px = Math.max(plot.inner_width || 1000, 100);
const need = (e - s) / px;  // ms per screen pixel
let k = 0;
for (let i = 0; i < res.length; i++) { k = i; if (res[i] <= need) break; }
const empty = {url: [], x: [], y: [], w: [], h: []};
base.visible = k === 0;  // tiles are transparent: never two levels at once
if (k === 0) {
  if (detail.data.url.length) detail.data = empty;
} else {
  const span = spans[k], n = urls[k].length;
  const i0 = Math.max(0, Math.floor((s - t0) / span));
  const i1 = Math.min(n - 1, Math.floor((e - t0) / span));
  const d = {url: [], x: [], y: [], w: [], h: []};
  for (let i = i0; i <= i1; i++) {
    d.url.push(urls[k][i]); d.x.push(t0 + i * span); d.y.push(y0);
    d.w.push(span); d.h.push(hh);
  }
  const same = d.url.length === detail.data.url.length &&
               d.url.every((u, j) => u === detail.data.url[j]);
  if (!same) detail.data = d;
}
status.text = `detail level ${k} of ${res.length - 1}: 1 image pixel ≈ ${fmt(res[k])}` +
              ` · ${((e - s) / 60000).toFixed(1)} min shown`;
status.tags = [k];
function fmt(ms) {
  if (ms >= 60000) return (ms / 60000).toFixed(1) + " min";
  if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
  return ms.toFixed(1) + " ms";
}
"""


def _levels(t0: int, t1: int, max_rate: float) -> list[tuple[int, int]]:
    """(tiles, pixels per tile) of each level: the whole range, then finer until the
    tiles reach one pixel per sample of the fastest stream."""
    samples = (t1 - t0) / NS * max_rate
    levels = [(1, BASE_WIDTH)]
    for k in range(1, MAX_LEVELS + 1):
        if levels[-1][0] * levels[-1][1] >= samples:
            break
        levels.append((TILE_FACTOR ** k, TILE_WIDTH))
    return levels


def _waveforms(store: Store, label: str, args: dict[str, str], theme: str,
               fit: tuple[int, int] | None) -> tuple[list, dict]:
    from dashboard.viewstate import parse_waveform_args
    from dashboard.waveforms import band_px, style_bands

    state, errors = parse_waveform_args(store, label, args, now_ns())
    if errors:
        raise SnapshotError("; ".join(errors))
    if not state.streams:
        raise SnapshotError(f"store {label} holds no streams")
    streams = [store[n] for n in state.streams]
    n = len(streams)
    t0, t1 = state.t0_ns, state.t1_ns
    band_h = band_px(n) if fit is None else max((fit[1] - AXES_PX - 60) // n, 12)
    notes: list[str] = []
    bands = _bands(streams, t0, t1, state.options, state.scale == "shared", notes)
    palette = embed.trace_palette(theme)
    background = embed.DARK_BG if theme == "dark" else "#ffffff"
    levels = _levels(t0, t1, max(s.sampling_rate for s in streams))
    urls: list[list[str]] = []
    for tiles, width in levels:
        edges = np.linspace(t0, t1, tiles + 1).astype(np.int64)
        urls.append([_tile_png(bands, int(a), int(b), width, band_h, palette, background)
                     for a, b in zip(edges[:-1], edges[1:], strict=True)])
    span_ms = (t1 - t0) / 1e6
    res = [span_ms / tiles / width for tiles, width in levels]
    spans = [span_ms / tiles for tiles, _ in levels]

    size = ({"sizing_mode": "stretch_width", "height": n * band_h + AXES_PX} if fit is None
            else {"width": fit[0], "height": fit[1] - 60})
    x0, x1 = t0 / 1e6, t1 / 1e6
    # Zoom stops where the finest tiles would be stretched over more than 2 screen pixels.
    x_range = Range1d(x0, x1, bounds=(x0, x1), min_interval=max(res[-1] * 500, 1.0))
    wheel = WheelZoomTool(dimensions="width")
    fig = figure(name="waveforms", x_axis_type="datetime", x_range=x_range,
                 y_range=Range1d(-0.5, n - 0.5 + 0.3), **size,
                 tools=[PanTool(dimensions="width"), wheel, "xbox_zoom", ResetTool(),
                        SaveTool()], toolbar_location="above", min_border_left=10,
                 min_border_right=20)
    style_bands(fig, wheel, state.streams)
    base = fig.image_url(url=[urls[0][0]], x=x0, y=-0.5, w=span_ms, h=n, anchor="bottom_left",
                         name="base")
    detail = ColumnDataSource({"url": [], "x": [], "y": [], "w": [], "h": []}, name="detail")
    fig.image_url(url="url", x="x", y="y", w="w", h="h", anchor="bottom_left", source=detail)
    for i, b in enumerate(bands):
        fig.add_layout(Label(x=6, x_units="screen", y=n - 1 - i + 0.47, text=b.label,
                             text_font_size="11px", text_color="#556", text_baseline="top"))
    _events(fig, store, state.streams, t0, t1, n)
    embed.style_figure(fig, theme)
    status = Div(text="", name="snapshot-status", sizing_mode="stretch_width",
                 styles={"font-size": "12px", "padding": "0 8px",
                         "color": embed.DARK_TEXT if theme == "dark" else "#445"})
    cb = CustomJS(args={"xr": x_range, "plot": fig, "detail": detail, "status": status,
                        "base": base,
                        "urls": urls, "res": res, "spans": spans, "t0": x0, "y0": -0.5,
                        "hh": n}, code=LEVEL_JS)
    x_range.js_on_change("start", cb)
    x_range.js_on_change("end", cb)
    fig.js_on_change("inner_width", cb)
    status.text = (f"detail level 0 of {len(levels) - 1}: 1 image pixel ≈ "
                   f"{format_duration(int(res[0] * 1e6))}")
    notes_div = [Div(text="<br>".join(html.escape(x) for x in notes),
                     styles={"font-size": "12px", "color": "#a15c00", "padding": "0 8px"})
                 ] if notes else []
    meta = {"streams": state.streams, "from": format_time(t0), "to": format_time(t1),
            "from_text": state.from_text, "to_text": state.to_text,
            "duration": format_duration(t1 - t0), "query": state.to_query(False),
            "levels": [{"tiles": t, "pixels": w} for t, w in levels], "notes": notes,
            "hint": "drag to pan, wheel to zoom: finer detail appears as you zoom in"}
    return [fig, status, *notes_div], meta


def _events(fig, store: Store, names: list[str], t0: int, t1: int, n: int) -> None:
    evs = [e for e in store.events() if t0 <= int(e["time_ns"]) < t1]
    if not evs:
        return
    top = n - 0.5 + 0.18
    xs = [int(e["time_ns"]) / 1e6 for e in evs]
    labels = [f"M{e['magnitude']:.1f}" if isinstance(e.get("magnitude"), int | float)
              else "event" for e in evs]
    src = ColumnDataSource({"x": xs, "label": labels})
    fig.segment(x0="x", x1="x", y0=-0.5, y1=top, source=src, line_color="#c0392b",
                line_dash="dashed", line_alpha=0.7, line_width=1.5)
    fig.scatter(x="x", y=top, source=src, marker="inverted_triangle", size=14,
                fill_color="#c0392b", line_color="#7b241c")
    fig.text(x="x", y=top, text="label", source=src, x_offset=9, y_offset=1,
             text_font_size="11px", text_color="#7b241c", text_baseline="middle")


# -- mission ------------------------------------------------------------------------------
def _mission(store: Store, label: str, args: dict[str, str], theme: str,
             fit: tuple[int, int] | None) -> tuple[list, dict]:
    """The /mission figures with their data inline: the bands (A/E/T included) as one PNG,
    the light curves with error band and GTIs, the ASD of the window."""
    from dashboard.mission import (
        MissionFigures,
        band_px,
        build_view,
        n_bands,
        parse_mission_args,
    )

    state, errors = parse_mission_args(store, label, args, now_ns())
    if errors:
        raise SnapshotError("; ".join(errors))
    if not state.streams:
        raise SnapshotError(f"store {label} holds no streams")
    n = n_bands(store, state.streams)
    band = band_px(n) if fit is None else max((fit[1] - AXES_PX - 60) // (n + 4), 12)
    width = BASE_WIDTH if fit is None else fit[0]
    view = build_view(store, state.streams, state.t0_ns, state.t1_ns, width, band)
    figs = MissionFigures(view, len(view.bands), theme, static=True, band=band)
    body = [f for f in figs.all() if f.visible]
    _style_and_fit(body, theme, fit)
    t0, t1 = state.t0_ns, state.t1_ns
    meta = {"streams": state.streams, "from": format_time(t0), "to": format_time(t1),
            "duration": format_duration(t1 - t0), "bands": view.bands,
            "spectra": [f"{sp.name} · {sp.source}" for sp in view.spectra],
            "hint": "; ".join(view.notes)}
    return body, meta


# -- other views --------------------------------------------------------------------------
def _figures(view: str, sources: Sources, label: str, args: dict[str, str], theme: str,
             fit: tuple[int, int] | None) -> tuple[list, dict]:
    from dashboard.availability import coverage_figure, timeline_figure
    from dashboard.stations import map_figure, stations_of
    from dashboard.viewstate import data_span, main_span

    store = sources.store(label)
    names = store.streams()
    pattern = args.get("streams", "").strip()
    if pattern:
        try:
            names = store.select(pattern)
        except UnknownStreamError as exc:
            raise SnapshotError(f"streams={pattern!r}: {exc}") from exc
    meta: dict = {"streams": names}
    figs = []
    if view == "stations":
        # Never map tiles: a snapshot must not fetch anything when opened.
        figs.append(map_figure(stations_of(store), store.events(), label,
                               label == sources.labels[0], None))
    else:
        span = data_span(store, names) if names else None
        if span is None:
            raise SnapshotError(f"store {label} holds no data to show")
        t0, t1 = main_span(store, names) or span
        if args.get("from") or args.get("to"):
            try:
                t0, t1 = parse_range(args.get("from") or format_time(span[0]),
                                     args.get("to") or format_time(span[1]), now_ns())
            except ValueError as exc:
                raise SnapshotError(str(exc)) from exc
        meta |= {"from": format_time(t0), "to": format_time(t1),
                 "duration": format_duration(t1 - t0)}
        figs.append(timeline_figure(store, names, t0, t1))
        if view == "availability":
            figs.append(coverage_figure(store, names, t0, t1)[0])
    _style_and_fit(figs, theme, fit)
    return figs, meta


def _style_and_fit(figs: list, theme: str, fit: tuple[int, int] | None) -> None:
    """Theme the figures and, for a PNG, share the fixed viewport's height between them."""
    for f in figs:
        embed.style_figure(f, theme)
        if fit is not None:
            f.sizing_mode = "fixed"
            f.width = fit[0]
            f.height = max((fit[1] - 60) // len(figs), 150)


# -- resources ----------------------------------------------------------------------------
def _resources(sources: Sources, args: dict[str, str], theme: str,
               fit: tuple[int, int] | None) -> tuple[list, dict, str, str]:
    """The usage charts and node heatmap of a usage store, as on the /resources page."""
    from bokeh.models import Range1d

    from dashboard import resources

    try:
        store = sources.usage(args.get("usage") or None)
    except ValueError as exc:
        raise SnapshotError(str(exc)) from exc
    label = args.get("usage") or sources.usage_labels[0]
    span = resources.jobs_span(store.jobs(["submit", "start", "end"]))
    if span is None:
        raise SnapshotError(f"usage store {label} holds no jobs to show")
    end = -(-span[1] // resources.HOUR) * resources.HOUR
    first = max(span[0], end - 30 * resources.DAY)
    try:
        t0, t1 = parse_range(args.get("from") or format_time(first),
                             args.get("to") or format_time(end), now_ns())
    except ValueError as exc:
        raise SnapshotError(str(exc)) from exc
    by = args.get("by") if args.get("by") in resources.GROUPINGS else "infrastructure"
    what = args.get("what") if args.get("what") in resources.WHATS else "cpu"
    jobs = store.jobs(resources.JOB_COLUMNS, t0, t1)
    x_range = Range1d(float(resources.ms(t0)), float(resources.ms(t1)))
    figs = [resources.usage_figure(jobs, t0, t1, by, what, x_range),
            resources.queue_figure(jobs, t0, t1, x_range)]
    metrics = store.metrics()
    metric = args.get("metric") if args.get("metric") in metrics else (metrics or [None])[0]
    if metric:
        figs.append(resources.heatmap_figure(store.metric(metric), t0, t1, x_range, "heatmap"))
    _style_and_fit(figs, theme, fit)
    meta = {"from": format_time(t0), "to": format_time(t1),
            "duration": format_duration(t1 - t0), "streams": [],
            "hint": resources.summary_line(jobs).replace("**", "")}
    return figs, meta, label, store.url


# -- files --------------------------------------------------------------------------------
def check_output(path: str, suffixes: tuple[str, ...] = (".html", ".png")) -> Path:
    """The output path, or SnapshotError when its type is unknown or it cannot be written."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise SnapshotError(f"output {path!r}: give a file ending in "
                            + " or ".join(suffixes))
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise SnapshotError(f"output {path!r}: the folder {str(parent)!r} does not exist")
    existed = out.exists()
    try:  # really try (permission bits say little to root or on read-only mounts)
        with open(out, "ab"):
            pass
    except OSError as exc:
        raise SnapshotError(f"output {path!r}: not writable ({exc.strerror})") from exc
    if not existed:
        out.unlink()
    return out


def chromium_path() -> str:
    """The system Chromium ($BELVEDERE_CHROMIUM, /usr/bin/chromium); SnapshotError if none."""
    env = os.environ.get("BELVEDERE_CHROMIUM")
    for name in (env, "/usr/bin/chromium", "/usr/bin/chromium-browser",
                 shutil.which("chromium"), shutil.which("chromium-browser")):
        if name and os.path.exists(name):
            return name
    raise SnapshotError("PNG export needs Chromium: apt-get install chromium (or set "
                        "BELVEDERE_CHROMIUM)")


def render_png(url: str, out: Path, width: int, height: int, scale: float = 1.0,
               timeout_s: float = 60.0, offline: bool = False) -> None:
    """Open `url` in headless Chromium at width x height (CSS px) x scale; save a PNG."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise SnapshotError("PNG export needs the playwright package (pip install "
                            "playwright; the browser is the system Chromium)") from exc
    exe = chromium_path()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": width, "height": height},
                                      device_scale_factor=scale)
            page = ctx.new_page()
            if offline:  # a snapshot file must draw with every request refused
                page.route("**/*", lambda r: r.abort() if not r.request.url.startswith(
                    ("file:", "data:")) else r.continue_())
            ms = int(timeout_s * 1000)
            page.goto(url, timeout=ms)
            page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                                   "Bokeh.documents.every((d) => d.is_idle)", timeout=ms)
            page.wait_for_selector("canvas", timeout=ms)
            # The server sends the first frame at the plot's real size once laid out.
            page.wait_for_timeout(1500 if not offline else 500)
            page.screenshot(path=str(out), full_page=False)
        except PlaywrightError as exc:
            raise SnapshotError(f"could not render {url} in Chromium: "
                                f"{str(exc).splitlines()[0]}") from exc
        finally:
            browser.close()
