"""Mission files the real tools wrote (tests/data/mission, see its README), checked against the
readers of those tools' own communities: h5py for lisainstrument 2.3.0's HDF5 simulation, astropy
and stingray for the HEASARC/XRONOS and eROSITA light curves shipped in stingray 2.3.2."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from pipelines.mission import hdf5
from pipelines.mission.ingest import ingest_mission, open_any
from pipelines.mission.series import SIM_EPOCH, epoch_ns
from pipelines.store import IrregularStream, open_store
from pipelines.timebase import NS
from tests.conftest import run_cli

DATA = Path(__file__).parent / "data" / "mission"
LISA_FILE = DATA / "lisainstrument-2.3.0-size200-seed1.h5"
LDC_FILE = DATA / "ldc-1.2.5-tdi-n2000-seed2.h5"
EPOCH = epoch_ns(SIM_EPOCH)


def stored(store, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(int64 ns times, values) of every sample present in a stream of either kind."""
    s = open_any(store, name)
    if isinstance(s, IrregularStream):
        return s.read_times()
    vals, mask = s.read_raw(0, s.length)
    idx = np.flatnonzero(mask)
    return np.asarray(s.time_of(idx), dtype=np.int64), vals[mask]


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two arrays hold the same dtype and the same bytes."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype.newbyteorder("=") == b.dtype.newbyteorder("=") and a.shape == b.shape \
        and a.astype(a.dtype.newbyteorder("=")).tobytes() == \
        b.astype(b.dtype.newbyteorder("=")).tobytes()


# -- LISA: lisainstrument 2.3.0 -----------------------------------------------------------

@pytest.fixture(scope="module")
def lisa_store(tmp_path_factory) -> tuple[str, object]:
    d = tmp_path_factory.mktemp("lisa")
    store = str(d / "s.zarr")
    rep = ingest_mission(store, [str(LISA_FILE)])
    return store, rep


def _lisa_layout() -> tuple[dict, dict[str, h5py.Dataset]]:
    with h5py.File(LISA_FILE, "r") as f:
        meta = json.loads(f.attrs["metadata_json"])
        arrays = {p: f[p][()] for p in hdf5.datasets(f)}
        version = str(f.attrs["version_format"])
    return {**meta, "version_format": version}, arrays


def test_checked_in_lisa_file_is_of_the_layout_version_the_reader_knows():
    # Regenerating tests/data/mission with a newer lisainstrument (make_lisa.py) fails here
    # first: then check its layout against the reader and raise KNOWN_FORMAT_MAJOR.
    meta, arrays = _lisa_layout()
    assert hdf5.format_major(meta["version_format"]) == hdf5.KNOWN_FORMAT_MAJOR
    assert meta["size"] == 200 and meta["dt"] == 0.25
    assert len(arrays) > 60


def test_every_series_of_a_real_lisa_file_is_a_stream_bit_for_bit(lisa_store):
    store_url, rep = lisa_store
    assert not rep.issues, [i.line() for i in rep.issues]
    meta, arrays = _lisa_layout()
    st = open_store(store_url)
    on_grid = {p: a for p, a in arrays.items() if a.ndim == 1 and len(a) == meta["size"]}
    expect = {"LISA." + p.replace("/", "."): p for p in on_grid}
    assert set(st.streams()) == set(expect)
    assert sum(n.startswith("LISA.debug.") for n in expect) == 72  # 12 quantities x 6 links
    start = EPOCH + int(round(meta["t0"] * NS))
    for name, p in expect.items():
        t, v = stored(st, name)
        assert same_bits(v, on_grid[p]), name  # every sample, bit for bit (h5py's reading)
        assert t[0] == start and (np.diff(t) == int(meta["dt"] * NS)).all()
        assert st.root[name].attrs["dataset"] == "/" + p


