"""The resources page (/resources): what the computing costs and how it is used.

As Open XDMoD and Grafana show it: CPU- or GPU-hours over time stacked by a grouping, jobs
running and pending, wait-time and job-size distributions, the top users or accounts with
their efficiency, node utilisation as a heatmap, and what preparing the data cost. Every chart
is O(jobs in the window + bins) or, for node metrics, O(pixels) through the metric pyramid.
"""

from __future__ import annotations

import html
import logging

import datashader as ds
import datashader.transfer_functions as tf
import numpy as np
import pandas as pd
import panel as pn
import xarray as xr
from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LinearColorMapper, Range1d
from bokeh.palettes import Category20, Viridis256
from bokeh.plotting import figure

from dashboard import chrome, share
from dashboard import theme as themes
from dashboard.address import QuerySync
from dashboard.pages.base import Page, SnapshotError, SnapshotParts, style_and_fit
from dashboard.sources import Sources
from dashboard.state import WHATS, ResourcesState
from pipelines.timebase import NS, format_duration, format_time, now_ns
from pipelines.usage import aggregate

log = logging.getLogger(__name__)


HOUR, DAY = 3600 * NS, 86400 * NS
BINS = ((HOUR, "hour"), (6 * HOUR, "6 hours"), (DAY, "day"), (7 * DAY, "week"),
        (30 * DAY, "30 days"))
MAX_BINS = 200
QUICK = {"Last 24 hours": ("now-24h", "now"), "Last 7 days": ("now-7d", "now"),
         "Last 30 days": ("now-30d", "now"), "Last 90 days": ("now-90d", "now"),
         "Last year": ("now-1y", "now"), "Last 7 days of jobs": ("data-7d", ""),
         "Last 30 days of jobs": ("data-30d", ""), "All jobs": ("data-0d", "")}
HEATMAP_WIDTH = 1200
JOB_COLUMNS = ["infrastructure", "account", "user", "partition", "qos", "state", "submit",
               "start", "end", "elapsed_s", "ncpus", "ngpus", "total_cpu_s"]


