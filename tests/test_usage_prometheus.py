"""Prometheus range queries against a real Prometheus scraping a real node exporter."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from usage_servers import prom_get

from pipelines.timebase import NS
from pipelines.usage.prometheus import (
    PROMETHEUS_POINT_LIMIT,
    Query,
    plan_requests,
    points_per_series,
    query_range,
    series_name,
)
from pipelines.usage.usage_store import UsageStore
from tests.conftest import run_cli

QUERIES = {
    "node_cpu": "sum by (instance, mode) (rate(node_cpu_seconds_total[5s]))",
    "node_mem_avail": "node_memory_MemAvailable_bytes",
    "load1": "node_load1",
}


def _window(prom) -> tuple[int, int]:
    """A window of real samples, ending a few seconds ago so no sample can still arrive."""
    t1 = (time.time_ns() - 3 * NS) // NS * NS
    t0 = max(-(-prom.started_ns // NS) * NS, t1 - 60 * NS)
    return t0, t1


def _iso(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns").strftime("%Y-%m-%dT%H:%M:%S")


def _prometheus_answer(url: str, promql: str, t0: int, t1: int, step: str) -> dict:
    ans = prom_get(url, "/api/v1/query_range", query=promql, start=str(t0 // NS),
                   end=str(t1 // NS), step=step)
    assert ans["status"] == "success", ans
    return {series_name("x", r["metric"]): r["values"] for r in ans["data"]["result"]}


def test_cli_ingest_matches_prometheus_answer(prometheus_server, tmp_path):
    prom = prometheus_server
    t0, t1 = _window(prom)
    store = tmp_path / "u.zarr"
    args = ["ingest", "usage", "--store", str(store), "--infrastructure", "cloud",
            "--prometheus", prom.url, "--from", _iso(t0), "--to", _iso(t1), "--step", "1s"]
    for name, promql in QUERIES.items():
        args += ["--query", f"{name}={promql}"]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    st = UsageStore(str(store))
    assert st.metrics() == sorted(QUERIES)
    compared = 0
    for name, promql in QUERIES.items():
        truth = _prometheus_answer(prom.url, promql, t0, t1, "1")
        m = st.metric(name)
        assert len(truth) == len(m.series) > 0
        times = m.times()
        values = m.values()
        for i, s in enumerate(m.series):
            expect = truth[series_name("x", s["labels"])]
            exp_t = np.array([int(round(p[0] * 1000)) * 10**6 for p in expect])
            exp_v = np.array([float(p[1]) for p in expect])
            present = ~np.isnan(values[i])
            assert np.array_equal(times[present], exp_t)
            assert np.array_equal(values[i][present], exp_v)  # bit for bit
            compared += len(exp_v)
        assert m.attrs["query"] == promql and m.attrs["infrastructure"] == "cloud"
    assert compared >= 50
    print(f"compared {compared} Prometheus points")
    # The same run again: nothing new to write.
    r = run_cli(*args)
    assert r.returncode == 0 and "nothing changed" in r.stdout
    # The metric exports with its series as columns.
    out = tmp_path / "load.csv"
    r = run_cli("export", "--store", str(store), "load1", "--format", "csv", "-o", str(out))
    assert r.returncode == 0, r.stderr
    csv = pd.read_csv(out)
    assert list(csv.columns) == ["time_utc", st.metric("load1").series[0]["name"]]
    assert csv.iloc[:, 1].notna().sum() == (~np.isnan(st.metric("load1").values())).sum()


def test_long_range_split_under_the_point_limit(prometheus_server, tmp_path):
    """A step so fine that one request would break Prometheus' 11,000-point limit."""
    prom = prometheus_server
    t1 = (time.time_ns() - 3 * NS) // NS * NS
    t0 = t1 - 12 * NS
    promql = "node_load1"
    assert points_per_series(t0, t1, 10**6) > PROMETHEUS_POINT_LIMIT
    refused = prom_get(prom.url, "/api/v1/query_range", query=promql, start=str(t0 / NS),
                       end=str(t1 / NS), step="0.001")
    assert refused["status"] == "error" and "11,000" in refused["error"]
    assert len(plan_requests(t0, t1, 10**6)) == 2
    res = query_range(prom.url, Query("load", promql), t0, t1, 10**6)
    assert res.requests == 2 and len(res.times_ns) == 12_001
    # Every whole second of the fine grid equals Prometheus' own 1 s answer.
    (vals,) = _prometheus_answer(prom.url, promql, t0, t1, "1").values()
    assert len(vals) >= 5
    idx = [(int(round(t * 1000)) * 10**6 - t0) // 10**6 for t, _ in vals]
    assert np.array_equal(res.values[0][idx], np.array([float(v) for _, v in vals]))
    assert res.points >= (len(vals) - 1) * 1000  # the fine grid between real samples is full
    # Small pieces (7 points a request) stitch back into the one-request answer.
    whole = query_range(prom.url, Query("load", promql), t0, t1, NS)
    pieces = query_range(prom.url, Query("load", promql), t0, t1, NS, max_points=7)
    assert pieces.requests == 2 and whole.requests == 1
    assert np.array_equal(pieces.times_ns, whole.times_ns)
    assert np.array_equal(pieces.values, whole.values, equal_nan=True)


def test_bad_query_reported_exit_1(prometheus_server, tmp_path):
    t0, t1 = _window(prometheus_server)
    r = run_cli("ingest", "usage", "--store", str(tmp_path / "u.zarr"), "--infrastructure", "x",
                "--prometheus", prometheus_server.url, "--from", _iso(t0), "--to", _iso(t1),
                "--query", "broken=rate(node_load1", "--query", "nothing=absent_metric_xyz",
                "--query", "ok=node_load1", "--step", "1s")
    assert r.returncode == 1, r.stderr
    assert "query broken:" in r.stderr and "bad_data" in r.stderr
    assert "query nothing: no series" in r.stderr
    assert UsageStore(str(tmp_path / "u.zarr")).metrics() == ["ok"]
    r = run_cli("ingest", "usage", "--store", str(tmp_path / "v.zarr"), "--infrastructure", "x",
                "--prometheus", prometheus_server.url, "--from", "2020-01-01T00:10:00",
                "--to", "2020-01-01T00:20:00", "--query", "ok=node_load1", "--step", "1h")
    assert r.returncode == 2 and "smaller --step" in r.stderr
