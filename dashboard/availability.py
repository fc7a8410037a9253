"""The availability page: segments per stream on a timeline, coverage per day, the gaps."""

from __future__ import annotations

import logging
import traceback

import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    FixedTicker,
    HoverTool,
    LinearColorMapper,
    Range1d,
)
from bokeh.plotting import figure

from dashboard import coverage, embed, layout, share
from dashboard.sources import Sources
from dashboard.viewstate import data_span, main_span
from pipelines.store import Store, UnknownStreamError
from pipelines.timebase import DAY_NS, NS, format_duration, format_time, now_ns, parse_range

log = logging.getLogger(__name__)

MAX_SEGMENTS_DRAWN = 2000  # per stream; beyond that the row is drawn as coverage per pixel bin
BINS = 1200
MAX_DAYS = 800  # more days than this are shown per week
COVERAGE_PALETTE = ["#d73027", "#f46d43", "#fdae61", "#fee08b", "#d9ef8b", "#a6d96a",
                    "#66bd63", "#1a9850"]
ROW_PX = 26


def ms(ns) -> float | np.ndarray:
    """Bokeh datetime axes count milliseconds."""
    return np.asarray(ns, dtype=np.float64) / 1e6


def _row_axis(fig, names: list[str]) -> None:
    n = len(names)
    fig.yaxis.ticker = FixedTicker(ticks=list(range(n)))
    fig.yaxis.major_label_overrides = {n - 1 - i: name for i, name in enumerate(names)}
    fig.ygrid.grid_line_color = None


def timeline_figure(store: Store, names: list[str], t0: int, t1: int, x_range=None,
                    title: str = "Segments present (gaps in red)") -> figure:
    """One row per stream: bars where data is present, red marks on every gap."""
    n = max(len(names), 1)
    x_range = x_range or Range1d(float(ms(t0)), float(ms(t1)))
    fig = figure(x_axis_type="datetime", height=n * ROW_PX + 80, sizing_mode="stretch_width",
                 x_range=x_range, y_range=Range1d(-0.6, n - 0.4), title=title,
                 tools="xpan,xwheel_zoom,xbox_zoom,reset,save", toolbar_location="above",
                 active_scroll="xwheel_zoom", name="timeline")
    fig.toolbar.logo = None
    _row_axis(fig, names)
    seg_cols: dict[str, list] = {k: [] for k in ("left", "right", "bottom", "top", "alpha",
                                                  "stream", "start", "end", "length")}
    gap_cols: dict[str, list] = {k: [] for k in ("left", "right", "bottom", "top", "stream",
                                                  "start", "end", "length")}
    for i, name in enumerate(names):
        y = n - 1 - i
        segs = coverage.clip_segments(store[name].segments, t0, t1)
        if len(segs) > MAX_SEGMENTS_DRAWN:
            # Too many to draw one by one: coverage per pixel-wide bin, O(pixels).
            edges = np.linspace(t0, t1, BINS + 1).astype(np.int64)
            frac = coverage.coverage_per_bin(segs, edges)
            keep = frac > 0
            lefts, rights, alphas = edges[:-1][keep], edges[1:][keep], 0.3 + 0.7 * frac[keep]
        else:
            lefts, rights, alphas = segs[:, 0], segs[:, 1], np.ones(len(segs))
        seg_cols["left"] += list(ms(lefts))
        seg_cols["right"] += list(ms(rights))
        seg_cols["alpha"] += list(alphas)
        seg_cols["bottom"] += [y - 0.32] * len(lefts)
        seg_cols["top"] += [y + 0.32] * len(lefts)
        seg_cols["stream"] += [name] * len(lefts)
        seg_cols["start"] += [format_time(int(v)) for v in lefts]
        seg_cols["end"] += [format_time(int(v)) for v in rights]
        seg_cols["length"] += [format_duration(int(b - a)) for a, b in zip(lefts, rights,
                                                                             strict=True)]
        gaps = coverage.gaps_within(store[name].segments, t0, t1)[:MAX_SEGMENTS_DRAWN]
        gap_cols["left"] += list(ms(gaps[:, 0]))
        gap_cols["right"] += list(ms(gaps[:, 1]))
        gap_cols["bottom"] += [y - 0.42] * len(gaps)
        gap_cols["top"] += [y + 0.42] * len(gaps)
        gap_cols["stream"] += [name] * len(gaps)
        gap_cols["start"] += [format_time(int(v)) for v in gaps[:, 0]]
        gap_cols["end"] += [format_time(int(v)) for v in gaps[:, 1]]
        gap_cols["length"] += [format_duration(int(b - a)) for a, b in gaps]
    seg_r = fig.quad(source=ColumnDataSource(seg_cols), left="left", right="right",
                     bottom="bottom", top="top", fill_color="#2e7d4f", fill_alpha="alpha",
                     line_color="#2e7d4f", line_alpha="alpha", line_width=1)  # >= 1 px wide
    # A line colour gives every gap at least a pixel, however short it is at this zoom.
    gap_r = fig.quad(source=ColumnDataSource(gap_cols), left="left", right="right",
                     bottom="bottom", top="top", fill_color="#e53935", fill_alpha=0.35,
                     line_color="#c62828", line_width=1)
    tips = [("stream", "@stream"), ("from", "@start"), ("to", "@end"), ("length", "@length")]
    fig.add_tools(HoverTool(renderers=[seg_r], tooltips=[("data", ""), *tips]))
    fig.add_tools(HoverTool(renderers=[gap_r], tooltips=[("gap", ""), *tips]))
    fig.xaxis.axis_label = "UTC"
    return fig


