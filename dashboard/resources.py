"""The resources page (/resources): what the computing costs and how it is used.

As Open XDMoD and Grafana show it: CPU- or GPU-hours over time stacked by a grouping, jobs
running and pending, wait-time and job-size distributions, the top users or accounts with
their efficiency, node utilisation as a heatmap, and what preparing the data cost. Every chart
is O(jobs in the window + bins) or, for node metrics, O(pixels) through the metric pyramid.
"""

from __future__ import annotations

import html
import logging
import traceback

import datashader as ds
import datashader.transfer_functions as tf
import numpy as np
import pandas as pd
import panel as pn
import xarray as xr
from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LinearColorMapper, Range1d
from bokeh.palettes import Category20, Viridis256
from bokeh.plotting import figure

from dashboard import embed, layout, share
from dashboard.sources import Sources
from pipelines.timebase import NS, format_duration, format_time, now_ns, parse_range
from pipelines.usage import aggregate

log = logging.getLogger(__name__)


HOUR, DAY = 3600 * NS, 86400 * NS
BINS = ((HOUR, "hour"), (6 * HOUR, "6 hours"), (DAY, "day"), (7 * DAY, "week"),
        (30 * DAY, "30 days"))
MAX_BINS = 200
GROUPINGS = ("infrastructure", "account", "user", "partition", "qos")
WHATS = {"cpu": "CPU-hours", "gpu": "GPU-hours"}
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
    return BINS[-1]


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


def _choice(args: dict[str, str], key: str, choices, default: str, errors: list[str]) -> str:
    value = args.get(key, "").strip() or default
    if value not in choices:
        errors.append(f"{key}={value!r} is not one of {', '.join(choices)}; using {default}")
        return default
    return value


