"""The write path's shortcuts stay exact: pyramids from memory, time written pre-encoded."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr
from obspy import Stream, Trace, UTCDateTime
from zarr.codecs import BloscCodec
from zarr.codecs.numcodecs import Delta

from pipelines.seismic.ingest import ingest_seismic
from pipelines.store import TOP_LEVEL_MAX, fill_value_for, open_store
from tests.conftest import T0, make_sds


def _reference_levels(s) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every pyramid level recomputed from the raw samples by brute force (float64, NaN = empty)."""
    n = s.length
    vals = s.data[:n].astype(np.float64)
    vals[~s.present_mask(0, n)] = np.nan
    levels = 1
    while math.ceil(n / s.factor**levels) > TOP_LEVEL_MAX:
        levels += 1
    out = []
    lo = hi = vals
    for _ in range(levels):
        nb = math.ceil(len(lo) / s.factor)
        pad = nb * s.factor - len(lo)
        lo2 = np.concatenate([lo, np.full(pad, np.nan)]).reshape(nb, s.factor)
        hi2 = np.concatenate([hi, np.full(pad, np.nan)]).reshape(nb, s.factor)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN buckets
            lo, hi = np.nanmin(lo2, axis=1), np.nanmax(hi2, axis=1)
        out.append((lo, hi))
    return out


def assert_pyramids_exact(store_path: str) -> int:
    """Every level of every stream equals the brute-force recomputation; returns levels checked."""
    checked = 0
    for s in open_store(store_path):
        ref = _reference_levels(s)
        assert s.levels == len(ref), s.name
        fill = fill_value_for(s.dtype)
        for k, (lo, hi) in enumerate(ref, start=1):
            g = s.group[f"pyramid/{k}"]
            for key, want in (("min", lo), ("max", hi)):
                got = g[key][:len(want)]
                empty = np.isnan(want)
                assert (got[empty] == fill).all(), (s.name, k, key)
                np.testing.assert_array_equal(got[~empty].astype(np.float64), want[~empty],
                                              err_msg=f"{s.name} level {k} {key}")
            checked += 1
    return checked


def assert_time_coordinate_exact(store_path: str) -> None:
    """xarray's time coordinate equals the grid time of every sample of every stream."""
    import xarray as xr

    for s in open_store(store_path):
        ds = xr.open_zarr(store_path, group=s.name, create_default_indexes=False,
                          consolidated=False)
        t = ds["time"].values.astype("datetime64[ns]").astype(np.int64)
        assert len(t) == s.length == ds["data"].shape[0]
        want = np.asarray(s.time_of(np.arange(s.length)), dtype=np.int64)
        # Chunks of the coordinate that hold no sample are not stored (NaT): gaps are free.
        tc = ds["time"].encoding.get("chunks", (s.group["time"].chunks[0],))[0]
        for c0 in range(0, s.length, tc):
            c1 = min(c0 + tc, s.length)
            if s.present_mask(c0, c1).any():
                np.testing.assert_array_equal(t[c0:c1], want[c0:c1])
            else:  # not stored (NaT), or stored by an older layout (then exact)
                nat = (t[c0:c1] == np.iinfo(np.int64).min).all()
                assert nat or (t[c0:c1] == want[c0:c1]).all()
        np.testing.assert_array_equal(
            s.to_xarray()["time"].values.astype(np.int64), want)  # computed from the grid


def test_pyramid_exact_with_gaps_in_files_and_across_days(tmp_path):
    gaps = [("XX.TST.00.HHZ", 3600, 1800), ("XX.TST.00.HHZ", 7200.05, 0.4),
            ("XX.TST.00.HHN", 10 * 3600, 30 * 3600)]
    make_sds(tmp_path / "sds", hours=52, gaps=gaps)
    store = str(tmp_path / "s.zarr")
    ingest_seismic(store, [str(tmp_path / "sds")])
    assert assert_pyramids_exact(store) >= 4
    assert_time_coordinate_exact(store)


def test_pyramid_exact_when_days_arrive_backwards_and_in_the_middle(tmp_path):
    make_sds(tmp_path / "sds", hours=60, start=UTCDateTime(2024, 3, 4, 1, 0, 0.05),
             gaps=[("XX.TST.00.HHZ", 26 * 3600, 600)])
    days = sorted(p for p in (tmp_path / "sds").rglob("*.D.2024.*"))
    backwards = str(tmp_path / "b.zarr")
    for day in ("067", "065", "064", "066"):
        ingest_seismic(backwards, [str(p) for p in days if p.name.endswith(day)])
        assert_pyramids_exact(backwards)
    assert_time_coordinate_exact(backwards)