def coverage_figure(store: Store, names: list[str], t0: int, t1: int,
                    x_range=None) -> tuple[figure, pd.DataFrame]:
    """Heatmap of the fraction of each day (or week) holding data, and the same as a table."""
    edges = coverage.day_edges(t0, t1)
    if len(edges) - 1 > MAX_DAYS:
        edges = edges[::7]
        if edges[-1] < t1:
            edges = np.append(edges, edges[-1] + 7 * DAY_NS)
    width_ns = np.diff(edges)
    n = max(len(names), 1)
    cols: dict[str, list] = {k: [] for k in ("x", "y", "w", "cov", "text", "stream", "day")}
    table = {}
    for i, name in enumerate(names):
        frac = coverage.coverage_per_bin(store[name].segments, edges)
        table[name] = np.round(frac * 100, 1)
        cols["x"] += list(ms(edges[:-1] + width_ns / 2))
        cols["y"] += [n - 1 - i] * len(frac)
        cols["w"] += list(ms(width_ns))
        cols["cov"] += list(frac)
        cols["text"] += [f"{f * 100:.0f}%" for f in frac]
        cols["stream"] += [name] * len(frac)
        cols["day"] += [format_time(int(e))[:10] for e in edges[:-1]]
    per = "day" if (len(width_ns) and width_ns[0] == DAY_NS) else "week"
    x_range = x_range or Range1d(float(ms(edges[0])), float(ms(edges[-1])))
    fig = figure(x_axis_type="datetime", height=n * ROW_PX + 90, sizing_mode="stretch_width",
                 x_range=x_range, y_range=Range1d(-0.6, n - 0.4),
                 title=f"Coverage per {per} (UTC)", tools="save", toolbar_location="above",
                 name="coverage")
    fig.toolbar.logo = None
    _row_axis(fig, names)
    mapper = LinearColorMapper(palette=COVERAGE_PALETTE, low=0.0, high=1.0)
    src = ColumnDataSource(cols)
    r = fig.rect(x="x", y="y", width="w", height=0.9, source=src,
                 fill_color={"field": "cov", "transform": mapper}, line_color="white")
    if len(edges) - 1 <= 40:  # room to print the percentage in each cell
        fig.text(x="x", y="y", text="text", source=src, text_align="center",
                 text_baseline="middle", text_font_size="11px", text_color="#102010")
    fig.add_tools(HoverTool(renderers=[r], tooltips=[("stream", "@stream"), (per, "@day"),
                                                     ("coverage", "@text")]))
    fig.add_layout(ColorBar(color_mapper=mapper, width=8, title="fraction"), "right")
    df = pd.DataFrame(table, index=[format_time(int(e))[:10] for e in edges[:-1]])
    df.index.name = per
    return fig, df


def gap_table(store: Store, names: list[str], t0: int, t1: int) -> pd.DataFrame:
    """Every gap between segments in the range: stream, start, end, length."""
    rows = []
    for name in names:
        for a, b in coverage.gaps_within(store[name].segments, t0, t1):
            rows.append({"stream": name, "start": format_time(int(a)),
                         "end": format_time(int(b)), "length": format_duration(int(b - a)),
                         "seconds": round((int(b) - int(a)) / NS, 3)})
    return pd.DataFrame(rows, columns=["stream", "start", "end", "length", "seconds"])