def test_every_dataset_of_a_real_lisa_file_is_a_stream_or_a_named_auxiliary(lisa_store):
    store_url, rep = lisa_store
    meta, arrays = _lisa_layout()
    st = open_store(store_url)
    streams = set(st.streams())
    aux = st.root[st.streams()[0]].attrs["auxiliary"]
    line = " ".join(w.line() for w in rep.warnings)
    for p, a in arrays.items():
        if "LISA." + p.replace("/", ".") in streams:
            continue
        assert "/" + p in aux and "/" + p in line, p  # kept, and named in the report
        np.testing.assert_array_equal(np.asarray(aux["/" + p]["values"], dtype=a.dtype), a)
    assert {"/moc_time_correlations/1", "/moc_time_correlations/2",
            "/moc_time_correlations/3"} <= set(aux)
    assert aux["/moc_time_correlations/1"]["grid"]["dt_s"] == meta["telemetry_dt"]


def test_a_newer_lisa_layout_version_is_ingested_with_a_warning(tmp_path: Path):
    f = tmp_path / "newer.h5"
    shutil.copy(LISA_FILE, f)
    with h5py.File(f, "a") as h:
        h.attrs["version_format"] = "3.0.0"
    rep = ingest_mission(str(tmp_path / "s.zarr"), [str(f)])
    assert not rep.issues and len(open_store(str(tmp_path / "s.zarr")).streams()) == 126
    assert any("version_format=3.0.0" in w.problem and "knows 2.x" in w.problem
               for w in rep.warnings)


# -- LDC: TDI written by lisa-data-challenge 1.2.5's own TDI.save ---------------------------

def test_every_finite_tdi_sample_of_a_real_ldc_file_is_stored_bit_for_bit(tmp_path: Path):
    store = str(tmp_path / "s.zarr")
    rep = ingest_mission(store, [str(LDC_FILE)])
    assert not rep.issues, [i.line() for i in rep.issues]
    with h5py.File(LDC_FILE, "r") as f:
        ds = f["obs/tdi"]
        assert ds.shape[1:] == (1,)  # the package's (N, 1) records: the layout read here
        rec = ds[()][:, 0]
    st = open_store(store)
    assert st.streams() == ["LDC.X", "LDC.Y", "LDC.Z"]
    want_t = EPOCH + np.round(rec["t"] * NS).astype(np.int64)
    for c in "XYZ":
        keep = np.isfinite(rec[c])
        assert 0 < keep.sum() < len(keep)  # the file has its NaN gap
        t, v = stored(st, f"LDC.{c}")
        assert same_bits(v, rec[c][keep]) and (t == want_t[keep]).all()
        assert len(open_any(st, f"LDC.{c}").gaps()) == 1


# -- OGIP: XRONOS lcurve and eROSITA light curves shipped in stingray 2.3.2 ---------------

LC_FILES = ("lcurveA.fits", "lcurve_new.fits", "LightCurve_bexvar.fits")


def _utc_ns(mjd_int: float, mjd_frac: float, seconds: np.ndarray, scale: str) -> np.ndarray:
    """UTC ns since 1970 by astropy's own ISO formatting (independent of the reader's path)."""
    from astropy.time import Time, TimeDelta

    t = (Time(mjd_int, mjd_frac, format="mjd", scale=scale)
         + TimeDelta(np.asarray(seconds, dtype=np.float64), format="sec")).utc
    t.precision = 9
    out = []
    for iso in np.atleast_1d(t.isot):
        whole, frac = iso.split(".")
        sec = int(round(Time(whole, format="isot", scale="utc").unix))
        out.append(sec * NS + int(frac.ljust(9, "0")[:9]))
    return np.asarray(out, dtype=np.int64)


# What each file's header means, said here by hand from the headers (astropy reads the rest):
# XRONOS's TIMEZERO (TIMEZERI+TIMEZERF, days) is a Truncated Julian Date (MJD - 40000), its TIME
# column counts seconds (TUNIT1 = s) although TIMEUNIT = d; eROSITA's TIME counts seconds
# from MJDREF on TT.
def _expected_times(name: str, hdr, time_s: np.ndarray) -> np.ndarray:
    if name.startswith("lcurve"):
        return _utc_ns(40000.0 + hdr["TIMEZERI"], hdr["TIMEZERF"], time_s, "tt")
    return _utc_ns(np.floor(hdr["MJDREF"]), hdr["MJDREF"] % 1, time_s, hdr["TIMESYS"].lower())


