"""The noise views' figures: the PPSD probability density with Peterson's noise models, its
mode and percentiles, and the PSD spectrogram over time.

The density is computed from the hourly PSDs of the range (`pipelines.analysis.noise_stats`,
as ObsPy's PPSD stacks them) once per range: the dB bin of every value is kept, so a restack
by time of day, weekday or month is a mask and one bincount, and the figure's sources are
updated in place. The spectrogram reads the stored rows at screen resolution (the daily level
when the hourly rows outnumber the pixels) and Datashader regrids them to the plot's width:
O(pixels) for any span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import datashader as ds
import numpy as np
import xarray as xr
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    CustomJS,
    HoverTool,
    LinearColorMapper,
    Range1d,
)
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from pipelines.analysis import noise_stats as ns
from pipelines.store.products import PSD_STEP_NS, PsdProduct, day_key
from pipelines.timebase import DAY_NS, format_time

MAX_DENSITY_ROWS = 2 * 366 * 48  # two years of hourly PSDs; longer ranges sample blocks
SPECTROGRAM_WIDTH = 1200
DENSITY_MAX_PERCENT = 30.0
PERCENTILES = (10.0, 50.0, 90.0)
PERCENTILE_COLORS = ("#8c2d04", "#111111", "#8c2d04")
MODEL_COLOR = "#7a7a7a"


@lru_cache(maxsize=1)
def noise_models() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Peterson's (1993) NLNM and NHNM: (periods, dB), (periods, dB), from ObsPy."""
    from obspy.signal.spectral_estimation import get_nhnm, get_nlnm

    p_lo, lo = get_nlnm()
    p_hi, hi = get_nhnm()
    return np.asarray(p_lo), np.asarray(lo), np.asarray(p_hi), np.asarray(hi)


def psd_span(prod: PsdProduct) -> tuple[int, int] | None:
    """[first day, last day + 1) holding computed PSDs, in ns; None when none."""
    days = sorted(prod.computed)
    if not days:
        return None
    from pipelines.timebase import parse_time

    return parse_time(days[0]), parse_time(days[-1]) + DAY_NS


@dataclass
class PsdStack:
    """The hourly PSDs of a range, with their dB bins, ready to restack."""

    stream: str
    periods: np.ndarray
    times_ns: np.ndarray  # start of each PSD kept (rows with a value)
    index: np.ndarray  # dB bin per (row, period), -1 where none
    details: ns.TimeDetails
    edges: np.ndarray = field(default_factory=ns.db_edges)
    note: str = ""  # what was left out of a very long range
    flat: np.ndarray | None = None  # (period, bin) cell per value, computed once

    def __post_init__(self) -> None:
        self.flat = ns.flat_cells(self.index, self.n_bins)

    @property
    def n_bins(self) -> int:
        """Number of dB bins."""
        return len(self.edges) - 1

    def stack(self, hours: tuple[float, float] | None = None, weekdays=None, months=None
              ) -> tuple[np.ndarray, int]:
        """(histogram periods x dB bins, PSDs used) of the rows the selection keeps."""
        keep = ns.select(self.times_ns, hours=hours, weekdays=weekdays, months=months,
                         details=self.details)
        return ns.histogram_of_cells(self.flat, keep, len(self.periods), self.n_bins), \
            int(keep.sum())


