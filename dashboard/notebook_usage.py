"""The usage store as HoloViews DynamicMaps that read at the plot's resolution, with the
resources page's reads: a metric's nodes x time heatmap from the metric pyramid
(`Metric.read_window`), CPU- or GPU-hours per bin stacked by a grouping and jobs running and
pending (`aggregate` over the jobs of the window, bins chosen by `pick_bin`), and the ingest
runs' cost. Every zoom or pan re-reads only the window it shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import datashader as ds
import holoviews as hv
import numpy as np
import pandas as pd
import xarray as xr

from dashboard.notebook import DEFAULT_WIDTH, TIME_TOOLS, _dt, _ns
from dashboard.pages.resources import HEATMAP_WIDTH, JOB_COLUMNS, pick_bin
from dashboard.state import WHATS
from pipelines.timebase import NS
from pipelines.usage import aggregate

__all__ = ["JobsSource", "MetricSource", "bin_edges", "jobs_view", "metric_view", "queue_view",
           "runs_view", "usage_span"]
HOVER_TOOLS = {**TIME_TOOLS, "tools": ["hover", *TIME_TOOLS["tools"]]}

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a"]
OTHER = "other"


def usage_span(store: Any) -> tuple[int, int] | None:
    """[first submit, last end or start] of the store's jobs, or the metrics' span, in ns."""
    from dashboard.pages.resources import jobs_span

    span = jobs_span(store.jobs(["submit", "start", "end"]))
    if span is not None:
        return span
    times = [store.metric(m).times() for m in store.metrics()]
    times = [t for t in times if len(t)]
    return (int(min(t[0] for t in times)), int(max(t[-1] for t in times)) + 1) if times \
        else None


def _window(x_range: tuple | None, t0: int, t1: int) -> tuple[int, int]:
    if x_range is None:
        return t0, t1
    a, b = map(_ns, x_range)
    return (a, b) if b > a else (t0, t1)


@dataclass
class MetricFrame:
    """What one heatmap frame read: the window, the pyramid level and the buckets."""

    t0_ns: int
    t1_ns: int
    level: int
    buckets: int
    series: int


@dataclass
class MetricSource:
    """The heatmap DynamicMap's callback: the metric's buckets in the window at the finest
    pyramid level with no more buckets than the budget, binned onto one column per pixel by
    Datashader (timestamps may be irregular: a quadmesh puts each where it is)."""

    metric: Any
    t0_ns: int
    t1_ns: int
    width: int
    height: int
    clim: tuple[float, float]
    last: MetricFrame | None = None

    def __call__(self, x_range: tuple | None = None, y_range: tuple | None = None,
                 width: int | None = None, height: int | None = None,
                 scale: float | None = None) -> hv.Image:
        t0, t1 = _window(x_range, self.t0_ns, self.t1_ns)
        n = max(len(self.metric.series), 1)
        w = max(int((width or self.width) * (scale or 1.0)), 2)
        # The resources page's budget, for this plot's width: up to 4 buckets per pixel
        # column, at most ~4e6 values.
        budget = int(min(4 * w, max(w // 2, 4_000_000 // n)))
        times, mean, _mx, level = self.metric.read_window(t0, t1, max_points=budget,
                                                          at_least=False)
        grid = np.full((n, w), np.nan, dtype=np.float64)
        if mean.size and len(times) > 1:
            da = xr.DataArray(mean, coords={"node": np.arange(n), "t": times.astype(np.float64)},
                              dims=("node", "t"), name="v")
            canvas = ds.Canvas(plot_width=w, plot_height=n, x_range=(float(t0), float(t1)),
                               y_range=(-0.5, n - 0.5))
            grid = canvas.quadmesh(da, x="t", y="node", agg=ds.mean("v")).to_numpy()
        self.last = MetricFrame(t0, t1, level, int(mean.shape[-1]) if mean.size else 0, n)
        labels = [next(iter(s.get("labels", {}).values()), s["name"])
                  for s in self.metric.series]
        units = str(self.metric.attrs.get("units", ""))
        what = "raw samples" if level == 0 else f"means of 16^{level} samples"
        opts: dict[str, Any] = {"yticks": list(enumerate(labels))} if n <= 40 else {
            "ylabel": "series (node)"}
        return hv.Image(grid[::-1], bounds=(_dt(t0), -0.5, _dt(t1), n - 0.5),
                        kdims=["time", "series"], vdims=[hv.Dimension("value", unit=units)],
                        label=f"{self.metric.group.basename}: {n} series, {what}").opts(
            width=self.width, height=self.height, cmap="viridis", clim=self.clim,
            colorbar=True, clipping_colors={"NaN": (1, 1, 1, 0)}, xlabel="UTC",
            **HOVER_TOOLS,
            **({"ylabel": ""} if n <= 40 else {}), **opts)


def metric_view(metric: Any, t0_ns: int | None = None, t1_ns: int | None = None,
                width: int = DEFAULT_WIDTH, height: int | None = None,
                clim: tuple[float, float] | None = None) -> hv.DynamicMap:
    """A metric's series x time heatmap as a DynamicMap that reads the metric pyramid at the
    plot's resolution.

    Parameters
    ----------
    metric : pipelines.usage.usage_store.Metric
        `UsageStore.metric(name)`.
    t0_ns, t1_ns : int, optional
        The first range shown; the metric's timestamps by default.
    width, height : int
        The plot's size in pixels (height: 14 px per series, 160 to 560).
    clim : (float, float), optional
        The colour scale; 0-100 for a metric in %, else the top level's range.

    Returns
    -------
    holoviews.DynamicMap
        Of `hv.Image` frames (x time, y the series); `.callback.callable.last` is the latest
        MetricFrame (its pyramid `level`).
    """
    times = metric.times()
    if not len(times):
        raise ValueError(f"metric {metric.group.basename} holds no samples; nothing to view")
    t0_ns = int(times[0]) if t0_ns is None else int(t0_ns)
    t1_ns = int(times[-1]) + 1 if t1_ns is None else int(t1_ns)
    n = len(metric.series)
    height = height or int(min(max(n * (14 if n <= 40 else 4), 160), 560)) + 60
    if clim is None:
        if str(metric.attrs.get("units", "")) == "%":
            clim = (0.0, 100.0)
        else:  # one scale for every zoom, from the coarsest level (O(pixels) to read)
            _t, mean, _mx, _k = metric.read_window(None, None, max_points=HEATMAP_WIDTH,
                                                   at_least=False)
            finite = mean[np.isfinite(mean)]
            clim = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    source = MetricSource(metric, t0_ns, t1_ns, width, height, clim)
    return hv.DynamicMap(source, streams=[
        hv.streams.RangeXY(x_range=(_dt(t0_ns), _dt(t1_ns))),
        hv.streams.PlotSize(width=width, height=height)])


def bin_edges(t0_ns: int, t1_ns: int, bin_ns: int) -> tuple[int, int]:
    """[a, b): the whole bins (on multiples of `bin_ns`) that cover [t0, t1)."""
    return (t0_ns // bin_ns) * bin_ns, -(-t1_ns // bin_ns) * bin_ns


@dataclass
class JobsFrame:
    """What one jobs frame aggregated: the window, the bin and the jobs read."""

    t0_ns: int
    t1_ns: int
    bin_ns: int
    bin_name: str
    jobs: int


@dataclass
class JobsSource:
    """The callback of the jobs DynamicMaps: the jobs overlapping the window (the columns
    the resources page reads), aggregated per bin; `kind` is `usage` (stacked hours per
    group) or `queue` (jobs running and pending)."""

    store: Any
    kind: str
    t0_ns: int
    t1_ns: int
    width: int
    height: int
    by: str = "infrastructure"
    what: str = "cpu"
    groups: list[str] = field(default_factory=list)
    now_ns: int | None = None
    last: JobsFrame | None = None

    def __call__(self, x_range: tuple | None = None, y_range: tuple | None = None,
                 width: int | None = None, height: int | None = None,
                 scale: float | None = None) -> hv.Overlay:
        t0, t1 = _window(x_range, self.t0_ns, self.t1_ns)
        bin_ns, bin_name = pick_bin(t1 - t0)
        if self.kind == "queue":
            bin_ns = max(bin_ns // 6, 60 * NS)  # as the page: finer steps than the bars
            bin_name = f"{bin_ns // NS} s"
        # Whole bins on multiples of the bin, so a pan keeps the bars where they were.
        a, b = bin_edges(t0, t1, bin_ns)
        # Only the columns this chart aggregates (the page reads JOB_COLUMNS once for all).
        columns = (["submit", "start", "end"] if self.kind == "queue" else
                   [self.by, "start", "end", "ncpus", "ngpus"])
        jobs = self.store.jobs(columns, a, b)
        self.last = JobsFrame(t0, t1, bin_ns, bin_name, len(jobs))
        # The window, not the bins, sets the axis: the plot's range (RangeXY) stays the one
        # asked for instead of moving to the first bin's start.
        xlim = (_dt(t0), _dt(t1))
        if self.kind == "queue":
            return self._queue(jobs, a, b, bin_ns).opts(xlim=xlim)
        return self._usage(jobs, a, b - bin_ns, bin_ns, bin_name).opts(xlim=xlim)

    def _usage(self, jobs: pd.DataFrame, t0: int, t1: int, bin_ns: int, bin_name: str
               ) -> hv.Overlay:
        if len(jobs):
            jobs = jobs.assign(**{self.by: jobs[self.by].astype(str).where(
                jobs[self.by].astype(str).isin(self.groups), OTHER)})
        df = aggregate.usage_over_time(jobs, t0, t1, bin_ns, by=self.by, what=self.what,
                                       top=len(self.groups) + 1, now_ns=self.now_ns)
        # The same groups in every frame: the legend and colours stay put while zooming.
        names = [*self.groups, OTHER]
        df = df.reindex(columns=names, fill_value=0.0)
        x0 = df.index.values
        x1 = x0 + np.timedelta64(int(bin_ns * 0.9), "ns")
        bottom = np.zeros(len(df))
        bars = []
        for g, color in zip(names, COLORS, strict=False):
            top = bottom + df[g].to_numpy()
            bars.append(hv.Rectangles((x0, bottom, x1, top), kdims=["time", "y0", "x1", "y1"],
                                      label=g).opts(color=color, line_alpha=0, **TIME_TOOLS))
            bottom = top
        ylabel = WHATS[self.what]
        return hv.Overlay(bars).opts(
            width=self.width, height=self.height, xlabel="UTC", ylabel=ylabel,
            title=f"{ylabel} per {bin_name} by {self.by}", legend_position="right",
            show_legend=True).redim.label(y0=ylabel)

    def _queue(self, jobs: pd.DataFrame, t0: int, t1: int, bin_ns: int) -> hv.Overlay:
        rp = (aggregate.running_and_pending(jobs, t0, t1, bin_ns) if len(jobs) else
              pd.DataFrame({"running": [0], "pending": [0]},
                           index=pd.DatetimeIndex([np.datetime64(t0, "ns")], name="time_utc")))
        curves = [hv.Curve((rp.index.values, rp[c].to_numpy()), kdims=["time"], vdims=["jobs"],
                           label=c).opts(color=color, line_width=2, interpolation="steps-post",
                                         **TIME_TOOLS)
                  for c, color in (("running", "#1d7a46"), ("pending", "#b0361f"))]
        return hv.Overlay(curves).opts(width=self.width, height=self.height, xlabel="UTC",
                                       title="Jobs running and pending",
                                       legend_position="top_left")


def _jobs_map(store: Any, kind: str, t0_ns: int | None, t1_ns: int | None, width: int,
              height: int, **kwargs: Any) -> hv.DynamicMap:
    if t0_ns is None or t1_ns is None:
        span = usage_span(store)
        if span is None:
            raise ValueError(f"usage store {store.url} holds no jobs; ingest some with "
                             "`belvedere ingest usage`")
        t0_ns = span[0] if t0_ns is None else t0_ns
        t1_ns = span[1] if t1_ns is None else t1_ns
    source = JobsSource(store, kind, int(t0_ns), int(t1_ns), width, height, **kwargs)
    return hv.DynamicMap(source, streams=[
        hv.streams.RangeXY(x_range=(_dt(t0_ns), _dt(t1_ns))),
        hv.streams.PlotSize(width=width, height=height)])


def jobs_view(store: Any, by: str = "infrastructure", what: str = "cpu",
              t0_ns: int | None = None, t1_ns: int | None = None, width: int = DEFAULT_WIDTH,
              height: int = 320, top: int = 12, now_ns: int | None = None) -> hv.DynamicMap:
    """CPU- or GPU-hours per bin stacked by `by`, as a DynamicMap that re-bins the jobs of
    each window as the resources page does (at most 200 bars).

    Parameters
    ----------
    store : pipelines.usage.usage_store.UsageStore
        The usage store.
    by : str
        The grouping: a jobs column (infrastructure, account, user, partition, qos, state).
    what : str
        `cpu` or `gpu`.
    t0_ns, t1_ns : int, optional
        The first range shown; the jobs' span by default.
    top : int
        The largest groups (over the whole store) that get a colour; the rest is `other`.
    now_ns : int, optional
        Where running jobs end (now by default).

    Returns
    -------
    holoviews.DynamicMap
        Of overlays of `hv.Rectangles`, one per group; `.callback.callable.last` is the
        latest JobsFrame (its `bin_ns`).
    """
    if what not in WHATS:
        raise ValueError(f"what={what!r}: choose one of {', '.join(WHATS)}")
    if by not in JOB_COLUMNS[:6]:
        raise ValueError(f"by={by!r}: choose one of {', '.join(JOB_COLUMNS[:6])}")
    jobs = store.jobs([by, "start", "end", "ncpus", "ngpus"])
    groups: list[str] = []
    if len(jobs):
        hours = jobs.assign(w=jobs[{"cpu": "ncpus", "gpu": "ngpus"}[what]].clip(lower=0) * (
            (jobs["end"] - jobs["start"]).dt.total_seconds().fillna(0).clip(lower=0)))
        groups = [str(g) for g in hours.groupby(jobs[by].astype(str))["w"].sum()
                  .sort_values(ascending=False).index[:top] if str(g) != OTHER]
    return _jobs_map(store, "usage", t0_ns, t1_ns, width, height, by=by, what=what,
                     groups=groups, now_ns=now_ns)


def queue_view(store: Any, t0_ns: int | None = None, t1_ns: int | None = None,
               width: int = DEFAULT_WIDTH, height: int = 220) -> hv.DynamicMap:
    """Jobs running and pending over time as a DynamicMap (steps at 1/6 of the bars' bin,
    as on the resources page)."""
    return _jobs_map(store, "queue", t0_ns, t1_ns, width, height)


def runs_view(store: Any, width: int = DEFAULT_WIDTH, height: int = 220) -> hv.Overlay:
    """The project's own ingest runs: each run's wall time at its start, one colour per kind
    (the runs table is one row per run: small, drawn whole)."""
    runs = store.runs()
    if not len(runs):
        raise ValueError(f"usage store {store.url} records no ingest runs (set "
                         "BELVEDERE_USAGE_STORE when ingesting to record them)")
    # x is `started`, not `time`: the runs span other dates than the jobs, and a layout
    # would otherwise link their axes.
    points = [hv.Scatter(r[["started", "seconds"]], "started", ["seconds"], label=str(kind))
              .opts(size=8, color=color)
              for (kind, r), color in zip(runs.groupby(runs["kind"].astype(str)), COLORS,
                                          strict=False)]
    return hv.Overlay(points).opts(width=width, height=height, xlabel="UTC",
                                   ylabel="wall time (s)", title="Ingest runs",
                                   legend_position="right", tools=["hover"])
