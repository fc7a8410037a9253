"""The numpy band kernel against Datashader's line kernel, on real data.

`raster.band_mask` draws the envelope zigzag and the raw polyline with numpy (measured several
times faster than Datashader's line kernel, see tests/bench/bench_dashboard.py);
`raster.datashader_band_mask` draws the same with Datashader, as the band was drawn before.
Stated tolerance: every column is lit in both or in neither, each column's lit extent agrees
within one row except where a line leaves the band (clipped outliers: a few rows) or enters
from beyond the canvas's left or right edge (within 4 rows in the 3 edge columns: Datashader
clips the segment before it snaps its ends to pixels, we snap first), and the
pixels that differ are at most 1% of the lit ones for envelopes and 20% for raw polylines
(long shallow segments between samples tens of pixels apart: where the line passes half-way
between two rows, Datashader's Bresenham steps and our rounding pick neighbouring rows).
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import obspy
import pytest
from conftest import run_cli
from test_dashboard_store import build_store

from dashboard import raster
from dashboard.sources import Sources
from pipelines.store import Window, open_store
from pipelines.timebase import NS

ANMO = os.path.join(os.path.dirname(obspy.__file__), "signal", "tests", "data", "IUANMO.seed")
WIDTH, HEIGHT = 1200, 120


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """IU.ANMO (ObsPy's real LHZ day, ingested by the real command line) and the dashboard
    tests' store (a gap, an earthquake, six rates)."""
    d = tmp_path_factory.mktemp("kernel")
    shutil.copy(ANMO, d / "IUANMO.seed")
    out = run_cli("ingest", "seismic", str(d / "IUANMO.seed"), "--store", str(d / "anmo.zarr"))
    assert out.returncode == 0, out.stdout + out.stderr
    raster.warm_up_datashader()
    return [open_store(str(d / "anmo.zarr")), open_store(build_store(str(d / "s.zarr")))]


def extents(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last lit row of each column (-1 where none)."""
    lit = mask.any(axis=0)
    top = np.where(lit, np.argmax(mask, axis=0), -1)
    bottom = np.where(lit, mask.shape[0] - 1 - np.argmax(mask[::-1], axis=0), -1)
    return top, bottom


def windows(store):
    """Windows of every stream from a few seconds to the whole span, raw and envelopes."""
    rng = np.random.default_rng(7)
    for name in store.streams():
        s = store[name]
        t0, t1 = s.span_ns
        for span in (20 * NS, 120 * NS, 1200 * NS, 3 * 3600 * NS, t1 - t0):
            span = min(span, t1 - t0)
            a = t0 + int(rng.uniform(0, max(t1 - t0 - span, 0)))
            w = s.read_window(a, a + span, max_points=WIDTH)
            lo, hi = raster.visible(w, a, a + span)
            if np.isnan(lo).all():
                continue
            c = float(np.nanmedian((lo + hi) / 2))
            yield name, w, a, a + span, c, float(np.nanmax(np.maximum(hi - c, c - lo))) or 1.0


def test_numpy_masks_match_datashader_on_real_data(stores):
    checked = {"raw": 0, "envelope": 0}
    for store in stores:
        for name, w, a, b, c, sc in windows(store):
            ours = raster.band_mask(w, a, b, WIDTH, HEIGHT, c, sc)
            ref = raster.datashader_band_mask(w, a, b, WIDTH, HEIGHT, c, sc)
            what = "raw" if w.is_raw else "envelope"
            checked[what] += 1
            where = f"{name} level {w.level} over {(b - a) / NS:.0f} s"
            assert (ours.any(axis=0) == ref.any(axis=0)).all(), where
            differ = (ours != ref).sum() / max((ours | ref).sum(), 1)
            assert differ <= (0.20 if w.is_raw else 0.01), (where, differ)
            (t1, b1), (t2, b2) = extents(ours), extents(ref)
            off = np.maximum(np.abs(t1 - t2), np.abs(b1 - b2))
            inside = (t2 > 0) & (b2 < HEIGHT - 1)  # columns whose line stays in the band
            inside[:3] = inside[-3:] = False  # a line entering from off the canvas: see below
            assert off[inside].max(initial=0) <= 1, where
            assert off[:3].max() <= 4 and off[-3:].max() <= 4, where
    assert checked["raw"] >= 3 and checked["envelope"] >= 5, checked


def test_masks_match_on_edge_cases():
    cases = [
        Window("flat", 1, 0, 10.0, np.zeros(40), np.zeros(40)),
        Window("gappy", 1, 0, 10.0, np.where(np.arange(40) % 7 == 3, np.nan, np.sin(
            np.arange(40.0))), np.where(np.arange(40) % 7 == 3, np.nan, np.sin(
                np.arange(40.0)) + 0.5)),
        Window("one", 0, 0, 10.0, np.array([1.0]), np.array([1.0])),
        Window("sparse", 0, 0, 100.0, np.array([0.0, 3.0, -2.0, np.nan, 1.0]),
               np.array([0.0, 3.0, -2.0, np.nan, 1.0])),
        Window("outlier", 1, 0, 10.0, np.r_[np.zeros(20), 50.0, np.zeros(19)],
               np.r_[np.ones(20), 60.0, np.ones(19)]),
    ]
    raster.warm_up_datashader()
    for w in cases:
        lo, hi = raster.visible(w, 0, 400)
        c = float(np.nanmedian((lo + hi) / 2))  # scaled as frames scale a band
        sc = float(np.nanmax(np.maximum(hi - c, c - lo))) or 1.0
        ours = raster.band_mask(w, 0, 400, 60, 30, c, sc)
        ref = raster.datashader_band_mask(w, 0, 400, 60, 30, c, sc)
        assert (ours.any(axis=0) == ref.any(axis=0)).all(), w.stream
        assert (ours != ref).sum() <= max(0.20 * (ours | ref).sum(), 2), w.stream


def test_the_served_streams_read_the_same_windows_as_the_store(stores, tmp_path):
    """Streams kept open by `Sources` (their arrays and decoded chunks cached) read exactly
    what the store reads, and a stream committed again is read afresh."""
    url = stores[1].url
    kept = Sources([url]).store()
    for name in stores[1].streams():
        t0, t1 = stores[1][name].span_ns
        for mp in (50, 1200, 10**6):
            a, b = kept[name].read_window(t0, t1, mp), stores[1][name].read_window(t0, t1, mp)
            assert a.level == b.level
            assert np.array_equal(a.lo, b.lo, equal_nan=True)
    # A live ingest: more samples appended and committed show on the next read.
    name = "BV.ALPA.00.HHZ"
    before = kept[name].span_ns
    st = open_store(url, "a")
    w = st.writer(name)
    i0 = w.length
    w.write(i0, np.arange(1000, dtype=np.int32))
    w.update_pyramid(i0, i0 + 1000)
    w.commit()
    after = kept[name].span_ns
    assert after[1] > before[1]
    tail = kept[name].read_window(after[1] - 10 * NS, after[1], max_points=10**6)
    assert np.nanmax(tail.hi) >= 990
