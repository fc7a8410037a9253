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


def test_the_one_run_per_column_paint_is_exactly_the_run_sum_paint():
    """Envelopes with no gap take `_paint_spans` (one run per column); it lights exactly the
    pixels the run-end sum lights, at every scale, width and height tried."""
    rng = np.random.default_rng(7)
    for trial in range(60):
        n = int(rng.integers(2, 5000))
        walk = np.cumsum(rng.normal(size=n)) * float(rng.choice([1e-3, 1.0, 1e4]))
        lo = walk - np.abs(rng.normal(size=n)) * float(rng.choice([0.0, 0.5, 5.0]))
        if trial % 5 == 0:
            walk[n // 3] += 40 * np.ptp(walk)  # an outlier clipped beyond the band
        w = Window("walk", 1, 0, 10.0, lo, walk)
        width, height = int(rng.integers(16, 1400)), int(rng.integers(8, 200))
        t1 = int(10.0 * n * float(rng.uniform(0.5, 1.5)))
        c = float(np.nanmedian((lo + walk) / 2))
        sc = float(np.nanmax(np.maximum(walk - c, c - lo))) or 1.0
        fast = raster.band_mask(w, 0, t1, width, height, c, sc)
        x, plo, phi = raster._pixels(w, 0, t1, width, height, c, sc * (height / 2.0)
                                     / max(height / 2.0 - raster.MARGIN_PX, 0.5))
        assert (plo <= phi).all()
        slow = raster.envelope_mask(x, plo, phi, width, height, one_run=False)
        assert np.array_equal(fast, np.flipud(slow)), trial


def test_chunks_read_directly_equal_zarrs_for_every_layout(tmp_path):
    """`chunk_reader` decodes what zarr decodes, for this layout's templates (sharded data and
    pyramid chunks), the first layout's (unsharded, 2**18-bucket pyramid chunks, blosc zstd
    without a block size), absent chunks and shards, a short last chunk and floats; arrays it
    cannot read directly (another codec) give None and are read through zarr."""
    import zarr
    from zarr.codecs import BloscCodec, GzipCodec
    from zarr.codecs.numcodecs import Delta

    from dashboard.chunks import CachedArray, ChunkCache
    from pipelines.store import chunk_reader, layout

    root = zarr.open_group(str(tmp_path / "c.zarr"), mode="w")
    rng = np.random.default_rng(3)
    made = {
        "data": root.create_array("data", **{**layout.stream_array("data", np.int32),
                                             "shape": (3 * 2**19 + 77,)}),
        "pyramid": root.create_array("pyr", **{**layout.stream_array("pyramid", np.int32),
                                               "shape": (2**21 + 2**16 + 5,)}),
        "first": root.create_array("first", shape=(2**18 * 3 + 1,), chunks=(2**18,),
                                   dtype="int32", fill_value=np.iinfo(np.int32).min,
                                   filters=[Delta(dtype="int32")],
                                   compressors=[layout.FIRST_COMPRESSOR]),
        "float": root.create_array("float", shape=(10_000,), chunks=(4096,), dtype="float64",
                                   fill_value=np.nan, compressors=[BloscCodec(cname="lz4")]),
    }
    for name, arr in made.items():
        n = arr.shape[0]
        vals = (rng.normal(size=n) * 1e4).astype(arr.dtype)
        arr[: n // 3] = vals[: n // 3]  # the rest never written: absent chunks and shards
        arr[n - 100:] = vals[n - 100:]
        ro = zarr.open_array(str(tmp_path / "c.zarr" / arr.path), mode="r")
        read = chunk_reader(ro)
        assert read is not None, name
        c = int(ro.chunks[0])
        for k in range(-(-n // c)):
            ref = ro[k * c:min((k + 1) * c, n)]
            got = read(k)
            assert got.dtype == np.dtype(ro.dtype.name) and np.array_equal(got, ref,
                                                                             equal_nan=True)
        kept = CachedArray(ro, ChunkCache(2**26))
        for a, b in ((0, n), (c - 3, c + 3), (n - 150, n), (5, 6)):
            assert np.array_equal(kept[a:b], ro[a:b], equal_nan=True), (name, a, b)
    other = root.create_array("gzip", shape=(100,), chunks=(10,), dtype="int32",
                              compressors=[GzipCodec()])
    assert chunk_reader(other) is None
    assert np.array_equal(CachedArray(other)[3:40], other[3:40])
