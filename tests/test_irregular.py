"""Irregular streams: explicit timestamps, the time-bucket pyramid, bounded reads, appends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.store import IrregularStream, create_irregular, open_store, open_writer
from pipelines.timebase import NS

DAY = 86400 * NS
T0 = 1_704_067_200 * NS  # 2024-01-01


def _series(n: int, days: float, seed: int = 0, gaps: bool = True
            ) -> tuple[np.ndarray, np.ndarray]:
    """Irregular times over `days` (jittered, with long gaps) and random-walk values."""
    rng = np.random.default_rng(seed)
    dt = rng.uniform(0.3, 1.7, n) * (days * DAY / n)
    if gaps:
        dt[rng.choice(n, 5, replace=False)] += 3 * DAY
    t = T0 + np.cumsum(dt).astype(np.int64)
    t = T0 + ((t - T0) * (days * DAY / (t[-1] - T0))).astype(np.int64)  # stay within `days`
    return t, np.cumsum(rng.standard_normal(n))


def _write(store_path: str, name: str, parts: list[tuple[np.ndarray, np.ndarray]]) -> None:
    st = open_store(store_path, mode="a")
    for i, (t, v) in enumerate(parts):
        if name in st.root:
            w = open_writer(st, name)
        else:
            w = create_irregular(st, name, t, v.dtype, {"units": "degC"})
        oc = w.append(t, v, f"part{i}")
        w.commit([{"file": f"part{i}", "sha256": str(i)}], oc.conflicts)


def _brute(t: np.ndarray, v: np.ndarray, origin: int, w: int, b0: int, b1: int):
    lo = np.full(b1 - b0, np.nan)
    hi = np.full(b1 - b0, np.nan)
    bid = (t - origin) // w
    for b in range(b0, b1):
        sel = v[bid == b]
        if len(sel):
            lo[b - b0], hi[b - b0] = sel.min(), sel.max()
    return lo, hi


def test_year_reads_one_screenful_and_envelopes_are_exact(tmp_path: Path):
    t, v = _series(200_000, 365, seed=1)
    path = str(tmp_path / "s.zarr")
    _write(path, "HK.temp", [(t, v)])
    s = open_store(path)["HK.temp"]
    assert isinstance(s, IrregularStream) and s.n_samples == len(t)
    assert s.levels >= 2
    win = s.read_window(int(t[0]), int(t[-1]) + 1, max_points=1000)
    assert not win.is_raw
    assert 1000 <= len(win.lo) <= 1000 * 16  # bounded by pixels, never by samples
    w = s.width_ns(win.level)
    b0 = (win.times_ns[0] - s.origin_ns) // w
    lo, hi = _brute(t, v, s.origin_ns, w, int(b0), int(b0) + len(win.lo))
    np.testing.assert_array_equal(win.lo, lo)
    np.testing.assert_array_equal(win.hi, hi)
    assert np.isnan(win.lo).any()  # the 3-day gaps stay gaps
    assert len(s.segments) >= 6 and len(s.gaps()) >= 5


def test_raw_windows_exact_and_bounded(tmp_path: Path):
    t, v = _series(50_000, 30, seed=2)
    path = str(tmp_path / "s.zarr")
    _write(path, "HK.v", [(t, v)])
    s = open_store(path)["HK.v"]
    a, b = int(t[1000]), int(t[1400])
    win = s.read_window(a, b, max_points=2000)
    assert win.is_raw
    keep = ~np.isnan(win.lo)
    np.testing.assert_array_equal(win.times_ns[keep], t[1000:1400])
    np.testing.assert_array_equal(win.lo[keep], v[1000:1400])
    # a window with far more samples than points never reads them raw
    many = s.read_window(int(t[0]), int(t[40_000]), max_points=100)
    assert not many.is_raw and len(many.lo) <= 100 * 16
    tt, vv = s.read_times(a, b)
    np.testing.assert_array_equal(tt, t[1000:1400])
    assert s.index_range(a, b) == (1000, 1400)


def test_appends_in_any_order_give_the_same_stream(tmp_path: Path):
    t, v = _series(30_000, 60, seed=3)
    one = str(tmp_path / "one.zarr")
    _write(one, "X", [(t, v)])
    tail = str(tmp_path / "tail.zarr")
    _write(tail, "X", [(t[:10_000], v[:10_000]), (t[10_000:], v[10_000:])])
    back = str(tmp_path / "back.zarr")
    _write(back, "X", [(t[20_000:], v[20_000:]), (t[:20_000], v[:20_000])])
    mixed = str(tmp_path / "mixed.zarr")
    _write(mixed, "X", [(t[::2], v[::2]), (t[1::2], v[1::2])])
    ref = open_store(one)["X"]
    ref_t, ref_v = ref.read_times()
    for other in (tail, back, mixed):
        s = open_store(other)["X"]
        tt, vv = s.read_times()
        np.testing.assert_array_equal(tt, ref_t)
        np.testing.assert_array_equal(vv, ref_v)
        assert s.segments.tolist() == ref.segments.tolist()
        if s.base_ns != ref.base_ns:  # the first file sets the bucket width: check by brute force
            win = s.read_window(int(t[0]), int(t[-1]) + 1, max_points=300)
            w = s.width_ns(win.level)
            b0 = int((win.times_ns[0] - s.origin_ns) // w)
            lo, hi = _brute(t, v, s.origin_ns, w, b0, b0 + len(win.lo))
            np.testing.assert_array_equal(win.lo, lo)
            np.testing.assert_array_equal(win.hi, hi)
            continue
        for k in range(1, ref.levels + 1):
            for key in ("min", "max", "start"):
                np.testing.assert_array_equal(s.group[f"pyramid/{k}/{key}"][:],
                                              ref.group[f"pyramid/{k}/{key}"][:])


def test_overlaps_equal_unchanged_differing_kept(tmp_path: Path):
    t, v = _series(5_000, 5, seed=4, gaps=False)
    path = str(tmp_path / "s.zarr")
    _write(path, "X", [(t, v)])
    st = open_store(path, mode="a")
    w = open_writer(st, "X")
    oc = w.append(t[100:200], v[100:200], "again")
    assert oc.written == 0 and oc.unchanged == 100 and not oc.conflicts
    changed = v[300:310] + 1
    oc = w.append(t[300:310], changed, "changed")
    assert oc.written == 0 and len(oc.conflicts) == 10
    w.commit(None, oc.conflicts)
    s = open_store(path)["X"]
    np.testing.assert_array_equal(s.read_times()[1], v)  # the stored samples were kept
    assert len(s.attrs["conflicts"]) == 10


def test_uncommitted_samples_are_invisible(tmp_path: Path):
    t, v = _series(4_000, 2, seed=5, gaps=False)
    path = str(tmp_path / "s.zarr")
    _write(path, "X", [(t[:2000], v[:2000])])
    st = open_store(path, mode="a")
    w = open_writer(st, "X")
    w.append(t[2000:], v[2000:], "interrupted")  # arrays written, never committed
    s = open_store(path)["X"]
    assert s.n_samples == 2000
    np.testing.assert_array_equal(s.read_times()[0], t[:2000])
    _write(path, "X", [(t[2000:], v[2000:])])  # the re-run completes it
    np.testing.assert_array_equal(open_store(path)["X"].read_times()[0], t)


def test_frame_draws_an_irregular_stream(tmp_path: Path):
    from dashboard.frames import make_frame

    t, v = _series(20_000, 10, seed=6)
    path = str(tmp_path / "s.zarr")
    _write(path, "X", [(t, v)])
    s = open_store(path)["X"]
    for a, b in ((int(t[0]), int(t[-1])), (int(t[100]), int(t[300]))):
        frame = make_frame([s], a, b, 400, 100)
        assert frame.traces[0].present
        assert (frame.image != 0).sum() > 200


def test_int_samples_and_xarray(tmp_path: Path):
    t, _ = _series(3_000, 1, seed=7, gaps=False)
    v = np.arange(3000, dtype=np.int32)
    path = str(tmp_path / "s.zarr")
    _write(path, "I", [(t, v)])
    s = open_store(path)["I"]
    assert s.dtype == np.int32
    np.testing.assert_array_equal(s.read_times()[1], v)
    win = s.read_window(int(t[0]), int(t[-1]) + 1, max_points=50)
    assert np.nanmin(win.lo) == 0 and np.nanmax(win.hi) == 2999
    da = s.to_xarray()
    assert da.sizes["time"] == 3000
    assert da["time"].values[5].astype("datetime64[ns]").astype(np.int64) == t[5]
    with pytest.raises(ValueError):
        open_writer(open_store(path, mode="a"), "I").append(t + 1, v.astype(np.float64), "f")
