"""The availability page: segments per stream on a timeline, coverage per day, the gaps."""

from __future__ import annotations

import logging

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

from dashboard import chrome, coverage, share
from dashboard import theme as themes
from dashboard.pages.base import Page, SnapshotError, SnapshotParts, style_and_fit
from dashboard.state import AvailabilityState
from pipelines.store import Store
from pipelines.timebase import NS, format_duration, format_time, now_ns

log = logging.getLogger(__name__)

MAX_SEGMENTS_DRAWN = 2000  # per stream; beyond that the row is drawn as coverage per pixel bin
BINS = 1200
MAX_DAYS = 800  # at most this many cells per stream: weeks, then several weeks per cell
MAX_GAPS_LISTED = 5000  # rows of the gap table (the count says how many there are)
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
    edges, per_days = coverage.bin_edges(t0, t1, MAX_DAYS)
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
    per = {1: "day", 7: "week"}.get(per_days, f"{per_days // 7} weeks")
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
        for a, b in coverage.gaps_within(store[name].segments, t0, t1)[:MAX_GAPS_LISTED]:
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


class AvailabilityPage(Page):
    """/availability: the timeline, coverage per day and the tables of the streams asked for."""

    slug = "availability"
    title = "Availability"

    def __init__(self, sources, args: dict[str, str], **params):
        super().__init__(sources, args, **params)
        label, self.errors = sources.resolve_or_first(args.get("store"))
        self.store = sources.store(label)
        self.state, more = AvailabilityState.from_query(self.store, label, args, now_ns())
        self.errors += more

    def figures(self) -> list:
        """The timeline and the coverage heatmap of the state's streams and range."""
        s = self.state
        return [timeline_figure(self.store, s.streams, s.t0_ns, s.t1_ns),
                coverage_figure(self.store, s.streams, s.t0_ns, s.t1_ns)[0]]

    def __panel__(self) -> pn.viewable.Viewable:
        """The whole page."""
        s, label = self.state, self.state.store
        messages = chrome.alerts(self.errors)
        if not s.has_data:
            return chrome.page(self.slug, *messages,
                               chrome.alert("This store holds no data yet.", "info"),
                               store=label, embed=self.embed, title=self.title)
        t0, t1, names = s.t0_ns, s.t1_ns, s.streams
        try:
            timeline = timeline_figure(self.store, names, t0, t1)
            cov_fig, cov_df = coverage_figure(self.store, names, t0, t1)
            gaps = gap_table(self.store, names, t0, t1)
            summary = summary_table(self.store, names, t0, t1)
        except Exception as exc:
            log.exception("availability failed")
            return chrome.page(self.slug, chrome.alert(f"Availability failed: {exc}"),
                               store=label, embed=self.embed, title=self.title)
        intro = pn.pane.Markdown(
            f"**{len(names)} streams** from {format_time(t0)} to {format_time(t1)} "
            f"({format_duration(t1 - t0)}) · **{len(gaps)} gap{'' if len(gaps) == 1 else 's'}**",
            margin=(0, 12))
        for fig in (timeline, cov_fig):
            themes.style_figure(fig, self.theme)
        cov_df = cov_df.reset_index()  # one row per day: long periods paginate, not widen
        plots = [*chrome.alerts(s.notes, "info"), *messages,
                 *chrome.paging(self.slug, s, self.args), intro,
                 pn.pane.Bokeh(timeline, sizing_mode="stretch_width"),
                 pn.pane.Bokeh(cov_fig, sizing_mode="stretch_width")]
        if self.embed:  # an iframe shows the plots, not the tables
            return chrome.page(self.slug, *plots, store=label, embed=True, title=self.title)
        body = [share.for_page(self.slug, self.args, "timeline", s.locked_query()), *plots,
                pn.pane.Markdown("### Streams", margin=(0, 12)), _table(summary, "summary"),
                pn.pane.Markdown(f"### Gaps ({len(gaps)})", margin=(0, 12)),
                _table(gaps, "gaps") if len(gaps) else pn.pane.Markdown(
                    "No gaps in this range.", margin=(0, 12)),
                pn.pane.Markdown(f"### Coverage per {cov_df.columns[0]}, %", margin=(0, 12)),
                _table(cov_df, "coverage", page_size=10)]
        return chrome.page(self.slug, *body, store=label, embed=self.embed, title=self.title)

    @classmethod
    def snapshot(cls, sources, args: dict[str, str], theme: str,
                 fit: tuple[int, int] | None) -> SnapshotParts:
        """The timeline and coverage figures with their data inline."""
        page = cls.checked(sources, args)
        return SnapshotParts(style_and_fit(page.figures(), theme, fit), page.snapshot_meta(),
                             page.state.store, page.store.url)

    @classmethod
    def checked(cls, sources, args: dict[str, str]) -> AvailabilityPage:
        """The page of a URL with no bad value and some data; SnapshotError otherwise."""
        cls.snapshot_label(sources, args)  # an unserved store: SnapshotError, not a page
        page = cls(sources, args)
        if page.errors:
            raise SnapshotError("; ".join(page.errors))
        if not page.state.has_data:
            raise SnapshotError(f"store {page.state.store} holds no data to show")
        return page

    def snapshot_meta(self) -> dict:
        """What a snapshot of this state shows."""
        s = self.state
        return {"streams": s.streams, "from": format_time(s.t0_ns), "to": format_time(s.t1_ns),
                "duration": format_duration(s.t1_ns - s.t0_ns)}
