"""The metric time pyramid: exact per-bucket mean and max after appends and backfills."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.timebase import NS
from pipelines.usage import metric_pyramid
from pipelines.usage.usage_store import open_usage_store

T0 = 1_700_000_000 * NS


def metric_data(n: int, n_series: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    times = T0 + np.cumsum(rng.integers(20, 40, n)) * NS  # irregular, ~30 s
    vals = rng.random((n_series, n)) * 100
    vals[rng.random(vals.shape) < 0.05] = np.nan  # missed scrapes
    vals[1, 1000:3000] = np.nan  # a node down for a while
    return times, vals


def expected(vals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    step = metric_pyramid.FACTOR**k
    nb = -(-vals.shape[1] // step)
    mean = np.full((vals.shape[0], nb), np.nan)
    mx = np.full((vals.shape[0], nb), np.nan)
    for b in range(nb):
        block = vals[:, b * step:(b + 1) * step]
        ok = ~np.isnan(block)
        for r in range(vals.shape[0]):
            if ok[r].any():
                mean[r, b] = block[r][ok[r]].mean()
                mx[r, b] = block[r][ok[r]].max()
    return mean, mx


def check_levels(store_path: str, times: np.ndarray, vals: np.ndarray) -> None:
    m = open_usage_store(store_path).metric("node_cpu")
    levels = m.attrs["pyramid"]["levels"]
    assert levels == metric_pyramid.n_levels(len(times)) >= 2
    for k in range(1, levels + 1):
        t, mean, mx = metric_pyramid.read_level(m.group, k, 0, len(times), None, vals.shape[0])
        want_mean, want_max = expected(vals, k)
        np.testing.assert_allclose(mean, want_mean, rtol=1e-9)
        np.testing.assert_array_equal(mx, want_max)
        np.testing.assert_array_equal(t, times[::metric_pyramid.FACTOR**k])


@pytest.fixture
def series():
    return [{"name": f"node_cpu{{instance=\"n{i}\"}}", "labels": {"instance": f"n{i}"}}
            for i in range(3)]


def test_pyramid_after_appends_in_pieces_is_exact(tmp_path, series):
    times, vals = metric_data(70_000, 3)
    st = open_usage_store(str(tmp_path / "u.zarr"), "a")
    for a, b in ((0, 30_001), (29_000, 50_000), (50_000, 70_000)):  # overlapping re-queries
        st.write_metric("node_cpu", times[a:b], series, vals[:, a:b])
    check_levels(str(tmp_path / "u.zarr"), times, vals)


def test_pyramid_after_a_backfill_is_exact(tmp_path, series):
    times, vals = metric_data(40_000, 3, seed=1)
    st = open_usage_store(str(tmp_path / "u.zarr"), "a")
    st.write_metric("node_cpu", times[20_000:], series, vals[:, 20_000:])
    st.write_metric("node_cpu", times[:20_000], series, vals[:, :20_000])  # earlier: rewrite
    check_levels(str(tmp_path / "u.zarr"), times, vals)


def test_read_window_reads_a_screenful(tmp_path, series):
    times, vals = metric_data(70_000, 3, seed=2)
    st = open_usage_store(str(tmp_path / "u.zarr"), "a")
    st.write_metric("node_cpu", times, series, vals)
    m = open_usage_store(str(tmp_path / "u.zarr")).metric("node_cpu")
    t, mean, mx, k = m.read_window(None, None, max_points=500)  # lines: >= 500 buckets
    assert k >= 1 and 500 <= mean.shape[1] < 500 * metric_pyramid.FACTOR
    t, mean, mx, k = m.read_window(None, None, max_points=500, at_least=False)  # heatmap
    assert mean.shape[1] <= 500 and mean.shape == (3, len(t))
    assert np.nanmax(mx) <= 100 and np.nanmin(mean) >= 0
    # A short window is raw samples, exactly as stored.
    t, mean, mx, k = m.read_window(int(times[100]), int(times[200]), max_points=500)
    assert k == 0 and np.array_equal(t, times[100:200])
    np.testing.assert_array_equal(mean, vals[:, 100:200])
