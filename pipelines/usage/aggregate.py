"""Read-side summaries of the jobs table for the `/resources` views, in O(jobs + bins).

Each function takes the DataFrame `UsageStore.jobs()` returns (only the columns it needs have
to be read) and gives back a small frame sized by bins and groups, never by jobs.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from pipelines.timebase import NS

GROUPINGS = ("infrastructure", "cluster", "account", "user", "partition", "qos", "state")


def _ns(col: pd.Series) -> np.ndarray:
    return col.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _cumulative_overlap(start: np.ndarray, end: np.ndarray, weight: np.ndarray,
                        edges: np.ndarray) -> np.ndarray:
    """G(t) = sum of weight * |[start, end) ∩ (-inf, t)| (seconds) at every edge t."""
    def part(points: np.ndarray) -> np.ndarray:
        order = np.argsort(points, kind="stable")
        p, w = points[order], weight[order]
        cw = np.concatenate([[0.0], np.cumsum(w)])
        cwp = np.concatenate([[0.0], np.cumsum(w * (p / NS))])
        k = np.searchsorted(p, edges, side="left")
        return (edges / NS) * cw[k] - cwp[k]
    return part(start) - part(end)


def usage_over_time(jobs: pd.DataFrame, t0_ns: int, t1_ns: int, bin_ns: int,
                    by: str | None = None, what: str = "cpu", top: int = 12,
                    now_ns: int | None = None) -> pd.DataFrame:
    """CPU-hours (`what="cpu"`) or GPU-hours (`"gpu"`) used in each bin, one column per group.

    Jobs are counted while they run: [start, end), a running job until `now`. With `by`, the
    `top` largest groups get a column each and the rest share `other`. Index: bin starts (UTC).
    """
    weight_col = {"cpu": "ncpus", "gpu": "ngpus"}[what]
    edges = np.arange(t0_ns, t1_ns + bin_ns, bin_ns, dtype=np.int64)
    index = pd.DatetimeIndex(edges[:-1].view("datetime64[ns]"), name="time_utc")
    start = _ns(jobs["start"]) if len(jobs) else np.zeros(0, np.int64)
    ok = start != np.iinfo(np.int64).min
    now = time.time_ns() if now_ns is None else now_ns
    end = _ns(jobs["end"]) if len(jobs) else np.zeros(0, np.int64)
    end = np.where(end == np.iinfo(np.int64).min, max(now, t0_ns), end)
    end = np.maximum(end, start)
    weight = jobs[weight_col].to_numpy(dtype=np.float64) / 3600.0 if len(jobs) else \
        np.zeros(0)
    weight = np.where(weight > 0, weight, 0.0)
    groups = (jobs[by].astype(object).fillna("").astype(str).to_numpy() if by
              else np.full(len(jobs), what + "_hours", dtype=object))
    start, end, weight, groups = start[ok], end[ok], weight[ok], groups[ok]
    cols: dict[str, np.ndarray] = {}
    for g in pd.unique(groups):
        m = groups == g
        cols[str(g)] = np.diff(_cumulative_overlap(start[m], end[m], weight[m], edges))
    df = pd.DataFrame(cols, index=index)
    if by and df.shape[1] > top:
        order = df.sum().sort_values(ascending=False).index
        keep, rest = list(order[:top]), list(order[top:])
        df = df[keep].assign(other=df[rest].sum(axis=1))
    return df


def running_and_pending(jobs: pd.DataFrame, t0_ns: int, t1_ns: int, bin_ns: int
                        ) -> pd.DataFrame:
    """Jobs running and jobs pending at each bin start.

    Running: start <= t < end (no end yet: still running). Pending: submit <= t < start (never
    started: until its end, e.g. cancelled while pending, or still pending).
    """
    edges = np.arange(t0_ns, t1_ns, bin_ns, dtype=np.int64)
    nat, big = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    sub, st, en = (_ns(jobs[c]) for c in ("submit", "start", "end"))
    open_end = np.where(en == nat, big, en)

    def count(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        keep = a != nat
        a, b = np.sort(a[keep]), np.sort(np.maximum(b[keep], a[keep]) if keep.any() else b[keep])
        return np.searchsorted(a, edges, "right") - np.searchsorted(b, edges, "right")

    running = count(st, open_end)
    pending = count(sub, np.where(st == nat, open_end, st))
    return pd.DataFrame({"running": running, "pending": pending},
                        index=pd.DatetimeIndex(edges.view("datetime64[ns]"), name="time_utc"))


def job_metrics(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per-job derived figures: wait (s), CPU-hours, GPU-hours, efficiency (TotalCPU/CPU time)."""
    wait = (jobs["start"] - jobs["submit"]).dt.total_seconds()
    cpu_time = jobs["ncpus"].astype(float) * jobs["elapsed_s"]
    eff = jobs["total_cpu_s"] / cpu_time.where(cpu_time > 0)
    return pd.DataFrame({
        "wait_s": wait, "cpu_hours": cpu_time / 3600.0,
        "gpu_hours": jobs["ngpus"].clip(lower=0) * jobs["elapsed_s"] / 3600.0,
        "efficiency": eff,
    }, index=jobs.index)


def top_n(jobs: pd.DataFrame, by: str = "user", n: int = 10, what: str = "cpu"
          ) -> pd.DataFrame:
    """The `n` largest users (or accounts, ...) by CPU- or GPU-hours, with job counts."""
    m = job_metrics(jobs)
    df = pd.DataFrame({by: jobs[by].astype(object), "hours": m[f"{what}_hours"],
                       "efficiency_num": jobs["total_cpu_s"], "cpu_s": m["cpu_hours"] * 3600})
    g = df.groupby(by, dropna=False)
    out = pd.DataFrame({"jobs": g.size(), f"{what}_hours": g["hours"].sum(),
                        "efficiency": g["efficiency_num"].sum() / g["cpu_s"].sum()})
    return out.sort_values(f"{what}_hours", ascending=False).head(n)