@pytest.fixture(scope="module")
def ogip_store(tmp_path_factory) -> tuple[str, object]:
    d = tmp_path_factory.mktemp("ogip")
    stores = {}
    for name in LC_FILES:
        store = str(d / f"{name}.zarr")
        stores[name] = (store, ingest_mission(store, [str(DATA / name)]))
    return stores


@pytest.mark.parametrize("name", LC_FILES)
def test_every_finite_value_of_every_column_is_stored_at_its_astropy_utc_time(ogip_store,
                                                                             name):
    from astropy.io import fits

    store_url, rep = ogip_store[name]
    assert not rep.issues, [i.line() for i in rep.issues]
    st = open_store(store_url)
    with fits.open(DATA / name) as h:
        hdu = h[1]
        hdr, data = hdu.header, hdu.data
        tel = hdr.get("TELESCOP", "UNKNOWN").strip()
        ins = hdr.get("INSTRUME", "UNKNOWN").strip()
        time_s = np.asarray(data["TIME"], dtype=np.float64)
        want_t = _expected_times(name, hdr, time_s)
        checked = 0
        for col in hdu.columns:
            if col.name.upper() == "TIME":
                continue
            arr = np.asarray(data[col.name])
            bands = [(f"{tel}.{ins}.{col.name}", arr)] if arr.ndim == 1 else \
                [(f"{tel}.{ins}.{col.name}_{j + 1}", arr[:, j]) for j in range(arr.shape[1])]
            for stream, col_vals in bands:
                keep = np.isfinite(col_vals) if col_vals.dtype.kind == "f" else \
                    np.ones(len(col_vals), bool)
                t, v = stored(st, stream)
                assert same_bits(v, col_vals[keep].astype(col_vals.dtype.newbyteorder("="))), \
                    stream
                assert np.abs(t - want_t[keep]).max() < 1000, stream  # within 1 us
                checked += int(keep.sum())
    assert checked == rep.samples_written  # nothing else was written, nothing left out


def test_numbered_and_vector_columns_become_named_streams(ogip_store):
    a = open_store(ogip_store["lcurveA.fits"][0]).streams()
    assert {"UNKNOWN.UNKNOWN.RATE1", "UNKNOWN.UNKNOWN.ERROR1", "UNKNOWN.UNKNOWN.FRACEXP"} <= set(a)
    e = open_store(ogip_store["LightCurve_bexvar.fits"][0])
    assert {f"eROSITA.MERGED.{c}_{b}" for c in ("RATE", "COUNTS", "RATE_ERR", "FRACEXP")
            for b in (1, 2, 3)} <= set(e.streams())
    assert e.root["eROSITA.MERGED.COUNTS_2"].attrs["band"] == 2


def _stingray_lc(path: Path):
    from stingray import Lightcurve

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "FITS light curve handling is still under testing"
        return Lightcurve.read(str(path), fmt="hea", skip_checks=True)


@pytest.mark.parametrize("name,rate_col", [("lcurveA.fits", "RATE1"), ("lcurve_new.fits", "RATE")])
def test_light_curves_match_what_stingray_reads(ogip_store, name, rate_col):
    from astropy.io import fits
    from astropy.time import Time, TimeDelta

    lc = _stingray_lc(DATA / name)
    with fits.open(DATA / name) as h:
        cols = h[1].columns.names
        frac = np.asarray(h[1].data["FRACEXP"], dtype=np.float64) if "FRACEXP" in cols \
            else np.ones(len(lc.time))
    st = open_store(ogip_store[name][0])
    t, v = stored(st, f"UNKNOWN.UNKNOWN.{rate_col}")
    # stingray places bins on its MJDREF in TDB; ours are UTC from TT: TT - TDB < 2 ms
    sting = (Time(lc.mjdref, format="mjd", scale="tdb")
             + TimeDelta(np.asarray(lc.time, dtype=np.float64), format="sec")).utc
    sting_ns = np.round((sting.jd1 - 2440587.5) * 86400 * NS).astype(np.int64) \
        + np.round(sting.jd2 * 86400 * NS).astype(np.int64)
    good = np.asarray(lc.counts != 0) & (frac >= 0.9)  # stingray zeroes the bins it rejects
    pos = np.searchsorted(t, sting_ns[good] - 2_000_000)
    assert len(t) >= good.sum() and (np.abs(t[pos] - sting_ns[good]) < 2_000_000).all()
    assert np.abs(np.diff(t[pos]) - np.diff(sting_ns[good])).max() < 1000  # spacing: 1 us
    # stingray's countrate is RATE / FRACEXP: the same values as stored, exposure undone
    np.testing.assert_allclose(v[pos] / frac[good], np.asarray(lc.countrate)[good], rtol=1e-6)
    outside = st.root[f"UNKNOWN.UNKNOWN.{rate_col}"].attrs["rows_outside_gti"]
    if name == "lcurve_new.fits":  # the one with a GTI table: the same bins inside as stingray
        assert len(lc.time) - outside == int(np.asarray(lc.mask).sum()) == 10