class ResourcesPage:
    """One session's resources view: controls, charts and the URL they are kept in."""

    def __init__(self, sources: Sources, args: dict[str, str]):
        self.sources = sources
        self.embed = layout.is_embed(args)
        self.theme = embed.theme_of(args)
        self.errors: list[str] = []
        self.label = args.get("usage", "").strip()
        try:
            self.store = sources.usage(self.label or None)
        except ValueError as exc:
            if not self.label:
                raise
            self.errors.append(str(exc))
            self.label = ""
            self.store = sources.usage(None)
        span = jobs_span(self.store.jobs(["submit", "start", "end"]))
        self.span = span or (now_ns() - 30 * DAY, now_ns())
        self.by = _choice(args, "by", GROUPINGS, "infrastructure", self.errors)
        self.what = _choice(args, "what", WHATS, "cpu", self.errors)
        metrics = self.store.metrics()
        self.metric_name = _choice(args, "metric", metrics, metrics[0], self.errors) \
            if metrics else ""
        end = -(-self.span[1] // HOUR) * HOUR  # whole hours read better in the URL
        default = (max(self.span[0] // HOUR * HOUR, end - 30 * DAY), end)
        self.from_text = args.get("from", "").strip() or format_time(default[0])
        self.to_text = args.get("to", "").strip() or format_time(default[1])
        try:
            self.t0, self.t1 = parse_range(self.from_text, self.to_text, now_ns())
        except ValueError as exc:
            self.errors.append(f"{exc}; showing the last 30 days of jobs instead")
            self.t0, self.t1 = default
            self.from_text, self.to_text = format_time(self.t0), format_time(self.t1)
        self.w_from = pn.widgets.TextInput(name="From (UTC, ISO or now-7d)", value=self.from_text,
                                           width=210)
        self.w_to = pn.widgets.TextInput(name="To", value=self.to_text, width=210)
        self.w_quick = pn.widgets.Select(name="Quick range", options=["—", *QUICK], value="—",
                                         width=170)
        self.w_quick.param.watch(self._quick, "value")
        self.w_by = pn.widgets.Select(name="Group by", options=list(GROUPINGS), value=self.by,
                                      width=150)
        self.w_what = pn.widgets.RadioButtonGroup(name="Hours", options={
            "CPU-hours": "cpu", "GPU-hours": "gpu"}, value=self.what, margin=(22, 10, 5, 10))
        self.w_metric = pn.widgets.Select(name="Node metric", options=metrics or ["—"],
                                          value=self.metric_name or "—", width=220)
        for w in (self.w_from, self.w_to, self.w_by, self.w_what, self.w_metric):
            w.param.watch(self._changed, "value")
        self.messages = pn.Column(sizing_mode="stretch_width")
        self.body = pn.Column(sizing_mode="stretch_width")
        self._show()

    def _quick(self, event) -> None:
        if event.new not in QUICK:
            return
        f, t = QUICK[event.new]
        if f.startswith("data-"):  # relative to the end of the jobs, not to now
            days = int(f.split("-")[1].rstrip("d"))
            end = -(-self.span[1] // HOUR) * HOUR
            first = self.span[0] // HOUR * HOUR
            f, t = format_time(max(first, end - days * DAY) if days else first), format_time(end)
        self._hold = True
        try:
            self.w_quick.value = "—"
            self.w_from.value, self.w_to.value = f, t
        finally:
            self._hold = False
        self._changed(None)

    def _changed(self, event) -> None:
        if getattr(self, "_hold", False):
            return
        errors = []
        try:
            t0, t1 = parse_range(self.w_from.value, self.w_to.value, now_ns())
        except ValueError as exc:
            errors.append(str(exc))
        else:
            self.t0, self.t1 = t0, t1
            self.from_text, self.to_text = self.w_from.value.strip(), self.w_to.value.strip()
        self.by, self.what = self.w_by.value, self.w_what.value
        self.metric_name = "" if self.w_metric.value == "—" else self.w_metric.value
        self.errors = errors
        self._show()

    def query(self) -> dict[str, str]:
        """URL parameters that restore this view."""
        q = {"from": self.from_text, "to": self.to_text, "by": self.by, "what": self.what}
        if self.theme != "light":
            q["theme"] = self.theme
        if self.label:
            q["usage"] = self.label
        if self.metric_name and self.metric_name != (self.store.metrics() or [""])[0]:
            q["metric"] = self.metric_name
        return q

    def locked_query(self) -> dict[str, str]:
        """The same view with its time range as absolute times."""
        return {**self.query(), "from": format_time(self.t0), "to": format_time(self.t1)}

    def _show(self) -> None:
        self.messages[:] = [layout.alert(e) for e in self.errors]
        try:
            self.body[:] = self._charts()
        except Exception as exc:  # a broken store must not take the page down
            log.error("resources failed:\n%s", traceback.format_exc())
            self.body[:] = [layout.alert(f"Could not read the usage store: {exc}")]
        layout.set_query(self.query())

    def _charts(self) -> list[pn.viewable.Viewable]:
        items = self._chart_items()
        for item in items:
            for pane in ([item] if not isinstance(item, pn.Row) else list(item)):
                if isinstance(pane, pn.pane.Bokeh):
                    embed.style_figure(pane.object, self.theme)
        return items

    def _chart_items(self) -> list[pn.viewable.Viewable]:
        t0, t1 = self.t0, self.t1
        jobs = self.store.jobs(JOB_COLUMNS, t0, t1)
        x_range = Range1d(float(ms(t0)), float(ms(t1)))
        m = aggregate.job_metrics(jobs) if len(jobs) else None
        items: list[pn.viewable.Viewable] = [
            pn.pane.Markdown(f"{format_time(t0)} → {format_time(t1)} "
                             f"({format_duration(t1 - t0)}) · " + summary_line(jobs),
                             margin=(0, 12)),
            pn.pane.Bokeh(usage_figure(jobs, t0, t1, self.by, self.what, x_range),
                          sizing_mode="stretch_width"),
            pn.pane.Bokeh(queue_figure(jobs, t0, t1, x_range), sizing_mode="stretch_width"),
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
        if self.metric_name:
            metric = self.store.metric(self.metric_name)
            items.append(pn.pane.Bokeh(heatmap_figure(metric, t0, t1, x_range, "heatmap"),
                                       sizing_mode="stretch_width"))
        if not self.embed:
            if len(jobs):
                items += [pn.pane.Markdown(f"### Top {self.by}s by {WHATS[self.what]}",
                                           margin=(0, 12)),
                          top_table(jobs, self.by, self.what)]
            items += [pn.pane.Markdown("### What preparing the data cost (ingest runs)",
                                       margin=(0, 12)), runs_table(self.store.runs())]
        return items

    def view(self) -> pn.viewable.Viewable:
        """The whole page."""
        body: list[pn.viewable.Viewable] = [self.messages]
        if not self.embed:
            body += [share.ShareControl("resources", self.query, "usage",
                                        self.locked_query).view(),
                     pn.Row(self.w_from, self.w_to, self.w_quick, self.w_by, self.w_what,
                            self.w_metric)]
        body.append(self.body)
        return layout.page("resources", *body, embed=self.embed, title="Resources")


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


def resources_page(sources: Sources) -> pn.viewable.Viewable:
    """Page factory for /resources: any failure becomes a message, never a traceback."""
    return layout.guarded_page("resources", lambda args: ResourcesPage(sources, args).view(),
                               title="Resources")
