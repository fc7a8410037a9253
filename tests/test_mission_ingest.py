"""Mission ingest: LISA/LDC HDF5, OGIP FITS and telemetry tables, written here in each layout."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from pipelines.mission import spectra
from pipelines.mission.ingest import ingest_mission
from pipelines.mission.options import MissionOptions
from pipelines.mission.series import SIM_EPOCH, epoch_ns
from pipelines.store import open_store
from pipelines.timebase import NS
from tests.conftest import run_cli
from tests.mission_files import write_ldc, write_lisa, write_ogip, write_table

EPOCH = epoch_ns(SIM_EPOCH)


def _tree_digest(path: str) -> str:
    """Hash of every file (name and bytes) under a folder."""
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(p.encode())
            h.update(open(p, "rb").read())
    return h.hexdigest()


def _stored(stream, start_ns: int, n: int) -> np.ndarray:
    """n grid samples from start_ns (NaN/fill where absent)."""
    i0 = stream.index_of(start_ns)
    assert abs(i0 - round(i0)) < 1e-6
    i0 = int(round(i0))
    vals, mask = stream.read_raw(i0, i0 + n)
    out = vals.astype(np.float64)
    out[~mask] = np.nan
    return out


def test_lisa_round_trip_lossless_with_gap(tmp_path: Path):
    f = tmp_path / "sim.h5"
    truth = write_lisa(f, n=3000, dt=0.25, t0=1000.0, nan_span=(500, 620))
    rep = ingest_mission(str(tmp_path / "s.zarr"), [str(f)])
    assert not rep.issues and rep.files_ingested == 1
    st = open_store(str(tmp_path / "s.zarr"))
    assert sorted(st.streams()) == sorted(truth)
    t0 = EPOCH + 1000 * NS
    for name, x in truth.items():
        s = st[name]
        assert s.dtype == np.float64 and s.sampling_rate == 4.0
        got = _stored(s, t0, len(x))
        np.testing.assert_array_equal(got, x)  # NaN where NaN, bit-equal elsewhere
        assert s.segments.tolist() == [[t0, t0 + 500 * NS // 4],
                                       [t0 + 620 * NS // 4, t0 + 3000 * NS // 4]]
        assert s.attrs["t0_s"] == 1000.0 and s.attrs["sim_epoch_utc"].startswith("2000-01-01T12")
        assert s.attrs["link"] == name.rsplit(".", 1)[1]


def test_ldc_compound_and_array_layouts(tmp_path: Path):
    for compound in (True, False):
        f = tmp_path / f"ldc_{compound}.h5"
        truth = write_ldc(f, n=2000, dt=5.0, t0=50.0, compound=compound, gap=(700, 900))
        store = str(tmp_path / f"s_{compound}.zarr")
        rep = ingest_mission(store, [str(f)])
        assert not rep.issues
        st = open_store(store)
        assert st.streams() == ["LDC.X", "LDC.Y", "LDC.Z"]
        t0 = EPOCH + 50 * NS
        for name, x in truth.items():
            s = st[name]
            assert s.sampling_rate == pytest.approx(0.2)
            np.testing.assert_array_equal(_stored(s, t0, len(x)), x)
            assert len(s.gaps()) == 1
            assert s.gaps()[0].tolist() == [t0 + 700 * 5 * NS, t0 + 900 * 5 * NS]


def _astropy_utc_ns(mjdrefi, mjdreff, met_s, scale) -> int:
    from astropy.time import Time, TimeDelta

    t = (Time(mjdrefi, mjdreff, format="mjd", scale=scale)
         + TimeDelta(met_s, format="sec")).utc
    t.precision = 9
    whole = Time(t.isot.split(".")[0], format="isot", scale="utc")
    frac = float(t.isot.split(".")[1]) / 10 ** len(t.isot.split(".")[1]) if "." in t.isot \
        else 0.0
    return int(round(whole.unix)) * NS + int(round(frac * NS))


@pytest.mark.parametrize("timesys,split,unit", [("TT", True, "s"), ("TT", False, "d"),
                                                 ("UTC", True, "s"), ("TDB", True, "s")])
def test_ogip_light_curve_utc_and_gtis(tmp_path: Path, timesys, split, unit):
    f = tmp_path / "lc.fits"
    lc = write_ogip(f, n=400, timedel=2.0, timesys=timesys, split_ref=split, timeunit=unit,
                    gtis=((0, 150), (210, 400)))
    store = str(tmp_path / "s.zarr")
    rep = ingest_mission(store, [str(f)])
    assert not rep.issues, [i.line() for i in rep.issues]
    st = open_store(store)
    names = st.streams()
    assert {"INTEGRAL.JEM-X.RATE", "INTEGRAL.JEM-X.ERROR", "INTEGRAL.JEM-X.FRACEXP",
            "INTEGRAL.JEM-X.RATE_BANDS_1", "INTEGRAL.JEM-X.RATE_BANDS_2"} <= set(names)
    rate = st["INTEGRAL.JEM-X.RATE"]
    assert rate.attrs["time_system"] == timesys
    assert rate.dtype == np.float32 and rate.sampling_rate == pytest.approx(0.5)
    i, frac = lc["mjdref"]
    expect0 = _astropy_utc_ns(i, frac, lc["time"][0], timesys.lower())
    # astropy's own conversion, independently: within a microsecond (float MJD fractions)
    assert abs(int(rate.segments[0, 0]) - expect0) < 1000
    # GTIs are marks, not filters: every row is a sample, the rows outside are listed
    assert len(rate.segments) == 1
    got = _stored(rate, int(rate.segments[0, 0]), 400)
    np.testing.assert_array_equal(got, lc["rate"])
    out0 = _astropy_utc_ns(i, frac, lc["time"][150], timesys.lower())
    out1 = _astropy_utc_ns(i, frac, lc["time"][209], timesys.lower())
    (a, b), = rate.attrs["outside_gti"]
    assert abs(a - out0) < 1000 and abs(b - out1) < 1000
    b2 = st["INTEGRAL.JEM-X.RATE_BANDS_2"]
    assert b2.attrs["e_min"] == 13.0
    np.testing.assert_array_equal(_stored(b2, int(b2.segments[0, 0]), 400), lc["bands"][:, 1])
    assert len(rate.attrs["gti"]) == 2 and rate.attrs["rows_outside_gti"] == 60
    assert not rep.warnings, [w.line() for w in rep.warnings]  # a header that agrees with itself


def test_telemetry_tables_regular_and_irregular(tmp_path: Path):
    csv = tmp_path / "hk_2024-03-05.csv"
    df = write_table(csv, n=600)
    pq = tmp_path / "aocs_1.parquet"
    dfi = write_table(pq, n=800, irregular=True)
    store = str(tmp_path / "s.zarr")
    rep = ingest_mission(store, [str(csv), str(pq)])
    assert not rep.issues
    st = open_store(store)
    assert {"hk.temp_obc", "hk.bus_voltage", "hk.mode", "aocs.temp_obc"} <= set(st.streams())
    assert not any(n.endswith(".note") for n in st.streams())  # text columns are not streams
    s = st["hk.temp_obc"]
    assert s.sampling_rate == 1.0 and s.dtype == np.float64
    t0 = int(df["time"].iloc[0].value)
    np.testing.assert_array_equal(_stored(s, t0, 600), df["temp_obc"].to_numpy())
    assert st["hk.mode"].dtype == np.int64
    irr = st["aocs.temp_obc"]
    assert irr.kind == "irregular"
    t, v = irr.read_times()
    np.testing.assert_array_equal(t, np.array([x.value for x in dfi["time"]]))
    np.testing.assert_array_equal(v, dfi["temp_obc"].to_numpy())


def test_idempotent_and_says_so(tmp_path: Path):
    files = [tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.fits", tmp_path / "d.parquet"]
    write_lisa(files[0], n=2000)
    write_ldc(files[1])
    write_ogip(files[2])
    write_table(files[3], irregular=True)
    store = str(tmp_path / "s.zarr")
    first = run_cli("ingest", "mission", "--store", store, *map(str, files))
    assert first.returncode == 0, first.stderr
    before = _tree_digest(store)
    again = run_cli("ingest", "mission", "--store", store, *map(str, files))
    assert again.returncode == 0
    assert "nothing changed" in again.stdout
    assert _tree_digest(store) == before


def test_bad_files_one_line_each_and_exit_status(tmp_path: Path):
    good = tmp_path / "good.h5"
    write_lisa(good, n=500, quantities=("isi",))
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"not a mission file at all")
    import h5py

    broken = tmp_path / "broken.h5"
    with h5py.File(broken, "w") as f:
        f.attrs["metadata_json"] = "{not json"
        f.create_group("isi").create_dataset("12", data=np.zeros(10))
    wrong = tmp_path / "wrong_size.h5"
    with h5py.File(wrong, "w") as f:
        f.attrs["metadata_json"] = json.dumps({"dt": 0.25, "t0": 0, "size": 99})
        f.create_group("isi").create_dataset("12", data=np.zeros(10))
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("something", data=np.zeros(3))
    store = str(tmp_path / "s.zarr")
    res = run_cli("ingest", "mission", "--store", store, str(good), str(junk), str(broken),
                  str(wrong), str(other), str(tmp_path / "missing.h5"))
    assert res.returncode == 1
    err = " ".join(res.stderr.split())
    assert f"{junk}: in none of the mission layouts" in err
    assert f"{broken}: broken header: metadata_json is not JSON" in err
    assert f"{wrong}: LISA instrument file holds no 1-D series of size=99 samples" in err
    assert f"{other}: HDF5 file in none of the known layouts" in err
    assert "missing.h5: no such file or folder" in err
    assert open_store(store).streams() == [f"LISA.isi.{k}" for k in
                                           ("12", "13", "21", "23", "31", "32")]
    usage = run_cli("ingest", "mission", "--store", store, "--sim-epoch", "yesterday",
                    str(good))
    assert usage.returncode == 2 and "--sim-epoch" in usage.stderr


def test_interrupted_ingest_resumes_to_the_same_store(tmp_path: Path, monkeypatch):
    import pipelines.mission.ingest as mi

    f = tmp_path / "sim.h5"
    truth = write_lisa(f, n=3000, quantities=("isi", "tmi"))
    clean = str(tmp_path / "clean.zarr")
    ingest_mission(clean, [str(f)])
    store = str(tmp_path / "s.zarr")
    real = mi.ingest_series
    calls = {"n": 0}

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(mi, "ingest_series", dying)
    with pytest.raises(KeyboardInterrupt):
        ingest_mission(store, [str(f)])
    monkeypatch.setattr(mi, "ingest_series", real)
    assert len(open_store(store).streams()) == 4  # what was committed opens
    rep = ingest_mission(store, [str(f)])
    assert rep.samples_written == 8 * 3000 and not rep.issues
    a, b = open_store(clean), open_store(store)
    assert a.streams() == b.streams() == sorted(truth)
    for name in truth:
        assert a[name].segments.tolist() == b[name].segments.tolist()
        np.testing.assert_array_equal(a[name].read_segments()[0][1], b[name].read_segments()[0][1])
        assert len(b[name].attrs["provenance"]) == 1


def test_spectra_precomputed_for_long_streams(tmp_path: Path):
    f = tmp_path / "long.h5"
    sigma = 2.0
    n = 4 * 3600 * 4  # 4 h at 4 Hz: four hourly blocks
    import h5py

    rng = np.random.default_rng(5)
    with h5py.File(f, "w") as h:
        h.attrs["metadata_json"] = json.dumps({"dt": 0.25, "t0": 0.0, "size": n})
        x = rng.standard_normal(n) * sigma
        x[20000:21000] = np.nan  # a gap inside the second block
        h.create_group("isi").create_dataset("12", data=x)
    store = str(tmp_path / "s.zarr")
    ingest_mission(store, [str(f)], MissionOptions(spectra_block_s=3600))
    s = open_store(store)["LISA.isi.12"]
    assert spectra.has_spectra(s)
    grp = s.group["spectra"]
    assert grp["asd"].shape[1] == grp.attrs["nf"] and grp["asd"].shape[0] >= 4
    cov = grp["coverage"][:]
    b0 = int(s.index_of(EPOCH)) // grp.attrs["block_n"]  # blocks are hours of the UTC day
    assert cov[b0] == 1.0 and 0.9 < cov[b0 + 1] < 1.0 and cov[b0 + 2] == 1.0
    assert np.isnan(grp["asd"][0]).all() and cov[0] == 0  # no data before the first sample
    freq, asd, used = spectra.read_asd(s, EPOCH, EPOCH + 4 * 3600 * NS)
    assert used == 4
    expect = sigma * np.sqrt(2 / 4.0)  # white noise: one-sided ASD = sigma * sqrt(2 / fs)
    assert np.median(asd[1:-1]) == pytest.approx(expect, rel=0.05)
    assert freq[1] == pytest.approx(4.0 / grp.attrs["nperseg"])


def test_batched_welch_equals_scipy():
    from scipy.signal import welch

    x = np.random.default_rng(9).standard_normal((3, 10_000))
    for nper in (2500, 2501):
        _, ref = welch(x, fs=4.0, nperseg=nper, detrend="constant", axis=-1)
        np.testing.assert_allclose(spectra.welch_psd(x, 4.0, nper), ref, rtol=1e-12)


def test_info_and_export_on_mission_streams(tmp_path: Path):
    f = tmp_path / "sim.h5"
    truth = write_lisa(f, n=1000, quantities=("isi",), links=("12",), nan_span=(400, 450))
    pq = tmp_path / "hk.parquet"
    df = write_table(pq, n=300, irregular=True)
    store = str(tmp_path / "s.zarr")
    assert not ingest_mission(store, [str(f), str(pq)]).issues
    info = run_cli("info", store, "--json")
    assert info.returncode == 0, info.stderr
    desc = {s["stream"]: s for s in json.loads(info.stdout)["streams"]}
    assert desc["LISA.isi.12"]["samples"] == 950 and desc["LISA.isi.12"]["gaps"] == 1
    assert desc["hk.temp_obc"]["kind"] == "irregular" and desc["hk.temp_obc"]["samples"] == 300
    out = tmp_path / "isi.npy"
    res = run_cli("export", "--store", store, "LISA.isi.12", "--format", "npy", "-o", str(out))
    assert res.returncode == 0, res.stderr
    x = truth["LISA.isi.12"]
    np.testing.assert_array_equal(np.load(tmp_path / "isi_00.npy"), x[:400])
    np.testing.assert_array_equal(np.load(tmp_path / "isi_01.npy"), x[450:])
    csv = tmp_path / "hk.csv"
    res = run_cli("export", "--store", store, "hk.temp_obc", "--format", "csv", "-o", str(csv))
    assert res.returncode == 0, res.stderr
    import pandas as pd

    back = pd.read_csv(csv, float_precision="round_trip")
    np.testing.assert_array_equal(back["hk.temp_obc"].to_numpy(), df["temp_obc"].to_numpy())
    stamps = pd.to_datetime(back["time_utc"], utc=True, format="ISO8601")
    assert [t.value for t in stamps] == [t.value for t in df["time"]]
    res = run_cli("export", "--store", store, "hk.temp_obc", "--format", "mseed",
                  "-o", str(tmp_path / "x.mseed"))
    assert res.returncode == 1 and "irregular timestamps" in " ".join(res.stderr.split())


def test_each_file_goes_to_the_reader_of_its_format(tmp_path: Path):
    """One READERS tuple: each format is a module with can_open and read; the first reader
    that can open a file reads it, and its layout is the one recorded in the provenance."""
    from pipelines.mission import hdf5, ogip, readers, table
    from pipelines.mission.series import LayoutError

    write_lisa(tmp_path / "sim.h5", n=100)
    write_ldc(tmp_path / "ldc.h5", n=100, gap=None)
    write_ogip(tmp_path / "lc.fits")
    write_table(tmp_path / "hk.csv", n=10)
    write_table(tmp_path / "hk.parquet", n=10)
    expected = {"sim.h5": (hdf5, "lisa"), "ldc.h5": (hdf5, "ldc"), "lc.fits": (ogip, "ogip"),
                "hk.csv": (table, "csv"), "hk.parquet": (table, "parquet")}
    for r in readers.READERS:
        assert callable(r.can_open) and callable(r.read) and r.NAME
    for name, (module, layout) in expected.items():
        path = str(tmp_path / name)
        assert readers.reader_for(path) is module
        with module.read(path, MissionOptions()) as contents:
            assert contents.layout == layout and contents.series
    (tmp_path / "notes.bin").write_bytes(b"nothing known")
    with pytest.raises(LayoutError, match="in none of the mission layouts"):
        readers.reader_for(str(tmp_path / "notes.bin"))
