"""Which resources for which analysis, from the recorded runs: throughput and cost per
(analysis, infrastructure), computed from the usage store's runs table.

Each `belvedere analyse` run is one row there (`kind` `analyse-<ANALYSIS>`, its
`infrastructure`, wall `seconds`, `cpu_seconds`, and in `detail` the tasks computed, the
samples read, the tasks' own CPU and wall time and the start-up before the first result). Only
runs that computed something count: a run that found every day unchanged measures nothing.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

COLUMNS = ["analysis", "infrastructure", "runs", "channel-days", "channel-days per core-hour",
           "channel-days per wall-hour", "wall s", "CPU s", "start-up s (median)",
           "start-up % of wall", "samples read", "workers", "best for"]


def _detail(text: object) -> dict:
    try:
        d = json.loads(str(text)) if text else {}
    except (json.JSONDecodeError, TypeError):
        return {}
    return d if isinstance(d, dict) else {}


def analysis_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The analysis runs that computed tasks: one row each with its measured figures."""
    if not len(runs):
        return pd.DataFrame(columns=["analysis", "infrastructure", "tasks", "samples", "wall",
                                     "cpu", "startup", "workers"])
    r = runs[runs["kind"].astype(str).str.startswith("analyse-")
             & (runs["status"].astype(str) == "ok")]
    details = [_detail(d) for d in r["detail"]]
    out = pd.DataFrame({
        "analysis": r["kind"].astype(str).str.removeprefix("analyse-").to_numpy(),
        "infrastructure": r["infrastructure"].astype(str).replace("", "unlabelled").to_numpy(),
        "tasks": [int(d.get("tasks", 0)) for d in details],
        "samples": [int(d.get("samples_read", 0)) for d in details],
        "wall": r["seconds"].to_numpy(dtype=float),
        "cpu": r["cpu_seconds"].to_numpy(dtype=float),
        "startup": [float(d.get("startup_s", np.nan)) for d in details],
        "workers": [int(d.get("workers", 1)) for d in details]})
    return out[out["tasks"] > 0].reset_index(drop=True)


def throughput(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (analysis, infrastructure): runs, channel-days computed, channel-days per core-hour
    (CPU) and per wall-hour, total wall and CPU, median start-up, and which infrastructure is
    the fastest (wall) and the cheapest (CPU) for each analysis."""
    a = analysis_runs(runs)
    if not len(a):
        return pd.DataFrame(columns=COLUMNS)
    g = a.groupby(["analysis", "infrastructure"], sort=True)
    t = pd.DataFrame({
        "runs": g.size(), "channel-days": g["tasks"].sum(), "wall s": g["wall"].sum(),
        "CPU s": g["cpu"].sum(), "start-up s (median)": g["startup"].median(),
        "samples read": g["samples"].sum(), "workers": g["workers"].max()}).reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        t["channel-days per core-hour"] = t["channel-days"] / (t["CPU s"] / 3600.0)
        t["channel-days per wall-hour"] = t["channel-days"] / (t["wall s"] / 3600.0)
        t["start-up % of wall"] = 100.0 * t["start-up s (median)"] * t["runs"] / t["wall s"]
    t = t.replace([np.inf, -np.inf], np.nan)
    best = []
    for _, row in t.iterrows():
        same = t[t["analysis"] == row["analysis"]]
        tags = []
        if len(same) > 1:
            if row["channel-days per wall-hour"] == same["channel-days per wall-hour"].max():
                tags.append("fastest")
            if row["channel-days per core-hour"] == same["channel-days per core-hour"].max():
                tags.append("cheapest")
        best.append(", ".join(tags))
    t["best for"] = best
    for c in ("channel-days per core-hour", "channel-days per wall-hour"):
        t[c] = t[c].round(0)
    for c in ("wall s", "CPU s", "start-up s (median)", "start-up % of wall"):
        t[c] = t[c].round(1)
    return t[COLUMNS]


__all__ = ["COLUMNS", "analysis_runs", "throughput"]