def test_pyramid_exact_with_overlaps_and_conflicts(tmp_path):
    rng = np.random.default_rng(3)
    data = np.cumsum(rng.integers(-99, 100, 20 * 7200)).astype(np.int32)

    def write(name, t0, values):
        Stream([Trace(values, header={"network": "XX", "station": "TST", "location": "00",
                                      "channel": "HHZ", "sampling_rate": 20.0,
                                      "starttime": t0})]).write(
            str(tmp_path / name), format="MSEED", encoding="STEIM2", reclen=512)

    write("a.mseed", T0, data[:20 * 3000])
    write("b.mseed", T0 + 2000, data[20 * 2000:20 * 5000])  # agrees on 2000-3000 s
    bad = data[20 * 4000:].copy()
    bad[1000:1500] = 12345  # disagrees inside the overlap
    bad[-3000:] += 1  # and after it: new samples, fine
    write("c.mseed", T0 + 4000, bad)
    write("d.mseed", T0 + 6000.5, data[20 * 6000 + 10:20 * 6000 + 400])  # inside, agrees
    store = str(tmp_path / "s.zarr")
    rep = ingest_seismic(store, [str(tmp_path / f) for f in ("a.mseed", "b.mseed")])
    assert not rep.conflicts
    rep = ingest_seismic(store, [str(tmp_path / "c.mseed"), str(tmp_path / "d.mseed")])
    assert rep.conflicts
    assert_pyramids_exact(store)


def test_non_integer_period_time_coordinate(tmp_path):
    rate = 30.0  # period 33333333.33 ns: the coordinate goes through zarr, rounded per sample
    n = int(rate * 3600 * 3)
    data = np.arange(n, dtype=np.int32) % 1000
    Stream([Trace(data, header={"network": "XX", "station": "ODD", "location": "",
                                "channel": "BHZ", "sampling_rate": rate,
                                "starttime": T0})]).write(
        str(tmp_path / "a.mseed"), format="MSEED", encoding="STEIM2", reclen=512)
    store = str(tmp_path / "s.zarr")
    ingest_seismic(store, [str(tmp_path / "a.mseed")])
    assert_time_coordinate_exact(store)
    assert_pyramids_exact(store)


