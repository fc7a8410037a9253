"""The store's reads cost what they return, whatever the window, and gaps cost nothing."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import numpy as np
import xarray as xr
from obspy import Stream, Trace, UTCDateTime

from pipelines.seismic.ingest import ingest_seismic
from pipelines.store import Store, create_irregular, open_store
from pipelines.timebase import NS, now_ns
from tests.conftest import T0, make_sds

YEAR_NS = 365 * 86400 * NS


def peak_bytes(fn):
    """(result, peak bytes Python allocated while running fn)."""
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def one_hour_stream(tmp_path: Path):
    truth = make_sds(tmp_path / "sds", channels=("XX.TST.00.HHZ",), hours=1.0)
    store = str(tmp_path / "s.zarr")
    ingest_seismic(store, [str(tmp_path / "sds")])
    return open_store(store)["XX.TST.00.HHZ"], truth["XX.TST.00.HHZ"]


def test_a_window_a_million_times_the_stream_reads_a_few_buckets_in_bounded_memory(tmp_path):
    s, data = one_hour_stream(tmp_path)
    t0, t1 = s.span_ns
    length = t1 - t0
    mid = (t0 + t1) // 2
    w, peak = peak_bytes(lambda: s.read_window(mid - 500_000 * length, mid + 500_000 * length,
                                               max_points=2000))
    assert len(w.lo) <= 2000 and w.level > s.levels  # coarser than any stored level
    assert peak < 4e6, f"peak {peak / 1e6:.1f} MB"
    assert np.nanmin(w.lo) == data.min() and np.nanmax(w.hi) == data.max()
    t = w.times_ns[np.isfinite(w.lo)]
    assert t[0] <= t0 and t[-1] + w.step_ns >= t1  # the buckets shown cover the stream


def test_a_window_from_a_million_years_ago_to_now_is_bounded(tmp_path):
    s, data = one_hour_stream(tmp_path)
    now = now_ns()
    w, peak = peak_bytes(lambda: s.read_window(now - 1_000_000 * YEAR_NS, now, max_points=1200))
    assert len(w.lo) <= 1200 and peak < 4e6
    assert np.nanmin(w.lo) == data.min() and np.nanmax(w.hi) == data.max()
    far, _ = peak_bytes(lambda: s.read_window(-2**62, -2**61, max_points=1200))
    assert len(far.lo) == 0  # a window that misses the stream returns nothing, cheaply


def test_levels_past_the_stored_ones_are_the_min_and_max_of_the_raw_samples(tmp_path):
    s, _ = one_hour_stream(tmp_path)
    vals, mask = s.read_raw(0, s.data_end())
    raw = np.where(mask, vals.astype(np.float64), np.nan)
    for level in (s.levels, s.levels + 1, s.levels + 2):
        w = s.read_window(s.start_ns, s.span_ns[1], level=level)
        bucket = s.factor**level
        pad = np.full(-len(raw) % bucket, np.nan)
        grid = np.concatenate([raw, pad]).reshape(-1, bucket)
        want_lo, want_hi = np.fmin.reduce(grid, axis=1), np.fmax.reduce(grid, axis=1)
        np.testing.assert_array_equal(w.lo, want_lo[:len(w.lo)])
        np.testing.assert_array_equal(w.hi, want_hi[:len(w.hi)])


def test_read_segments_looks_only_at_the_segments_in_the_window(tmp_path):
    gaps = [("XX.TST.00.HHZ", 60 * k + 30, 10) for k in range(200)]
    truth = make_sds(tmp_path / "sds", channels=("XX.TST.00.HHZ",), hours=4.0, gaps=gaps)
    store = str(tmp_path / "s.zarr")
    ingest_seismic(store, [str(tmp_path / "sds")])
    s = open_store(store)["XX.TST.00.HHZ"]
    assert len(s.segments) == 201
    a = T0.ns + 100 * 60 * NS
    got, peak = peak_bytes(lambda: s.read_segments(a, a + 90 * NS))
    assert [t for t, _ in got] == [a, a + 40 * NS]  # 30 s, a 10 s gap, then 50 s
    data = truth["XX.TST.00.HHZ"]
    i = 100 * 60 * 20
    np.testing.assert_array_equal(got[0][1], data[i:i + 600])
    np.testing.assert_array_equal(got[1][1], data[i + 800:i + 1800])
    assert peak < 8e6  # zarr decodes whole chunks: 2**19 int32 are 2 MB, plus its copies


def write_mseed(path: Path, start: UTCDateTime, rate: float = 100.0, n: int = 1000,
                seed: int = 0) -> np.ndarray:
    data = np.cumsum(np.random.default_rng(seed).integers(-50, 51, n)).astype(np.int32)
    Stream([Trace(data, header={"network": "XX", "station": "FAR", "location": "00",
                                "channel": "HHZ", "sampling_rate": rate, "starttime": start})]
           ).write(str(path), format="MSEED", encoding="STEIM2")
    return data


def files_in(path: str) -> int:
    return sum(len(files) for _, _, files in __import__("os").walk(path))


def check_two_segments(store: str, a: np.ndarray, b: np.ndarray) -> None:
    s = open_store(store)["XX.FAR.00.HHZ"]
    assert len(s.segments) == 2
    (ta, va), (tb, vb) = s.read_segments()
    np.testing.assert_array_equal(va, a)
    np.testing.assert_array_equal(vb, b)
    for (t0, t1), d in zip(s.segments, (a, b), strict=True):
        for level in range(1, s.levels + 1):
            w = s.read_window(int(t0) - NS, int(t1) + NS, level=level)
            assert np.nanmin(w.lo) == d.min() and np.nanmax(w.hi) == d.max(), level
    whole = s.read_window(int(s.segments[0, 0]), int(s.segments[1, 1]), max_points=1000)
    assert len(whole.lo) <= 1000 * s.factor  # at least one bucket per point, under F per point
    assert np.nanmin(whole.lo) == min(a.min(), b.min())
    da = s.to_xarray()
    i = int(round(s.index_of(tb)))
    assert da["time"][i].values == np.datetime64(tb, "ns")
    np.testing.assert_array_equal(da[i:i + len(b)].values, b)
    # Stored time chunks only where samples are (one per file here), NaT across the gap.
    tc = s.group["time"].chunks[0]
    ds = xr.open_zarr(store, group="XX.FAR.00.HHZ", create_default_indexes=False,
                      consolidated=False)
    assert ds["time"][i].values == np.datetime64(tb, "ns")
    assert np.isnat(ds["time"][(i // tc - 1) * tc].values)
    assert s.group.attrs["belvedere"]["time_chunks"] == "with-samples"


def test_two_files_200_years_apart_cost_nothing_in_either_order(tmp_path):
    a = write_mseed(tmp_path / "a.mseed", UTCDateTime(1900, 1, 1), seed=1)
    b = write_mseed(tmp_path / "b.mseed", UTCDateTime(2100, 1, 1), seed=2)
    forward = str(tmp_path / "f.zarr")
    report = ingest_seismic(forward, [str(tmp_path / "a.mseed"), str(tmp_path / "b.mseed")])
    assert not report.issues and report.gaps == 1
    assert files_in(forward) < 100  # was one time chunk per 2**22 samples of the gap: 150,000
    check_two_segments(forward, a, b)
    backward = str(tmp_path / "b.zarr")  # the later file first: the stream is rebased back
    ingest_seismic(backward, [str(tmp_path / "b.mseed")])
    ingest_seismic(backward, [str(tmp_path / "a.mseed")])
    assert files_in(backward) < 100
    check_two_segments(backward, a, b)


def test_a_low_rate_stream_whose_grid_runs_past_2262_keeps_exact_times(tmp_path):
    start = UTCDateTime(2020, 1, 1)
    data = write_mseed(tmp_path / "slow.mseed", start, rate=1e-5, n=1000)  # ~3.2 years
    store = str(tmp_path / "s.zarr")
    report = ingest_seismic(store, [str(tmp_path / "slow.mseed")])
    assert not report.issues
    s = open_store(store)["XX.FAR.00.HHZ"]
    assert s.span_ns == (start.ns, start.ns + 1000 * 10**14)
    assert s.n_samples == 1000
    da = s.to_xarray()
    np.testing.assert_array_equal(da["time"][:1000].values.astype(np.int64),
                                  start.ns + np.arange(1000, dtype=np.int64) * 10**14)
    np.testing.assert_array_equal(da[:1000].values, data)
    # The grid's padding (2**19 samples, 1.6 million years) has no times: NaT, not garbage.
    assert np.isnat(da["time"][s.length - 1].values)


def test_an_irregular_stream_reads_a_few_buckets_for_any_window(tmp_path):
    store = Store(str(tmp_path / "m.zarr"), mode="a")
    rng = np.random.default_rng(0)
    t = T0.ns + np.cumsum(rng.integers(7, 14, 20_000)).astype(np.int64) * NS  # every 7-13 s
    v = rng.normal(size=len(t))
    w = create_irregular(store, "HK.TEMP", t, v.dtype, {})
    w.append(t, v, "hk.csv")
    w.commit()
    s = open_store(str(tmp_path / "m.zarr"))["HK.TEMP"]
    length = int(t[-1] - t[0])
    mid = int(t[0] + length // 2)
    win, peak = peak_bytes(lambda: s.read_window(mid - 500_000 * length, mid + 500_000 * length,
                                                 max_points=1000))
    assert 0 < len(win.lo) <= 1000 and win.level > s.levels and peak < 4e6
    assert np.nanmin(win.lo) == v.min() and np.nanmax(win.hi) == v.max()
    level1 = s.read_window(int(t[0]), int(t[-1]) + 1, level=s.levels)
    coarse = s.read_window(int(t[0]), int(t[-1]) + 1, level=s.levels + 1)
    r = s.factor
    b0 = (int(level1.times[0]) - s.origin_ns) // s.width_ns(s.levels)
    pad = np.full(b0 % r, np.nan)
    lo = np.concatenate([pad, level1.lo])
    lo = np.concatenate([lo, np.full(-len(lo) % r, np.nan)]).reshape(-1, r)
    np.testing.assert_array_equal(coarse.lo, np.fmin.reduce(lo, axis=1)[:len(coarse.lo)])
    assert math.isclose(coarse.step_ns, level1.step_ns * r)
