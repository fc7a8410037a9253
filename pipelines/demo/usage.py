"""A synthetic campus computing history for the demo and the tests: jobs and node metrics.

Three infrastructures (the local cluster, a national centre, a Kubernetes cloud), accounts and
users with very different appetites, a daily and weekly submission cycle, queue waits that grow
with the job size, a few GPU jobs, failures and cancellations, and per-node CPU utilisation
that follows the jobs placed on each node. Written through the usage store like real data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.timebase import NS
from pipelines.usage.usage_store import open_usage_store

HOUR = 3600 * NS
DAY = 24 * HOUR
INFRA = {"campus-cluster": ("batch", "gpu"), "national-hpc": ("standard", "large"),
         "campus-cloud": ("k8s",)}
ACCOUNTS = {"seismo": ("anna", "ben", "chiara"), "lisa": ("dmitri", "eva"),
            "svom": ("farid", "greta"), "ops": ("hugo",)}
STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT")


def synthetic_jobs(start_ns: int, days: int, n_jobs: int, seed: int = 0) -> pd.DataFrame:
    """Jobs (the usage store's columns) submitted over `days` days from start_ns."""
    rng = np.random.default_rng(seed)
    # Submissions follow office hours and weekdays.
    hour_w = 0.3 + np.exp(-0.5 * ((np.arange(24) - 14) / 3.5) ** 2)
    t = []
    while len(t) < n_jobs:
        cand = rng.uniform(0, days * DAY, n_jobs)
        h = ((cand // HOUR) % 24).astype(int)
        weekday = ((start_ns + cand) // DAY + 3) % 7 < 5
        keep = rng.random(n_jobs) < hour_w[h] / hour_w.max() * np.where(weekday, 1.0, 0.35)
        t.extend(cand[keep])
    submit = start_ns + np.sort(np.asarray(t[:n_jobs])).astype(np.int64)
    accounts = rng.choice(list(ACCOUNTS), n_jobs, p=[0.45, 0.3, 0.15, 0.1])
    users = np.array([rng.choice(ACCOUNTS[a]) for a in accounts])
    infra = rng.choice(list(INFRA), n_jobs, p=[0.6, 0.3, 0.1])
    partition = np.array([rng.choice(INFRA[i]) for i in infra])
    ncpus = 2 ** rng.integers(0, 8, n_jobs)
    ncpus = np.where(partition == "large", ncpus * 16, ncpus)
    ngpus = np.where(partition == "gpu", rng.integers(1, 5, n_jobs), 0)
    elapsed = np.exp(rng.normal(np.log(1800), 1.3, n_jobs)).clip(5, 2 * 86400)
    wait = np.exp(rng.normal(np.log(120), 1.5, n_jobs)) * (1 + np.log2(ncpus) / 2)
    state = rng.choice(STATES, n_jobs, p=[0.82, 0.08, 0.07, 0.03])
    start = submit + (wait * NS).astype(np.int64)
    end = start + (elapsed * NS).astype(np.int64)
    eff = np.clip(rng.beta(5, 2, n_jobs) * np.where(accounts == "svom", 0.5, 1.0), 0.01, 1)
    job_id = np.arange(100_000, 100_000 + n_jobs)
    return pd.DataFrame({
        "cluster": infra, "job_id": job_id.astype(str), "job_id_raw": job_id,
        "infrastructure": infra, "partition": partition, "qos": np.where(
            ncpus >= 64, "long", "normal"), "account": accounts, "group": accounts,
        "user": users, "job_name": [f"job{j}" for j in job_id], "state": state,
        "exit_code": np.where(state == "FAILED", "1:0", "0:0"),
        "submit": pd.to_datetime(submit), "eligible": pd.to_datetime(submit),
        "start": pd.to_datetime(start), "end": pd.to_datetime(end), "elapsed_s": elapsed,
        "timelimit_s": np.full(n_jobs, 2 * 86400.0), "nnodes": np.maximum(ncpus // 64, 1),
        "ncpus": ncpus, "req_cpus": ncpus, "ngpus": ngpus,
        "req_mem_bytes": ncpus * 2**31, "max_rss_bytes": (ncpus * 2**30 * eff).astype(np.int64),
        "total_cpu_s": eff * ncpus * elapsed, "node_list": "", "source": "synthetic",
        "ingested": pd.Timestamp.now("UTC").tz_localize(None),
    })


def synthetic_node_cpu(start_ns: int, days: int, nodes: int, step_s: int = 60, seed: int = 0
                       ) -> tuple[np.ndarray, list[dict], np.ndarray]:
    """(times, series, values): per-node CPU utilisation in percent every `step_s` seconds."""
    rng = np.random.default_rng(seed)
    times = start_ns + np.arange(0, days * DAY, step_s * NS, dtype=np.int64)
    hours = (times - start_ns) / HOUR
    daily = 50 + 30 * np.sin(2 * np.pi * (hours - 9) / 24)
    values = np.empty((nodes, len(times)))
    for i in range(nodes):
        busy = np.repeat(rng.random(len(times) // 240 + 1) < 0.7, 240)[:len(times)]
        noise = rng.normal(0, 8, len(times))
        values[i] = np.clip(np.where(busy, daily + 35, daily * 0.3) + noise, 0, 100)
        down = rng.integers(0, len(times))
        if i % 17 == 3:  # a node out of service for a few hours: a gap, not zero
            values[i, down:down + 300] = np.nan
    series = [{"name": f'node_cpu{{instance="node{i:03d}"}}',
               "labels": {"instance": f"node{i:03d}"}} for i in range(nodes)]
    return times, series, values


def generate_usage(store_url: str, start_ns: int, days: int = 30, n_jobs: int = 20_000,
                   nodes: int = 64, seed: int = 0) -> str:
    """Write synthetic jobs and node metrics into a usage store (idempotent) and return it."""
    st = open_usage_store(store_url, "a")
    st.write_jobs(synthetic_jobs(start_ns, days, n_jobs, seed))
    times, series, values = synthetic_node_cpu(start_ns, days, nodes, seed=seed)
    st.write_metric("node_cpu", times, series, values,
                    {"query": "100 * (1 - avg by (instance) (rate(node_cpu_seconds_total"
                              '{mode="idle"}[1m])))', "infrastructure": "campus-cluster",
                     "source": "synthetic", "units": "%"})
    return store_url
