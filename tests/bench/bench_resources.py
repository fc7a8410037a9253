"""Resources benchmark: the /resources charts over a year of a large cluster.

    python tests/bench/bench_resources.py [--nodes 1000] [--days 365] [--jobs 500000]

Builds (or reuses) a usage store holding `--jobs` jobs and a node-CPU metric of `--nodes`
series every 5 minutes over `--days` days, then prints the time to build each chart for
windows of a day, a month and the whole year: the node heatmap (read through the metric
pyramid and rasterised by Datashader) must stay flat as the window grows; the job charts are
O(jobs in the window + bins). Baseline in the same run: reading the raw metric for the window.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dashboard.pages import resources  # noqa: E402
from pipelines.demo.usage import synthetic_jobs  # noqa: E402
from pipelines.timebase import NS
from pipelines.usage.usage_store import open_usage_store  # noqa: E402

DAY = 86400 * NS
START = pd.Timestamp("2024-01-01").value
STEP_S = 300


def build(path: Path, nodes: int, days: int, n_jobs: int) -> None:
    """Jobs and a node metric; written month by month, as a periodic ingest would."""
    st = open_usage_store(str(path), "a")
    if st.n_jobs() >= n_jobs and "node_cpu" in st.metrics():
        return
    t = time.perf_counter()
    st.write_jobs(synthetic_jobs(START, days, n_jobs))
    rng = np.random.default_rng(0)
    series = [{"name": f'node_cpu{{instance="n{i:04d}"}}', "labels": {"instance": f"n{i:04d}"}}
              for i in range(nodes)]
    per = 30 * DAY // (STEP_S * NS)
    times = START + np.arange(0, days * DAY, STEP_S * NS, dtype=np.int64)
    for a in range(0, len(times), per):
        tt = times[a:a + per]
        hours = (tt - START) / (3600 * NS)
        daily = 50 + 30 * np.sin(2 * np.pi * (hours - 9) / 24)
        vals = np.clip(daily[None, :] + rng.normal(0, 15, (nodes, len(tt))), 0, 100)
        st.write_metric("node_cpu", tt, series, vals.round(1), {"units": "%"})
    print(f"built {path.name}: {n_jobs:,} jobs, {nodes} x {len(times):,} metric values "
          f"in {time.perf_counter() - t:.0f} s")


def timed(fn, repeat: int = 5) -> float:
    """Median milliseconds of fn()."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return statistics.median(out)


def main() -> None:
    """Build the store if needed and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--jobs", type=int, default=500_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench-resources"))
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"usage-{args.nodes}x{args.days}.zarr"
    build(path, args.nodes, args.days, args.jobs)
    st = open_usage_store(str(path))
    m = st.metric("node_cpu")
    end = START + args.days * DAY
    rng = resources.Range1d(0, 1)
    print(f"{'window':>8} {'heatmap ms':>11} {'raw read ms':>12} {'jobs charts ms':>15} "
          f"{'jobs':>8}")
    for label, span in (("1 day", DAY), ("30 days", 30 * DAY), ("whole", end - START)):
        t0 = end - span
        heat = timed(lambda t0=t0: resources.heatmap_figure(m, t0, end, rng, "h"))
        raw = timed(lambda t0=t0: m.values(t0, end), repeat=1 if span > 30 * DAY else 3)

        def charts(t0=t0) -> int:
            jobs = st.jobs(resources.JOB_COLUMNS, t0, end)
            resources.usage_figure(jobs, t0, end, "account", "cpu", rng)
            resources.queue_figure(jobs, t0, end, rng)
            resources.summary_line(jobs)
            return len(jobs)

        n = charts()
        jc = timed(charts, repeat=3)
        print(f"{label:>8} {heat:>11.0f} {raw:>12.0f} {jc:>15.0f} {n:>8,}")


if __name__ == "__main__":
    main()