def _rewrite_array(group, name: str, **kwargs) -> None:
    """Replace an array by one with other chunks/codecs and the same values and attributes."""
    old = group[name]
    values, attrs = old[:], dict(old.attrs)
    del group[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        new = group.create_array(name, shape=old.shape, dtype=old.dtype,
                                 fill_value=old.fill_value, attributes=attrs,
                                 dimension_names=old.metadata.dimension_names, **kwargs)
    new[:] = values


def test_appending_to_a_store_with_the_first_layouts_codecs(tmp_path):
    """A store written with the first chunks and codecs (time, data, pyramid) keeps working:
    appends use each array's own codec, and reads stay exact."""
    make_sds(tmp_path / "sds", hours=40, gaps=[("XX.TST.00.HHZ", 30 * 3600, 120)])
    days = sorted(p for p in (tmp_path / "sds").rglob("*.D.2024.*"))
    store = str(tmp_path / "s.zarr")
    ingest_seismic(store, [str(p) for p in days if p.name.endswith("064")])
    first = BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")
    for s in open_store(store):
        g = zarr.open_group(store, mode="a", path=s.name)
        _rewrite_array(g, "time", chunks=(2**18,), filters=[Delta(dtype="int64")],
                       compressors=[first])
        _rewrite_array(g, "data", chunks=(2**18,), filters=[Delta(dtype="int32")],
                       compressors=[first])
        for k in range(1, s.levels + 1):
            for key in ("min", "max"):
                _rewrite_array(g, f"pyramid/{k}/{key}", chunks=(2**16,), compressors=[first])
    ingest_seismic(store, [str(p) for p in days if not p.name.endswith("064")])
    for s in open_store(store):
        assert s.group["time"].chunks == (2**18,) and s.data.chunks == (2**18,)
        assert s.data.compressors[0].clevel == 1
    assert_time_coordinate_exact(store)
    assert_pyramids_exact(store)
    fresh = str(tmp_path / "fresh.zarr")
    ingest_seismic(fresh, [str(p) for p in days])
    from tests.storeutil import assert_same_store

    assert_same_store(store, fresh, same_grid=False)  # the pyramid attr names its chunks


@pytest.mark.parametrize("workers", [2])
def test_parallel_ingest_pyramids_exact(tmp_path, workers):
    make_sds(tmp_path / "sds", channels=("XX.A.00.HHZ", "XX.B.00.HHZ", "XX.C.00.HHZ"),
             hours=30, gaps=[("XX.B.00.HHZ", 5000, 50)])
    store = str(tmp_path / "s.zarr")
    ingest_seismic(store, [str(tmp_path / "sds")], workers=workers)
    assert assert_pyramids_exact(store) >= 3


def chunk_files(root: Path) -> dict[str, bytes]:
    """Every chunk or shard file under a folder (not metadata), by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "zarr.json"}


@pytest.mark.parametrize("codec", ["FIRST_COMPRESSOR", "DATA_COMPRESSOR", "PYRAMID_COMPRESSOR"])
@pytest.mark.parametrize("dtype", ["int32", "float64"])
@pytest.mark.parametrize("delta", [True, False])
@pytest.mark.parametrize("shards", [None, 2**18])
def test_direct_chunk_writes_equal_zarr_writes_byte_for_byte(tmp_path, dtype, delta, codec,
                                                             shards):
    """Chunks (and shards of chunks) encoded and written here are the files zarr writes,
    also where a write covers a chunk or a shard only in part."""
    from pipelines.store import _zarrio, layout, write_region

    compressor = getattr(layout, codec)

    rng = np.random.default_rng(0)
    values = np.cumsum(rng.integers(-50, 50, 2**20 + 777)).astype(dtype)
    fill = fill_value_for(np.dtype(dtype))
    values[5000:300000] = fill  # whole chunks of fill are not stored
    stores = []
    for name in ("zarr", "direct"):
        g = zarr.open_group(str(tmp_path / name), mode="w")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = g.create_array("a", shape=(2**21,), chunks=(2**16,), shards=shards,
                               dtype=dtype, fill_value=fill, compressors=[compressor],
                               filters=[Delta(dtype=dtype)] if delta else None)
        a[:2**16] = np.arange(2**16, dtype=dtype)  # an old chunk, later overwritten by fill
        a[2**17:2**17 + 10] = 7
        a[2**20 + 2**17:2**20 + 2**17 + 10] = 9  # kept: in a shard the write covers in part
        if name == "zarr":
            a[123:123 + len(values)] = values
        else:
            assert _zarrio._chunk_encoder(a) is not None  # the direct path is tested
            write_region(a, 123, values)
        stores.append(chunk_files(tmp_path / name / "a"))
    assert stores[0].keys() == stores[1].keys()
    assert ("c/2" in stores[0]) == bool(shards) and len(stores[0]) >= 3
    for f, blob in stores[0].items():
        assert blob == stores[1][f], f
    np.testing.assert_array_equal(
        zarr.open_array(str(tmp_path / "direct" / "a"))[2**20 + 2**17:2**20 + 2**17 + 10], 9)


def test_chunks_through_the_zarr_store_api_equal_direct_files(tmp_path, monkeypatch):
    """Stores that are not local folders get their chunks through zarr's store API."""
    from pipelines.store import _zarrio
    from tests.storeutil import assert_same_store

    make_sds(tmp_path / "sds", hours=30, gaps=[("XX.TST.00.HHZ", 5000, 60)])
    direct = str(tmp_path / "direct.zarr")
    ingest_seismic(direct, [str(tmp_path / "sds")])
    monkeypatch.setattr(_zarrio, "_local_dir", lambda arr: None)
    via_zarr = str(tmp_path / "via_zarr.zarr")
    ingest_seismic(via_zarr, [str(tmp_path / "sds")])
    assert_same_store(direct, via_zarr)
    assert_pyramids_exact(via_zarr)
    files, other = chunk_files(Path(direct)), chunk_files(Path(via_zarr))
    assert files.keys() == other.keys() and any("/data/c." in f for f in files)
    for f, blob in files.items():
        assert blob == other[f], f


def test_metadata_written_directly_equals_zarr_metadata(tmp_path, monkeypatch):
    """On local stores, zarr.json files (new streams, grown arrays, commits) are written
    without zarr's event loop: the same nodes and the same JSON as zarr writes."""
    import json

    from pipelines.store import _zarrio

    make_sds(tmp_path / "sds", hours=30, gaps=[("XX.TST.00.HHZ", 5000, 60)])
    direct = tmp_path / "direct.zarr"
    ingest_seismic(str(direct), [str(tmp_path / "sds")])
    monkeypatch.setattr(_zarrio, "_local_dir", lambda arr: None)
    via_zarr = tmp_path / "via_zarr.zarr"
    ingest_seismic(str(via_zarr), [str(tmp_path / "sds")])

    def meta(path: Path) -> dict:
        d = json.loads(path.read_text())
        d.pop("consolidated_metadata", None)  # a copy of the other files, compared one by one
        attrs = d.get("attributes", {})
        for p in attrs.get("provenance", []):
            p.pop("ingested_at", None)
        attrs.get("belvedere", {}).pop("created_at", None)
        return d

    files = sorted(p.relative_to(direct) for p in direct.rglob("zarr.json"))
    assert files == sorted(p.relative_to(via_zarr) for p in via_zarr.rglob("zarr.json"))
    for f in files:
        assert meta(direct / f) == meta(via_zarr / f), f
        if "pyramid" in f.parts or f.parts[-2:-1] in (("data",), ("time",)):
            assert (direct / f).read_bytes() == (via_zarr / f).read_bytes(), f


def test_a_damaged_shard_is_refused_not_merged(tmp_path):
    """Completing a shard keeps its other chunks' bytes: a shard whose index does not check
    out (crc32c) is refused with a message, never used to build the new shard."""
    from pipelines.store import StoreError, write_region

    g = zarr.open_group(str(tmp_path / "g"), mode="w")
    a = g.create_array("a", shape=(2**20,), chunks=(2**16,), shards=(2**18,), dtype="int32",
                       fill_value=0)
    write_region(a, 0, np.arange(1, 2**17 + 1, dtype="int32"))
    shard = tmp_path / "g" / "a" / "c" / "0"
    blob = bytearray(shard.read_bytes())
    blob[-10] ^= 0xFF  # inside the index
    shard.write_bytes(bytes(blob))
    with pytest.raises(StoreError, match="damaged"):
        write_region(a, 2**17, np.ones(2**16, dtype="int32"))


def test_a_read_that_fails_once_is_read_again(tmp_path, monkeypatch):
    """A read that fails once (a shard replaced by an ingest between zarr's read of its index
    and of its chunks) is read again; one that keeps failing raises."""
    make_sds(tmp_path / "sds", hours=2)
    store = str(tmp_path / "s.zarr")
    ingest_seismic(store, [str(tmp_path / "sds")])
    s = open_store(store)[open_store(store).streams()[0]]
    t0, t1 = s.span_ns
    want = s.read_window(t0, t1, max_points=100)
    real = zarr.Array.__getitem__
    failures = []

    def flaky(self, sel):
        if len(failures) < 1:
            failures.append(sel)
            raise ValueError("Stored and computed checksum do not match")
        return real(self, sel)

    monkeypatch.setattr(zarr.Array, "__getitem__", flaky)
    got = s.read_window(t0, t1, max_points=100)
    assert failures and np.array_equal(got.lo, want.lo, equal_nan=True)
    i0 = int(round(s.index_of(t0)))
    vals, mask = s.read_raw(i0, i0 + 1000)
    assert len(vals) == 1000 and mask.all()

    def broken(self, sel):
        raise ValueError("Stored and computed checksum do not match")

    monkeypatch.setattr(zarr.Array, "__getitem__", broken)
    with pytest.raises(ValueError, match="checksum"):
        s.read_window(t0, t1, max_points=100)


@pytest.mark.parametrize("dtype", ["int32", "float64"])
def test_next_level_from_partly_empty_buckets_equals_the_masked_reduction(dtype):
    from pipelines.store.pyramid import bucket_minmax, level_minmax_pow2

    rng = np.random.default_rng(7)
    f, n = 16, 16 * 500
    lo = rng.integers(-1000, 1000, n).astype(dtype)
    hi = lo + rng.integers(0, 50, n).astype(dtype)
    fill = fill_value_for(np.dtype(dtype))
    masks = [np.ones(n, dtype=bool), rng.random(n) > 0.3, np.arange(n) < n - 37,
             (np.arange(n) // 16) % 3 != 1, np.zeros(n, dtype=bool),
             (np.arange(n) // 16) % 50 != 7, np.arange(n) % 400 > 3]
    for present in masks:
        pmin, pmax = np.where(present, lo, fill), np.where(present, hi, fill)
        got = level_minmax_pow2(pmin, pmax, present, f, np.dtype(dtype))
        want_min = bucket_minmax(pmin, present, f, np.dtype(dtype))[0]
        want_max = bucket_minmax(pmax, present, f, np.dtype(dtype))[1]
        np.testing.assert_array_equal(got[0], want_min)
        np.testing.assert_array_equal(got[1], want_max)
