"""Stacked bands for a snapshot: zoomable within their range with no server.

The bands (drawn exactly as the page draws them, from the store's envelopes) are held once for
the whole range and again as finer tiles (4 and 16 tiles across the range at 1000 pixels each);
a small CustomJS callback on the x range shows the coarsest set that still has an image pixel
per screen pixel. Tiles are palette PNGs (a few colours), which keeps a typical six-stream view
under 3 MB, BokehJS included. Each band keeps one amplitude scale for the whole snapshot,
decided as the page decides it (`amplitude.scale_traces`: robust by default, `scale=` honoured),
and the picks, earthquakes and detections are the page's (`picks.MarkLayers`), thinned once per
detail level, which the callback swaps with the tiles.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace

import numpy as np
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

from dashboard import amplitude, encode, filters, raster
from dashboard import theme as themes
from dashboard.bands import band_px, style_bands
from dashboard.frames import FrameOptions, read_trace
from dashboard.picks import MarkLayers
from dashboard.state import WaveformState
from pipelines.store import Store, Stream
from pipelines.timebase import NS, format_duration, format_time

BASE_WIDTH = 1600  # pixels of the whole-range image
TILE_WIDTH = 1000  # pixels of one finer tile
TILE_FACTOR = 4  # each finer level has this many times more tiles
MAX_LEVELS = 2  # finer levels: 4 and 16 tiles (2.5x and 10x the base resolution)
AXES_PX = 70
SCREEN_WIDTH = 1200  # the plot's width on a typical screen, for thinning the first marks


@dataclass
class _Band:
    stream: Stream
    options: FrameOptions
    center: float = 0.0
    scale: float = 1.0
    label: str = "no data here"


def _bands(streams: list[Stream], t0: int, t1: int, options: FrameOptions,
           notes: list[str]) -> list[_Band]:
    """One amplitude scale per trace for the whole snapshot (every tile uses it), decided as
    the page decides it (`amplitude.scale_traces`, the state's robust, trace or shared)."""
    traces = [read_trace(s, t0, t1, BASE_WIDTH, options, notes) for s in streams]
    amplitude.scale_traces(traces, t0, t1, options.scale)
    bands = []
    for s, tr in zip(streams, traces, strict=True):
        opts = options if tr.filtered else replace(options, filter=filters.FilterSpec())
        # The page's label without its pyramid level: each zoom level of tiles has its own.
        bands.append(_Band(s, opts, tr.center, tr.scale, tr.label.rsplit(" · ", 1)[0]))
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
    # Transparent background: the grid shows through. A snapshot is made once: the smallest.
    return encode.data_url(encode.png_bytes(idx, palette, background, compress_level=9))


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
if (status.tags[0] !== k) {  // the marks thinned for this level's zoom
  for (let j = 0; j < msrc.length; j++) msrc[j].data = marks[k][j];
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


def _marks(fig: figure, store: Store, streams: list[str], t0: int, t1: int,
           levels: list[tuple[int, int]], band_h: int, screen_px: int
           ) -> tuple[list[ColumnDataSource], list[list[dict]]]:
    """Picks, earthquakes and detections drawn as the page draws them (`picks.MarkLayers`),
    laid out once per detail level: a level shows from the zoom where the coarser level's
    image runs out of pixels, so its marks are thinned for that many pixels across the range
    (at least as many as the screen shows then: no two labels closer than on the page)."""
    layers = MarkLayers(fig, len(streams), store.events(), store)
    widths = [screen_px] + [tiles * width for tiles, width in levels[:-1]]
    sources = [layers.tick_src, layers.label_src, layers.event_src, layers.detection_src]
    per_level = []
    for width in widths:
        m = layers.layout(streams, t0, t1, max(int(width), 100), band_h)
        per_level.append([m["picks"].ticks, m["picks"].labels, m["events"], m["detections"]])
    for src, data in zip(sources, per_level[0], strict=True):
        src.data = data
    return sources, per_level


def tiled_bands(store: Store, state: WaveformState, theme: str,
                fit: tuple[int, int] | None) -> tuple[list, dict]:
    """The snapshot's band figure of a waveform state, its level line and notes, and what it
    shows (`fit`: width, height in CSS pixels of a PNG)."""
    streams = [store[n] for n in state.streams]
    n = len(streams)
    t0, t1 = state.t0_ns, state.t1_ns
    band_h = band_px(n) if fit is None else max((fit[1] - AXES_PX - 60) // n, 12)
    notes: list[str] = []
    bands = _bands(streams, t0, t1, state.options, notes)
    palette = themes.trace_palette(theme)
    background = themes.DARK_BG if theme == "dark" else "#ffffff"
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
    marks = _marks(fig, store, state.streams, t0, t1, levels, band_h,
                   fit[0] - AXES_PX if fit else SCREEN_WIDTH)
    themes.style_figure(fig, theme)
    status = Div(text="", name="snapshot-status", sizing_mode="stretch_width",
                 styles={"font-size": "12px", "padding": "0 8px",
                         "color": themes.DARK_TEXT if theme == "dark" else "#445"})
    status.tags = [0]  # the level shown (and whose marks are shown)
    cb = CustomJS(args={"xr": x_range, "plot": fig, "detail": detail, "status": status,
                        "base": base, "marks": marks[1], "msrc": marks[0],
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
            "duration": format_duration(t1 - t0),
            "levels": [{"tiles": t, "pixels": w} for t, w in levels], "notes": notes,
            "hint": "drag to pan, wheel to zoom: finer detail appears as you zoom in"}
    return [fig, status, *notes_div], meta