def summary_table(store: Store, names: list[str], t0: int, t1: int) -> pd.DataFrame:
    """Per stream: span, coverage of the range, number and total length of gaps."""
    rows = []
    for name in names:
        st = store[name]
        span = st.span_ns
        segs = coverage.clip_segments(st.segments, t0, t1)
        present = int((segs[:, 1] - segs[:, 0]).sum()) if len(segs) else 0
        gaps = coverage.gaps_within(st.segments, t0, t1)
        glen = (gaps[:, 1] - gaps[:, 0]) if len(gaps) else np.zeros(0, np.int64)
        rows.append({
            "stream": name, "rate (Hz)": st.sampling_rate,
            "first": format_time(span[0]) if span else "",
            "last": format_time(span[1]) if span else "",
            "coverage %": round(100 * present / max(t1 - t0, 1), 2),
            "gaps": len(gaps), "gap time": format_duration(int(glen.sum())) if len(glen) else "",
            "longest gap": format_duration(int(glen.max())) if len(glen) else ""})
    return pd.DataFrame(rows)


def _table(df: pd.DataFrame, name: str, page_size: int = 15) -> pn.widgets.Tabulator:
    return pn.widgets.Tabulator(df, disabled=True, show_index=False, pagination="local",
                                page_size=page_size, sizing_mode="stretch_width",
                                layout="fit_data_table")


def availability_page(sources: Sources) -> pn.viewable.Viewable:
    """Page factory for /availability."""
    args = layout.query_args()
    embed_mode = layout.is_embed(args)
    label, errors = sources.resolve_or_first(args.get("store"))
    try:
        store = sources.store(label)
        names = store.streams()
        pattern = args.get("streams", "").strip()
        if pattern:
            try:
                names = store.select(pattern)
            except UnknownStreamError as exc:
                errors.append(f"streams={pattern!r}: {exc}; showing every stream")
        span = data_span(store, names) if names else None
        if span is None:
            return layout.page("availability", *[layout.alert(e) for e in errors],
                               layout.alert("This store holds no data yet.", "info"),
                               store=label, embed=embed_mode, title="Availability")
        t0, t1 = main_span(store, names) or span
        if (t0, t1) != span and not (args.get("from") or args.get("to")):
            errors.append(
                f"Showing {format_time(t0)} to {format_time(t1)}, where most of the data is; "
                f"the streams reach from {format_time(span[0])} to {format_time(span[1])} "
                "(give from= and to= in the URL to see other times).")
        if args.get("from") or args.get("to"):
            try:
                t0, t1 = parse_range(args.get("from") or format_time(span[0]),
                                     args.get("to") or format_time(span[1]), now_ns())
            except ValueError as exc:
                errors.append(f"{exc}; showing the whole span instead")
        timeline = timeline_figure(store, names, t0, t1)
        cov_fig, cov_df = coverage_figure(store, names, t0, t1)
        gaps = gap_table(store, names, t0, t1)
        summary = summary_table(store, names, t0, t1)
    except Exception as exc:
        log.error("availability failed:\n%s", traceback.format_exc())
        return layout.page("availability", layout.alert(f"Availability failed: {exc}"),
                           store=label, embed=embed_mode, title="Availability")
    intro = pn.pane.Markdown(
        f"**{len(names)} streams** from {format_time(t0)} to {format_time(t1)} "
        f"({format_duration(t1 - t0)}) · **{len(gaps)} gap{'' if len(gaps) == 1 else 's'}**",
        margin=(0, 12))
    theme = embed.theme_of(args)
    for fig in (timeline, cov_fig):
        embed.style_figure(fig, theme)
    cov_df = cov_df.reset_index()  # one row per day: long periods paginate, not widen
    plots = [*[layout.alert(e, "info" if e.startswith("Showing") else "danger")
               for e in errors], intro,
             pn.pane.Bokeh(timeline, sizing_mode="stretch_width"),
             pn.pane.Bokeh(cov_fig, sizing_mode="stretch_width")]
    if embed_mode:  # an iframe shows the plots, not the tables
        return layout.page("availability", *plots, store=label, embed=True,
                           title="Availability")
    locked = {"from": format_time(t0), "to": format_time(t1)}
    body = [share.for_page("availability", args, "timeline", locked), *plots,
            pn.pane.Markdown("### Streams", margin=(0, 12)), _table(summary, "summary"),
            pn.pane.Markdown(f"### Gaps ({len(gaps)})", margin=(0, 12)),
            _table(gaps, "gaps") if len(gaps) else pn.pane.Markdown("No gaps in this range.",
                                                                   margin=(0, 12)),
            pn.pane.Markdown(f"### Coverage per {cov_df.columns[0]}, %", margin=(0, 12)),
            _table(cov_df, "coverage", page_size=10)]
    return layout.page("availability", *body, store=label, embed=embed_mode,
                       title="Availability")