def test_gtis_mark_bins_and_never_drop_them(ogip_store):
    st = open_store(ogip_store["lcurve_new.fits"][0])
    a = st.root["UNKNOWN.UNKNOWN.XAX_E"].attrs
    t, v = stored(st, "UNKNOWN.UNKNOWN.XAX_E")
    assert len(v) == 2000 and a["rows_outside_gti"] == 1990
    (g0, g1), = a["gti"]
    inside = (t >= g0) & (t < g1)
    assert inside.sum() == 10
    (o0, o1), = a["outside_gti"]  # one run of rows outside: from the 11th bin to the last
    assert o0 == t[10] and o1 == t[-1]


def test_gtis_that_cover_no_bin_keep_the_file_whole(tmp_path: Path):
    from astropy.io import fits

    f = tmp_path / "far_gti.fits"
    with fits.open(DATA / "lcurve_new.fits") as h:
        h["GTI"].data["START"] += 1e8
        h["GTI"].data["STOP"] += 1e8
        h.writeto(f)
    rep = ingest_mission(str(tmp_path / "s.zarr"), [str(f)])
    assert not rep.issues and rep.samples_written == 2011  # 2000 XAX_E + 11 finite RATE
    assert any("no light-curve bin lies inside the 1 GTIs" in w.problem for w in rep.warnings)
    st = open_store(str(tmp_path / "s.zarr"))
    assert st.root["UNKNOWN.UNKNOWN.RATE"].attrs["rows_outside_gti"] == 2000


def test_header_warnings_name_the_keyword_and_assumption_and_exit_0(tmp_path: Path):
    store = str(tmp_path / "s.zarr")
    res = run_cli("ingest", "mission", "--store", store, str(DATA / "lcurveA.fits"))
    assert res.returncode == 0, res.stderr
    err = " ".join(res.stderr.split())
    assert "warning:" in err and "lcurveA.fits: TIMEUNIT='d' does not fit the TIME column" in err
    assert "TIME read in s" in err
    assert "no MJDREF (nor MJDREFI/MJDREFF)" in err and "Truncated Julian Date" in err
    assert "warnings: 2 on files ingested whole" in res.stdout
    js = run_cli("ingest", "mission", "--store", str(tmp_path / "j.zarr"), "--json",
                 str(DATA / "lcurve_new.fits"))
    assert js.returncode == 0
    body = json.loads(js.stdout)
    assert not body["issues"] and len(body["warnings"]) == 2
    assert any("MJDREF kept for the GTIs" in w for w in body["warnings"])


def test_two_real_light_curves_of_one_unnamed_instrument_share_a_store(tmp_path: Path):
    # Neither XRONOS file names TELESCOP/INSTRUME, so both write UNKNOWN.UNKNOWN.XAX_E, on
    # grids of 1 s and 100 s that overlap: a second epoch, its overlap reported, not a crash.
    store = str(tmp_path / "s.zarr")
    rep = ingest_mission(store, [str(DATA / "lcurveA.fits"), str(DATA / "lcurve_new.fits")])
    assert not rep.issues, [i.line() for i in rep.issues]
    assert rep.files_ingested == 2
    (c,) = rep.conflicts
    assert c["stream"] == "UNKNOWN.UNKNOWN.XAX_E~1" and c["samples"] == 10
    assert rep.samples_written == 4101 + 2011 - 10