def pick_bin(span_ns: int) -> tuple[int, str]:
    """The finest bin that keeps a chart under MAX_BINS bars."""
    for size, name in BINS:
        if span_ns / size <= MAX_BINS:
            return size, name
    # Decades or centuries: whole multiples of 30 days, still at most MAX_BINS bars.
    k = -(-span_ns // (BINS[-1][0] * MAX_BINS))
    return k * BINS[-1][0], f"{k * 30} days"


def ms(ns) -> np.ndarray | float:
    """Bokeh datetime axes count milliseconds."""
    return np.asarray(ns, dtype=np.float64) / 1e6


def jobs_span(jobs: pd.DataFrame) -> tuple[int, int] | None:
    """[first submit, last end or start] of a jobs table, in ns."""
    if not len(jobs):
        return None
    first = jobs["submit"].min()
    last = pd.concat([jobs["end"], jobs["start"], jobs["submit"]]).max()
    return int(first.value), int(last.value)


def usage_figure(jobs: pd.DataFrame, t0: int, t1: int, by: str, what: str,
                 x_range: Range1d) -> figure:
    """Stacked bars: CPU- or GPU-hours used per bin, one colour per group."""
    bin_ns, bin_name = pick_bin(t1 - t0)
    df = aggregate.usage_over_time(jobs, t0, t1, bin_ns, by=by, what=what, top=12)
    groups = [str(c) for c in df.columns]
    data = {"x": ms(df.index.values.view(np.int64) + bin_ns // 2)}
    for g, col in zip(groups, df.columns, strict=True):
        data[g] = df[col].to_numpy()
    fig = figure(name="usage", x_axis_type="datetime", x_range=x_range, height=320,
                 sizing_mode="stretch_width", tools="xpan,xwheel_zoom,xbox_zoom,reset,save",
                 title=f"{WHATS[what]} per {bin_name} by {by}", toolbar_location="above")
    fig.toolbar.logo = None
    if groups:
        colors = (Category20[20] * 2)[:len(groups)] if len(groups) > 2 else \
            ["#1f77b4", "#ff7f0e"][:len(groups)]
        fig.vbar_stack(groups, x="x", width=ms(bin_ns) * 0.9, color=colors,
                       source=ColumnDataSource(data), legend_label=groups, line_color=None)
        fig.legend.location = "top_left"
        fig.legend.label_text_font_size = "11px"
        fig.legend.click_policy = "hide"
        fig.add_layout(fig.legend[0], "right")
    fig.yaxis.axis_label = WHATS[what]
    fig.y_range.start = 0
    return fig


def queue_figure(jobs: pd.DataFrame, t0: int, t1: int, x_range: Range1d) -> figure:
    """Jobs running and pending over time."""
    bin_ns = max(pick_bin(t1 - t0)[0] // 6, 60 * NS)
    rp = aggregate.running_and_pending(jobs, t0, t1, bin_ns)
    src = ColumnDataSource({"x": ms(rp.index.values.view(np.int64)),
                            "running": rp["running"].to_numpy(),
                            "pending": rp["pending"].to_numpy()})
    fig = figure(name="queue", x_axis_type="datetime", x_range=x_range, height=220,
                 sizing_mode="stretch_width", tools="xpan,xwheel_zoom,reset,save",
                 title="Jobs running and pending", toolbar_location="above")
    fig.toolbar.logo = None
    fig.step("x", "running", source=src, color="#1d7a46", line_width=2, legend_label="running",
             mode="after")
    fig.step("x", "pending", source=src, color="#b0361f", line_width=2, legend_label="pending",
             mode="after")
    fig.legend.location = "top_left"
    fig.y_range.start = 0
    return fig


def histogram_figure(values: np.ndarray, edges: np.ndarray, title: str, x_label: str,
                     name: str, log_x: bool = True) -> figure:
    """Counts of jobs per bin of `values`."""
    values = values[np.isfinite(values)]
    counts, _ = np.histogram(values, edges)
    fig = figure(name=name, height=260, sizing_mode="stretch_width", title=title,
                 x_axis_type="log" if log_x else "linear", tools="save",
                 toolbar_location="above")
    fig.toolbar.logo = None
    src = ColumnDataSource({"left": edges[:-1], "right": edges[1:], "top": counts})
    r = fig.quad(left="left", right="right", bottom=0, top="top", source=src,
                 fill_color="#2d6cb5", line_color="white")
    fig.add_tools(HoverTool(renderers=[r], tooltips=[("from", "@left"), ("to", "@right"),
                                                     ("jobs", "@top")]))
    fig.xaxis.axis_label = x_label
    fig.yaxis.axis_label = "jobs"
    fig.y_range.start = 0
    return fig


def heatmap_figure(metric, t0: int, t1: int, x_range: Range1d, name: str) -> figure:
    """Nodes by time, each cell the mean of the metric there, rasterised by Datashader."""
    n = len(metric.series)
    # As many buckets as pixel columns or a few more, within a budget of values read.
    budget = int(min(4 * HEATMAP_WIDTH, max(HEATMAP_WIDTH // 2, 4_000_000 // max(n, 1))))
    times, mean, _mx, level = metric.read_window(t0, t1, max_points=budget, at_least=False)
    height = int(min(max(n * (14 if n <= 40 else 4), 160), 560))  # labelled rows need 14 px
    fig = figure(name=name, x_axis_type="datetime", x_range=x_range, height=height + 60,
                 y_range=Range1d(-0.5, n - 0.5), sizing_mode="stretch_width",
                 tools="xpan,xwheel_zoom,reset,save", toolbar_location="above",
                 title=f"{metric.group.basename}: {n} series, "
                       f"{'raw samples' if level == 0 else f'means of 16^{level} samples'}")
    fig.toolbar.logo = None
    units = str(metric.attrs.get("units", ""))
    lo, hi = (0.0, 100.0) if units == "%" else (float(np.nanmin(mean)) if mean.size else 0.0,
                                                  float(np.nanmax(mean)) if mean.size else 1.0)
    mapper = LinearColorMapper(palette=Viridis256, low=lo, high=hi, nan_color="#ffffff")
    if mean.size and len(times) > 1:
        # Quadmesh takes the bucket times as they are (irregular timestamps stay in place).
        da = xr.DataArray(mean, coords={"node": np.arange(n), "t": ms(times)},
                          dims=("node", "t"), name="v")
        canvas = ds.Canvas(plot_width=HEATMAP_WIDTH, plot_height=height,
                           x_range=(float(ms(t0)), float(ms(t1))), y_range=(-0.5, n - 0.5))
        agg = canvas.quadmesh(da, x="t", y="node", agg=ds.mean("v"))
        img = tf.shade(agg, cmap=Viridis256, how="linear", span=[lo, hi])
        fig.image_rgba(image=[img.to_numpy()], x=float(ms(t0)), y=-0.5, dw=float(ms(t1 - t0)),
                       dh=n)
    if n <= 40:
        fig.yaxis.ticker = list(range(n))
        fig.yaxis.major_label_overrides = {
            i: next(iter(s.get("labels", {}).values()), s["name"])
            for i, s in enumerate(metric.series)}
    else:
        fig.yaxis.axis_label = "series (node)"
    fig.add_layout(ColorBar(color_mapper=mapper, width=10, title=units), "right")
    fig.ygrid.grid_line_color = None
    return fig


def summary_line(jobs: pd.DataFrame) -> str:
    """Jobs, CPU- and GPU-hours, efficiency and median wait of the jobs in the window."""
    if not len(jobs):
        return "No jobs in this range."
    m = aggregate.job_metrics(jobs)
    cpu_s = (m["cpu_hours"] * 3600).sum()
    eff = jobs["total_cpu_s"].sum() / cpu_s if cpu_s > 0 else float("nan")
    wait = m["wait_s"].median()
    return (f"**{len(jobs):,} jobs** · **{m['cpu_hours'].sum():,.0f} CPU-hours** · "
            f"**{m['gpu_hours'].sum():,.0f} GPU-hours** · efficiency (TotalCPU / allocated "
            f"CPU time) **{eff:.0%}** · median wait **{format_duration(wait * NS)}**")


def top_table(jobs: pd.DataFrame, by: str, what: str) -> pn.widgets.Tabulator:
    """The ten largest groups by hours, with job counts and efficiency."""
    top = aggregate.top_n(jobs, by=by, n=10, what=what).reset_index()
    top[by] = top[by].astype(str)
    top[f"{what}_hours"] = top[f"{what}_hours"].round(1)
    top["efficiency"] = (top["efficiency"] * 100).round(1)
    top = top.rename(columns={f"{what}_hours": WHATS[what], "efficiency": "efficiency %"})
    return pn.widgets.Tabulator(top, disabled=True, show_index=False, name="top",
                                sizing_mode="stretch_width", layout="fit_data_table")


def runs_table(runs: pd.DataFrame) -> pn.viewable.Viewable:
    """The project's own ingest runs: what preparing the data cost."""
    if not len(runs):
        return pn.pane.Markdown("No ingest runs recorded yet (set BELVEDERE_USAGE_STORE when "
                                "ingesting to record them).", margin=(0, 12))
    r = runs.sort_values("started", ascending=False).head(20)
    df = pd.DataFrame({
        "started": [format_time(int(t.value)) for t in r["started"]],
        "kind": r["kind"].astype(str), "seconds": r["seconds"].round(1),
        "CPU seconds": r["cpu_seconds"].round(1),
        "peak RSS MB": (r["peak_rss_bytes"] / 1e6).round(0),
        "samples": r["samples_written"], "MB written": (r["bytes_written"] / 1e6).round(1),
        "status": r["status"].astype(str)})
    return pn.widgets.Tabulator(df, disabled=True, show_index=False,
                                sizing_mode="stretch_width", layout="fit_data_table")


def throughput_table(runs: pd.DataFrame) -> pn.viewable.Viewable:
    """Per analysis and infrastructure, the measured throughput and cost of the recorded runs."""
    from pipelines.analysis.throughput import throughput

    table = throughput(runs)
    if not len(table):
        return pn.pane.Markdown("No analysis run recorded yet (run `belvedere analyse` with "
                                "BELVEDERE_USAGE_STORE set to record them).", margin=(0, 12))
    return pn.widgets.Tabulator(table, disabled=True, show_index=False, name="throughput",
                                sizing_mode="stretch_width", layout="fit_data_table")


def charts(store, state: ResourcesState, jobs: pd.DataFrame | None = None) -> list:
    """Usage per bin, jobs running and pending, and the node heatmap of the state's metric
    (`jobs`: the jobs of the state's range, when already read)."""
    t0, t1 = state.t0_ns, state.t1_ns
    jobs = store.jobs(JOB_COLUMNS, t0, t1) if jobs is None else jobs
    x_range = Range1d(float(ms(t0)), float(ms(t1)))
    figs = [usage_figure(jobs, t0, t1, state.by, state.what, x_range),
            queue_figure(jobs, t0, t1, x_range)]
    if state.metric:
        figs.append(heatmap_figure(store.metric(state.metric), t0, t1, x_range, "heatmap"))
    return figs


class ResourcesPage(Page):
    """One session's resources view: controls (made from its state), charts, and the URL."""

    slug = "resources"
    title = "Resources"

    def __init__(self, sources: Sources, args: dict[str, str], **params):
        super().__init__(sources, args, **params)
        errors: list[str] = []
        label = args.get("usage", "").strip()
        try:
            self.store = sources.usage(label or None)
        except ValueError as exc:
            if not label:
                raise
            errors.append(str(exc))
            label = ""
            self.store = sources.usage(None)
        self.span = jobs_span(self.store.jobs(["submit", "start", "end"])) or \
            (now_ns() - 30 * DAY, now_ns())
        self.state, more = ResourcesState.from_query(label, self.store.metrics(), self.span,
                                                     args, now_ns())
        self.errors = errors + more
        p = self.state.param
        self.w_from = pn.widgets.TextInput.from_param(p.from_text,
                                                      label="From (UTC, ISO or now-7d)", width=210)
        self.w_to = pn.widgets.TextInput.from_param(p.to_text, width=210)
        self.w_quick = pn.widgets.Select(label="Quick range", options=["—", *QUICK], value="—",
                                         width=170)
        self.w_by = pn.widgets.Select.from_param(p.by, width=150)
        self.w_what = pn.widgets.RadioButtonGroup.from_param(
            p.what, options={"CPU-hours": "cpu", "GPU-hours": "gpu"}, margin=(22, 10, 5, 10))
        self.w_metric = pn.widgets.Select.from_param(p.metric, width=220)
        self.w_quick.param.watch(self._quick, "value")
        self.state.param.watch(self._changed, ["from_text", "to_text", "by", "what", "metric"])
        self.messages = pn.Column(sizing_mode="stretch_width")
        self.body = pn.Column(sizing_mode="stretch_width")
        self.url = QuerySync(self.query)
        self._show()

    def _quick(self, event) -> None:
        if event.new not in QUICK:
            return
        self.w_quick.value = "—"
        f, t = QUICK[event.new]
        if f.startswith("data-"):  # relative to the end of the jobs, not to now
            days = int(f.split("-")[1].rstrip("d"))
            end = -(-self.span[1] // HOUR) * HOUR
            first = self.span[0] // HOUR * HOUR
            f, t = format_time(max(first, end - days * DAY) if days else first), format_time(end)
        self.state.param.update(from_text=f, to_text=t)  # one change: one redraw

    def _changed(self, *events) -> None:
        self.errors = []
        try:
            self.state.resolve(now_ns())
        except ValueError as exc:
            self.errors.append(str(exc))
        self._show()

    def query(self) -> dict[str, str]:
        """URL parameters that restore this view."""
        return self.state.to_query(self.theme)

    def locked_query(self) -> dict[str, str]:
        """The same view with its time range as absolute times."""
        return self.query() | self.state.locked_query()

    def _show(self) -> None:
        self.messages[:] = chrome.alerts(self.errors)
        try:
            self.body[:] = self._charts()
        except Exception as exc:  # a broken store must not take the page down
            log.exception("resources failed")
            self.body[:] = [chrome.alert(f"Could not read the usage store: {exc}")]
        self.url.write()

    def _charts(self) -> list[pn.viewable.Viewable]:
        items = self._chart_items()
        for item in items:
            for pane in ([item] if not isinstance(item, pn.Row) else list(item)):
                if isinstance(pane, pn.pane.Bokeh):
                    themes.style_figure(pane.object, self.theme)
        return items

    def figures(self, jobs: pd.DataFrame | None = None) -> list:
        """Usage per bin, jobs running and pending, and the node heatmap of the metric."""
        return charts(self.store, self.state, jobs)

    def _chart_items(self) -> list[pn.viewable.Viewable]:
        s = self.state
        t0, t1 = s.t0_ns, s.t1_ns
        jobs = self.store.jobs(JOB_COLUMNS, t0, t1)
        usage, queue, *heatmap = self.figures(jobs)
        m = aggregate.job_metrics(jobs) if len(jobs) else None
        items: list[pn.viewable.Viewable] = [
            pn.pane.Markdown(f"{format_time(t0)} → {format_time(t1)} "
                             f"({format_duration(t1 - t0)}) · " + summary_line(jobs),
                             margin=(0, 12)),
            pn.pane.Bokeh(usage, sizing_mode="stretch_width"),
            pn.pane.Bokeh(queue, sizing_mode="stretch_width"),
        ]
        if m is not None:
            wait = histogram_figure(m["wait_s"].to_numpy(), np.logspace(0, 6, 25),
                                    "Wait time in the queue", "seconds (log)", "waits")
            size = histogram_figure(jobs["ncpus"].to_numpy(dtype=float),
                                    2.0 ** np.arange(-0.5, 13.5), "Job size", "CPUs (log)",
                                    "sizes")
            items.append(pn.Row(pn.pane.Bokeh(wait, sizing_mode="stretch_width"),
                                pn.pane.Bokeh(size, sizing_mode="stretch_width"),
                                sizing_mode="stretch_width"))
        items += [pn.pane.Bokeh(f, sizing_mode="stretch_width") for f in heatmap]
        if not self.embed:
            if len(jobs):
                items += [pn.pane.Markdown(f"### Top {s.by}s by {WHATS[s.what]}",
                                           margin=(0, 12)),
                          top_table(jobs, s.by, s.what)]
            runs = self.store.runs()
            items += [pn.pane.Markdown("### Which resources for which analysis (measured "
                                       "from the recorded runs)", margin=(0, 12)),
                      throughput_table(runs),
                      pn.pane.Markdown("### What preparing and analysing the data cost "
                                       "(recorded runs)", margin=(0, 12)), runs_table(runs)]
        return items

    def __panel__(self) -> pn.viewable.Viewable:
        """The whole page."""
        body: list[pn.viewable.Viewable] = [self.messages]
        if not self.embed:
            body += [share.ShareControl("resources", self.query, "usage",
                                        self.locked_query).view(),
                     chrome.widget_row(self.w_from, self.w_to, self.w_quick, self.w_by,
                                       self.w_what, self.w_metric)]
        body += [self.body, self.url.view]
        return chrome.page(self.slug, *body, embed=self.embed, title=self.title)

    @classmethod
    def snapshot(cls, sources, args: dict[str, str], theme: str,
                 fit: tuple[int, int] | None) -> SnapshotParts:
        """The usage charts and node heatmap of a usage store, as on the page."""
        try:
            store = sources.usage(args.get("usage") or None)
        except ValueError as exc:
            raise SnapshotError(str(exc)) from exc
        label = args.get("usage") or sources.usage_labels[0]
        span = jobs_span(store.jobs(["submit", "start", "end"]))
        if span is None:
            raise SnapshotError(f"usage store {label} holds no jobs to show")
        state, errors = ResourcesState.from_query(args.get("usage", ""), store.metrics(), span,
                                                  args, now_ns())
        if [e for e in errors if e.startswith(("from=", "to="))]:
            raise SnapshotError("; ".join(errors))
        jobs = store.jobs(JOB_COLUMNS, state.t0_ns, state.t1_ns)
        meta = {"from": format_time(state.t0_ns), "to": format_time(state.t1_ns),
                "duration": format_duration(state.t1_ns - state.t0_ns), "streams": [],
                "hint": summary_line(jobs).replace("**", "")}
        return SnapshotParts(style_and_fit(charts(store, state, jobs), theme, fit), meta, label,
                             store.url)


def usage_summary(sources: Sources, label: str) -> list[pn.viewable.Viewable]:
    """A short block for the overview page: jobs, hours and metrics of one usage store."""
    st = sources.usage(label)
    jobs = st.jobs(["submit", "start", "end", "ncpus", "ngpus", "elapsed_s", "total_cpu_s",
                    "infrastructure"])
    span = jobs_span(jobs)
    line = summary_line(jobs)
    if span:
        line += f" · jobs from {format_time(span[0])} to {format_time(span[1])}"
    infra = ", ".join(sorted(map(str, jobs["infrastructure"].dropna().unique()))) or "—"
    default = label == sources.usage_labels[0]
    href = "./resources" + ("" if default else f"?usage={label}")
    return [pn.pane.HTML(f"<h2 style='margin:4px 0'>{html.escape(label)} (computing usage)"
                         f"</h2><div style='color:#556'>{html.escape(st.url)} · "
                         f"<a href='{html.escape(href)}'>resources</a></div>", margin=(8, 12)),
            pn.pane.Markdown(f"{line}  \ninfrastructures: {infra} · metrics: "
                             f"{', '.join(st.metrics()) or 'none'} · "
                             f"{len(st.runs())} ingest runs recorded", margin=(0, 12))]