def load_stack(prod: PsdProduct, stream: str, t0_ns: int, t1_ns: int) -> PsdStack:
    """The hourly PSDs starting in [t0, t1) (clipped to the days computed); beyond
    MAX_DENSITY_ROWS rows, evenly spaced blocks of stored chunks (said in `note`)."""
    span = psd_span(prod)
    periods = prod.periods
    empty = PsdStack(stream, periods, np.zeros(0, np.int64),
                     np.zeros((0, len(periods)), np.int16), ns.time_details(np.zeros(0)))
    if span is None:
        return empty
    a = max(t0_ns, span[0])
    b = min(t1_ns, span[1])
    if b <= a:
        return empty
    r0, r1 = -(-a // PSD_STEP_NS), -(-b // PSD_STEP_NS)
    arr = prod.group["db"]
    r1 = min(r1, arr.shape[0])
    note = ""
    if r1 - r0 > MAX_DENSITY_ROWS:
        chunk = arr.chunks[0]
        blocks = np.arange(r0 // chunk, -(-r1 // chunk))
        take = blocks[np.linspace(0, len(blocks) - 1, MAX_DENSITY_ROWS // chunk).round()
                      .astype(int)]
        take = np.unique(take)
        parts = [(max(k * chunk, r0), min((k + 1) * chunk, r1)) for k in take]
        note = (f"the range holds {r1 - r0:,} half-hourly rows: the density is stacked from "
                f"{len(parts)} evenly spaced blocks of {chunk // 48} days "
                f"({sum(q - p for p, q in parts):,} rows)")
    else:
        parts = [(r0, r1)]
    raws, times = [], []
    for p, q in parts:
        if q > p:
            raws.append(arr[p:q])
            times.append(np.arange(p, q, dtype=np.int64) * PSD_STEP_NS)
    if not raws:
        return empty
    raw = np.concatenate(raws)
    t = np.concatenate(times)
    have = (raw != ns.CENTI_FILL).any(axis=1)
    raw, t = raw[have], t[have]
    edges = ns.db_edges()
    return PsdStack(stream, periods, t, ns.bin_index_centi(raw, _lut()), ns.time_details(t),
                    edges, note)


@lru_cache(maxsize=1)
def _lut() -> np.ndarray:
    # The stored values are int16 centi-dB: a table of all 65,536 bins one gather away is
    # ~6x faster than binning their float values (measured: tests/bench/bench_noise.py).
    return ns.centi_db_lut(ns.db_edges())


# -- the density ----------------------------------------------------------------------------
@dataclass
class DensityFigure:
    """The density figure and the sources a restack updates."""

    fig: figure
    image: ColumnDataSource
    mode: ColumnDataSource
    percentiles: list[ColumnDataSource]
    mapper: LinearColorMapper


def _top(image: np.ndarray) -> float:
    """The colour scale's top: the largest probability, at most DENSITY_MAX_PERCENT."""
    vmax = float(np.nanmax(image)) if np.isfinite(image).any() else 1.0
    return max(min(vmax, DENSITY_MAX_PERCENT), 1.0)


def _period_edges(periods: np.ndarray) -> tuple[float, float]:
    step = 2 ** (1 / 16)  # half of the 1/8-octave step
    return float(periods[0] / step), float(periods[-1] * step)


def density_data(stack: PsdStack, hist: np.ndarray, percentiles=PERCENTILES) -> dict:
    """The image (dB bins x periods, % per period) and the curves of one stack."""
    pct = ns.density_percent(hist)
    img = pct.T.copy()
    img[img == 0] = np.nan  # empty cells transparent, as ObsPy leaves them white
    per = stack.periods
    cum = ns.cumulative(hist)
    return {"image": img, "mode": ns.mode(hist, stack.edges),
            "percentiles": [ns.percentile(hist, stack.edges, q, cum) for q in percentiles],
            "periods": per}


def density_figure(stack: PsdStack, hist: np.ndarray, used: int, title: str = "",
                   percentiles=PERCENTILES, height: int = 520) -> DensityFigure:
    """PPSD-style figure: probability (%) per period and dB, NLNM/NHNM, mode, percentiles."""
    data = density_data(stack, hist, percentiles)
    edges = stack.edges
    x0, x1 = _period_edges(stack.periods) if len(stack.periods) else (0.01, 100.0)
    fig = figure(name="density", x_axis_type="log", height=height, sizing_mode="stretch_width",
                 x_range=Range1d(max(x0, 0.01), x1), y_range=Range1d(edges[0], edges[-1]),
                 tools="pan,wheel_zoom,box_zoom,reset,save", toolbar_location="above",
                 title=title or f"{stack.stream}: probability density of {used:,} PSDs",
                 active_scroll="wheel_zoom")
    fig.toolbar.logo = None
    mapper = LinearColorMapper(palette=Viridis256, low=0.0, high=_top(data["image"]),
                               nan_color=(0, 0, 0, 0))
    # The period bins are evenly spaced in log(period): an image between the mapped corners
    # puts every bin at its place on the log axis.
    image = ColumnDataSource({"image": [data["image"]], "x": [x0], "y": [float(edges[0])],
                              "dw": [x1 - x0], "dh": [float(edges[-1] - edges[0])]})
    img_r = fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=image,
                      color_mapper=mapper)
    p_lo, lo, p_hi, hi = noise_models()
    # One renderer per kind of curve (Bokeh's cost is per model: a channel-year's first draw
    # is mostly the figure's models, measured in tests/bench/bench_noise.py).
    fig.multi_line([list(p_lo), list(p_hi)], [list(lo), list(hi)], color=MODEL_COLOR,
                   line_width=2.5, legend_label="NLNM / NHNM (Peterson)")
    mode = ColumnDataSource({"x": data["periods"], "y": data["mode"]})
    fig.line("x", "y", source=mode, color="#e41a1c", line_width=2, legend_label="mode",
             name="mode")
    pct = ColumnDataSource(_percentile_lines(data, percentiles))
    fig.multi_line("xs", "ys", source=pct, color="color", line_width=1.5, line_dash="dashed",
                   legend_label=f"{', '.join(f'{q:g}' for q in percentiles)}th percentiles")
    pcts = [pct]
    fig.add_tools(HoverTool(renderers=[img_r], tooltips=[("period", "$x{0.000} s"),
                                                         ("power", "$y{0} dB"),
                                                         ("probability", "@image{0.0} %")]))
    fig.xaxis.axis_label = "Period (s)"
    fig.yaxis.axis_label = "Amplitude (dB re 1 (m/s²)²/Hz)"
    fig.legend.label_text_font_size = "11px"
    fig.add_layout(fig.legend[0], "right")  # beside the plot: the density stays visible
    fig.add_layout(ColorBar(color_mapper=mapper, width=10, title="probability %"), "right")
    return DensityFigure(fig, image, mode, pcts, mapper)


def _percentile_lines(data: dict, percentiles) -> dict:
    n = len(data["percentiles"])
    return {"xs": [data["periods"]] * n, "ys": data["percentiles"],
            "color": list((PERCENTILE_COLORS * 3)[:n]), "q": list(percentiles)}


def update_density(d: DensityFigure, stack: PsdStack, hist: np.ndarray, used: int,
                   percentiles=PERCENTILES) -> None:
    """Put a new stack in the figure (its sources changed in place: no new figure)."""
    data = density_data(stack, hist, percentiles)
    d.image.data = dict(d.image.data, image=[data["image"]])
    d.mapper.high = _top(data["image"])  # as a page opened on this stack scales it
    d.mode.data = {"x": data["periods"], "y": data["mode"]}
    d.percentiles[0].data = _percentile_lines(data, percentiles)
    d.fig.title.text = f"{stack.stream}: probability density of {used:,} PSDs"


# -- the spectrogram ------------------------------------------------------------------------
def spectrogram_figure(prod: PsdProduct, stream: str, t0_ns: int, t1_ns: int,
                       waveforms_href: str | None = None, width: int = SPECTROGRAM_WIDTH,
                       height: int = 320) -> figure:
    """Period x time of the stored PSDs at screen resolution; a tap on a day opens
    `waveforms_href` (a URL with `{from}` and `{to}`) for that day."""
    span = psd_span(prod)
    if span is not None:
        t0_ns, t1_ns = max(t0_ns, span[0]), min(t1_ns, span[1])
    if t1_ns <= t0_ns:
        t1_ns = t0_ns + DAY_NS
    times, periods, db, step = prod.read(t0_ns, t1_ns, max_rows=width)
    rows = np.flatnonzero(np.isfinite(db).any(axis=1))
    if len(rows):  # the rows holding PSDs (a day computed may hold only a few hours)
        times, db = times[rows[0]:rows[-1] + 1], db[rows[0]:rows[-1] + 1]
        t0_ns, t1_ns = int(times[0]), int(times[-1]) + step
    x0, x1 = float(t0_ns / 1e6), float(t1_ns / 1e6)
    y0, y1 = _period_edges(periods) if len(periods) else (0.01, 100.0)
    level = "half-hourly PSDs" if step == PSD_STEP_NS else "daily means of the PSDs"
    fig = figure(name="spectrogram", x_axis_type="datetime", y_axis_type="log", height=height,
                 sizing_mode="stretch_width", x_range=Range1d(x0, x1), y_range=Range1d(y0, y1),
                 tools="xpan,xwheel_zoom,reset,save,tap", toolbar_location="above",
                 title=f"{stream}: PSD over time ({level}; click a day to open its waveforms)")
    fig.toolbar.logo = None
    finite = db[np.isfinite(db)]
    lo, hi = (np.percentile(finite, [2, 98]) if finite.size else (-180.0, -80.0))
    mapper = LinearColorMapper(palette=Viridis256, low=float(lo), high=float(max(hi, lo + 1)),
                               nan_color=(0, 0, 0, 0))
    if len(times) and np.isfinite(db).any():
        img, ix0, ix1 = _regrid(times, db, step, width)
        fig.image(image=[img], x=ix0, y=y0, dw=ix1 - ix0, dh=y1 - y0, color_mapper=mapper,
                  name="psd-image")
    fig.xaxis.axis_label = "UTC"
    fig.yaxis.axis_label = "Period (s)"
    fig.add_layout(ColorBar(color_mapper=mapper, width=10, title="dB"), "right")
    fig.add_tools(HoverTool(tooltips=[("time", "$x{%F %H:%M}"), ("period", "$y{0.000} s")],
                            formatters={"$x": "datetime"}))
    if waveforms_href:
        fig.js_on_event("tap", CustomJS(args={"href": waveforms_href}, code=TAP_JS))
    return fig


# A tap: the UTC day under the pointer, as ISO texts, put in the waveforms link.
TAP_JS = """
const day = 86400000;
const t0 = Math.floor(cb_obj.x / day) * day;
const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');
const url = href.replace('{from}', encodeURIComponent(iso(t0)))
                .replace('{to}', encodeURIComponent(iso(t0 + day)));
if (window.self !== window.top) { window.open(url, '_blank'); }
else { window.location.assign(url); }
"""


def _regrid(times: np.ndarray, db: np.ndarray, step: int, width: int
            ) -> tuple[np.ndarray, float, float]:
    """The rows as an image (periods x columns) at most `width` columns wide: Datashader's
    raster mean when there are more rows than columns."""
    x0, x1 = float(times[0] / 1e6), float((times[-1] + step) / 1e6)
    if len(times) <= width:
        return db.T.astype(np.float32), x0, x1
    da = xr.DataArray(db.T, dims=("period", "t"),
                      coords={"period": np.arange(db.shape[1], dtype=np.float64),
                              "t": (times + step / 2) / 1e6})
    canvas = ds.Canvas(plot_width=width, plot_height=db.shape[1], x_range=(x0, x1),
                       y_range=(-0.5, db.shape[1] - 0.5))
    agg = canvas.raster(da, downsample_method="mean")
    return np.asarray(agg.values, dtype=np.float32), x0, x1


def summary(stack: PsdStack, used: int, t0_ns: int, t1_ns: int) -> str:
    """One line: how many PSDs of which range the density shows."""
    if not len(stack.times_ns):
        return f"No PSDs of {stack.stream} from {format_time(t0_ns)} to {format_time(t1_ns)}."
    first, last = int(stack.times_ns[0]), int(stack.times_ns[-1])
    text = (f"{used:,} of {len(stack.times_ns):,} hourly PSDs (1 h, 50 % overlap) of "
            f"{stack.stream} from {day_key(first)} to {day_key(last)}; bins 1/8 octave x 1 dB")
    if stack.note:
        text += f" ({stack.note})"
    return text


__all__ = ["DensityFigure", "PsdStack", "density_figure", "load_stack", "noise_models",
           "psd_span", "spectrogram_figure", "summary", "update_density"]
