"""Seismic ingest on real miniSEED: round trip, gaps, overlaps, order, idempotence, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import obspy
import pytest
from obspy import Stream, Trace, UTCDateTime, read

from pipelines.demo import obspy_files
from pipelines.seismic.ingest import ingest_seismic
from pipelines.store import StoreError, StoreVersionError, open_store
from pipelines.timebase import NS
from tests.conftest import T0, make_sds, run_cli
from tests.storeutil import assert_same_store

OBSPY = Path(obspy.__file__).parent


def _assert_traces_stored(store_path: str, files: list[str]) -> int:
    """Every sample of every trace in the files equals the stored sample at its time."""
    st = open_store(store_path)
    checked = 0
    for f in files:
        for tr in read(f):
            s = st[tr.id]
            i0 = s.index_of(tr.stats.starttime.ns)
            assert abs(i0 - round(i0)) <= 0.25  # the documented snapping tolerance
            i0 = int(round(i0))
            stored = s.data[i0:i0 + tr.stats.npts]
            assert stored.dtype == tr.data.dtype
            np.testing.assert_array_equal(stored, tr.data)
            assert s.present_mask(i0, i0 + tr.stats.npts).all()
            checked += tr.stats.npts
    return checked


def test_obspy_real_files_round_trip(tmp_path):
    real = obspy_files()
    assert len(real.mseed) >= 4
    store = str(tmp_path / "s.zarr")
    rep = ingest_seismic(store, real.mseed, real.stationxml, real.quakeml)
    assert rep.samples_written > 0
    assert _assert_traces_stored(store, real.mseed) == rep.samples_read
    st = open_store(store)
    # gaps.mseed holds BW.BGLD..EHE with gaps: the segments must match ObsPy's own gap list.
    gaps = read(str(OBSPY / "io/mseed/tests/data/gaps.mseed")).get_gaps()
    stored = st["BW.BGLD..EHE"].gaps()
    assert len(stored) == len(gaps) == 3
    for (a, b), g in zip(stored, sorted(gaps, key=lambda g: g[4]), strict=True):
        assert abs(a - g[4].ns) <= NS / 200  # the gap starts one sample after the last present
        assert abs(b - g[5].ns) <= NS / 400
    assert len(st.events()) == 3


def test_stationxml_metadata_and_unmatched_inventory(tmp_path):
    store = str(tmp_path / "s.zarr")
    make_sds(tmp_path / "sds", channels=("BW.RJOB..EHZ",), hours=2, start=UTCDateTime(2009, 8, 24))
    iris = OBSPY / "io/stationxml/tests/data/IRIS_single_channel_with_response.xml"
    rep = ingest_seismic(store, [str(tmp_path / "sds")],
                         [str(OBSPY / "core/data/BW_RJOB.xml"), str(iris)])
    s = open_store(store)["BW.RJOB..EHZ"]
    assert s.attrs["coordinates"]["latitude"] == pytest.approx(47.737167)
    assert s.attrs["sensitivity"]["value"] > 0
    assert s.attrs["instrument"]
    lines = [i.line() for i in rep.issues]
    assert any("IRIS_single_channel_with_response.xml" in x and "matches none" in x
               for x in lines), lines
    assert len(lines) == 1


def test_generated_sds_lossless_with_gaps_and_info_export(tmp_path):
    truth = make_sds(tmp_path / "sds", gaps=[("XX.TST.00.HHZ", 3600, 600)])
    store = str(tmp_path / "s.zarr")
    r = run_cli("ingest", "seismic", "--store", store, str(tmp_path / "sds"))
    assert r.returncode == 0, r.stderr
    assert "streams: 2" in r.stdout
    st = open_store(store)
    z = st["XX.TST.00.HHZ"]
    assert z.dtype == np.int32
    assert len(z.segments) == 2
    assert z.gaps()[0, 0] == T0.ns + 3600 * NS
    assert z.gaps()[0, 1] == T0.ns + 4200 * NS
    for name, data in truth.items():
        runs = st[name].read_segments()
        got = np.concatenate([v for _, v in runs])
        keep = np.ones(len(data), bool)
        if name.endswith("HHZ"):
            keep[3600 * 20:4200 * 20] = False
        np.testing.assert_array_equal(got, data[keep])
    info = json.loads(run_cli("info", store, "--json").stdout)
    assert {s["stream"] for s in info["streams"]} == set(truth)
    hhz = next(s for s in info["streams"] if s["stream"] == "XX.TST.00.HHZ")
    assert hhz["gaps"] == 1 and hhz["gap_seconds"] == pytest.approx(600)
    # Export gives the samples back: miniSEED, CSV, NumPy.
    out = tmp_path / "o.mseed"
    r = run_cli("export", "--store", store, "XX.TST.00.HHN", "--format", "mseed", "-o", str(out))
    assert r.returncode == 0, r.stderr
    back = read(str(out)).merge()
    np.testing.assert_array_equal(back[0].data, truth["XX.TST.00.HHN"])
    assert back[0].stats.starttime == T0
    r = run_cli("export", "--store", store, "XX.TST.00.HHZ", "--format", "csv", "-o",
                str(tmp_path / "o.csv"), "--from", "2024-03-04T23:00:00", "--to",
                "2024-03-04T23:10:01")
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "o.csv").read_text().splitlines()
    assert lines[0] == "time_utc,XX.TST.00.HHZ"
    assert len(lines) == 1 + 20 * 1  # the gap (23:00-23:10) leaves one second at 23:10
    assert lines[1].startswith("2024-03-04T23:10:00.000000Z,")
    assert int(lines[1].split(",")[1]) == truth["XX.TST.00.HHZ"][4200 * 20]
    r = run_cli("export", "--store", store, "XX.TST.00.HHZ", "--format", "npy", "-o",
                str(tmp_path / "o.npy"))
    files = sorted(tmp_path.glob("o_*.npy"))
    assert len(files) == 2
    np.testing.assert_array_equal(np.load(files[0]), truth["XX.TST.00.HHZ"][:3600 * 20])
    r = run_cli("export", "--store", store, "XX.TST.00.HHZ", "--format", "sac", "-o",
                str(tmp_path / "o.sac"))
    assert r.returncode == 0 and len(list(tmp_path.glob("o_*.sac"))) == 2


def test_idempotent_reingest_changes_nothing(tmp_path):
    make_sds(tmp_path / "sds", hours=6)
    store = str(tmp_path / "s.zarr")
    assert run_cli("ingest", "seismic", "--store", store, str(tmp_path / "sds")).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in Path(store).rglob("*") if p.is_file()}
    r = run_cli("ingest", "seismic", "--store", store, str(tmp_path / "sds"))
    assert r.returncode == 0
    assert "nothing changed" in r.stdout
    after = {p: p.stat().st_mtime_ns for p in Path(store).rglob("*") if p.is_file()}
    assert before == after


def test_files_recorded_by_sha256_in_older_stores_are_recognised(tmp_path, monkeypatch):
    """Commits made before xxh3 record SHA-256 only: the same files are still known (and
    not decoded again); a changed file is not."""
    import hashlib

    import zarr

    from pipelines.seismic import mseed

    make_sds(tmp_path / "sds", hours=30)
    store = str(tmp_path / "s.zarr")
    ingest_seismic(store, [str(tmp_path / "sds")])
    root = zarr.open_group(store, mode="r+")
    for name in open_store(store).streams():
        prov = root[name].attrs["provenance"]
        assert prov and all("xxh3_128" in p for p in prov)
        for p in prov:
            del p["xxh3_128"]
            p["sha256"] = hashlib.sha256(Path(p["file"]).read_bytes()).hexdigest()
        root[name].attrs["provenance"] = prov
    decoded = []
    real = mseed.read
    monkeypatch.setattr(mseed, "read",
                        lambda path, options: decoded.append(path) or real(path, options))
    rep = ingest_seismic(store, [str(tmp_path / "sds")])
    assert rep.samples_written == 0 and rep.files_unchanged >= 2 and decoded == []
    one = sorted((tmp_path / "sds").rglob("*.D.2024.*"))[-1]
    st = read(str(one))
    st[0].data[:100] += 1
    st.write(str(one), format="MSEED", encoding="STEIM2")
    ingest_seismic(store, [str(tmp_path / "sds")])
    assert decoded == [str(one)]


def test_any_order_gives_same_store(tmp_path):
    make_sds(tmp_path / "sds", hours=52, start=UTCDateTime(2024, 3, 4, 1))
    days = sorted(p for p in (tmp_path / "sds").rglob("*.D.2024.*"))
    assert len(days) == 6  # 2 channels x 3 days
    in_order = str(tmp_path / "a.zarr")
    ingest_seismic(in_order, [str(tmp_path / "sds")])
    backwards = str(tmp_path / "b.zarr")
    for day in ("066", "065", "064"):  # latest first: each later run fills in earlier days
        ingest_seismic(backwards, [str(p) for p in days if p.name.endswith(day)])
    middle_last = str(tmp_path / "c.zarr")
    for day in ("064", "066", "065"):
        ingest_seismic(middle_last, [str(p) for p in days if p.name.endswith(day)])
    assert_same_store(in_order, backwards, same_grid=False)
    assert_same_store(in_order, middle_last)
    # The pyramid of the rebased store agrees with its samples too.
    s = open_store(backwards)["XX.TST.00.HHZ"]
    w = s.read_window(*s.span_ns, max_points=100)
    assert w.level >= 1
    assert np.nanmax(w.hi) == s.data[:s.length][s.present_mask(0, s.length)].max()


def test_files_are_committed_in_batches_with_every_file_recorded(tmp_path, monkeypatch):
    from pipelines.seismic import channels
    from pipelines.store import StreamWriter

    make_sds(tmp_path / "sds", channels=("XX.TST.00.HHZ",), hours=70,
             start=UTCDateTime(2024, 3, 4))  # 3 day files of 1,728,000 samples
    make_sds(tmp_path / "late", channels=("XX.TST.00.HHZ",), hours=10,
             start=UTCDateTime(2024, 5, 1), seed=1)  # one day file two months later
    commits = []
    real = StreamWriter.commit

    def counting(self, provenance=None, *a, **k):
        commits.append(len(provenance or []))
        return real(self, provenance, *a, **k)

    monkeypatch.setattr(StreamWriter, "commit", counting)
    inputs = [str(tmp_path / "sds"), str(tmp_path / "late")]
    ingest_seismic(str(tmp_path / "a.zarr"), inputs)
    # The three consecutive days in one commit; the far day in its own (bounded pyramid span).
    assert commits == [3, 1]
    commits.clear()
    monkeypatch.setattr(channels, "COMMIT_SAMPLES", 2_000_000)
    ingest_seismic(str(tmp_path / "b.zarr"), inputs)
    assert commits == [2, 1, 1]  # a commit once ~2e6 samples are pending
    for store in ("a.zarr", "b.zarr"):
        prov = open_store(str(tmp_path / store))["XX.TST.00.HHZ"].attrs["provenance"]
        assert len(prov) == 4 and len({p["file"] for p in prov}) == 4
    assert_same_store(str(tmp_path / "a.zarr"), str(tmp_path / "b.zarr"))


def _overlap_file(path: Path, start: UTCDateTime, data: np.ndarray) -> None:
    Stream([Trace(data.astype(np.int32), header={
        "network": "XX", "station": "TST", "location": "00", "channel": "HHZ",
        "sampling_rate": 20.0, "starttime": start})]).write(str(path), format="MSEED",
                                                          encoding="STEIM2", reclen=512)


def test_overlaps_agree_merge_and_disagree_are_reported(tmp_path):
    rng = np.random.default_rng(1)
    data = np.cumsum(rng.integers(-9, 10, 20 * 600)).astype(np.int32)
    _overlap_file(tmp_path / "a.mseed", T0, data[:20 * 400])
    _overlap_file(tmp_path / "b.mseed", T0 + 300, data[20 * 300:])  # agrees on 300-400 s
    bad = data[20 * 500:].copy()
    bad[100:150] += 7
    _overlap_file(tmp_path / "c.mseed", T0 + 500, bad)  # disagrees on 50 samples
    store = str(tmp_path / "s.zarr")
    rep = ingest_seismic(store, [str(tmp_path / "a.mseed"), str(tmp_path / "b.mseed")])
    assert not rep.conflicts and rep.samples_written == len(data)
    rep = ingest_seismic(store, [str(tmp_path / "c.mseed")])
    assert len(rep.conflicts) == 1
    c = rep.conflicts[0]
    assert c["samples"] == 50 and c["file"].endswith("c.mseed")
    assert c["start"] == "2024-03-04T22:08:25.000000Z"
    s = open_store(store)["XX.TST.00.HHZ"]
    np.testing.assert_array_equal(s.read_segments()[0][1], data)  # stored samples kept
    assert len(s.attrs["conflicts"]) == 1
    r = run_cli("ingest", "seismic", "--store", store + "2", str(tmp_path / "a.mseed"),
                str(tmp_path / "c.mseed"), str(tmp_path / "b.mseed"))
    assert "conflict:" in r.stderr and "c.mseed" in r.stderr


def test_off_grid_trace_starts_a_new_epoch(tmp_path):
    data = np.arange(2000, dtype=np.int32)
    _overlap_file(tmp_path / "a.mseed", T0, data)
    _overlap_file(tmp_path / "b.mseed", T0 + 3600 + 0.4 / 20, data)  # 0.4 sample off-grid
    _overlap_file(tmp_path / "c.mseed", T0 + 7200 + 0.1 / 20, data)  # within tolerance
    store = str(tmp_path / "s.zarr")
    ingest_seismic(store, [str(tmp_path / f) for f in ("a.mseed", "b.mseed", "c.mseed")])
    st = open_store(store)
    assert st.streams() == ["XX.TST.00.HHZ", "XX.TST.00.HHZ~1"]
    assert len(st["XX.TST.00.HHZ"].segments) == 2
    assert st["XX.TST.00.HHZ~1"].attrs["epoch"] == 1


def test_bad_inputs_reported_others_ingested(tmp_path):
    src = OBSPY / "io/mseed/tests/data/CH.BALST..LHE.D.2025.314"
    good = tmp_path / "good.mseed"
    shutil.copy(src, good)
    raw = src.read_bytes()
    (tmp_path / "empty.mseed").write_bytes(b"")
    (tmp_path / "trunc.mseed").write_bytes(raw[:len(raw) // 2 + 100])
    corrupt = bytearray(raw)
    corrupt[20000:20400] = bytes(range(256)) + bytes(144)
    (tmp_path / "corrupt.mseed").write_bytes(bytes(corrupt))
    (tmp_path / "notes.txt").write_text("not seismic data\n" * 50)
    locked = tmp_path / "locked.mseed"
    shutil.copy(src, locked)
    locked.chmod(0)
    store = str(tmp_path / "s.zarr")
    r = run_cli("ingest", "seismic", "--store", store, str(good), str(tmp_path / "empty.mseed"),
                str(tmp_path / "trunc.mseed"), str(tmp_path / "corrupt.mseed"),
                str(tmp_path / "notes.txt"), str(locked), str(tmp_path / "missing.mseed"))
    assert r.returncode == 1
    err = r.stderr.replace("\n", " ")
    for name, what in [("empty.mseed", "empty"), ("trunc.mseed", "truncated"),
                       ("corrupt.mseed", "corrupt"), ("notes.txt", "not a miniSEED"),
                       ("missing.mseed", "no such file")]:
        assert name in err and what in err, (name, err)
    if os.geteuid() != 0:  # root reads a mode-000 file anyway
        assert "locked.mseed" in err and "cannot be read" in err
    s = open_store(store)["CH.BALST..LHE"]
    assert s.n_samples == 86343
    assert run_cli("ingest", "seismic", "--store", store, str(good)).returncode == 0
    assert run_cli("ingest", "seismic", str(good)).returncode == 2  # usage: no --store


def test_newer_layout_refused_and_store_not_changed(tmp_path):
    store = str(tmp_path / "s.zarr")
    ingest_seismic(store, [str(OBSPY / "io/mseed/tests/data/CH.BALST..LHE.D.2025.314")])
    meta_path = Path(store) / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["attributes"]["belvedere"]["layout_version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreVersionError, match="layout version 99"):
        open_store(store)
    r = run_cli("info", store)
    assert r.returncode == 1 and "newer" in r.stderr and "upgrade" in r.stderr
    r = run_cli("ingest", "seismic", "--store", store,
                str(OBSPY / "io/mseed/tests/data/gaps.mseed"))
    assert r.returncode == 2 and "layout version 99" in r.stderr
    assert json.loads(meta_path.read_text())["attributes"]["belvedere"]["layout_version"] == 99
    with pytest.raises(StoreError, match="no store"):
        open_store(str(tmp_path / "nothing"))


def test_xarray_opens_a_stream_lazily(tmp_path):
    import xarray as xr

    truth = make_sds(tmp_path / "sds", hours=3)
    store = str(tmp_path / "s.zarr")
    ingest_seismic(store, [str(tmp_path / "sds")])
    ds = xr.open_zarr(store, group="XX.TST.00.HHZ", create_default_indexes=False)
    da = ds["data"]
    assert da.chunks is not None  # lazy (dask), nothing loaded
    assert ds["time"].chunks is not None
    i0 = int(round(open_store(store)["XX.TST.00.HHZ"].index_of(T0.ns)))
    assert ds["time"][i0].values == np.datetime64(T0.ns, "ns")
    np.testing.assert_array_equal(da[i0:i0 + 100].values, truth["XX.TST.00.HHZ"][:100])


def test_ingest_commands_tune_glibc_allocator():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.fail("these machines run glibc; the allocator settings need it")
    r = subprocess.run([sys.executable, "-c",
                        "from pipelines.ingest.allocator import tune_allocator; "
                        "print(tune_allocator(), tune_allocator())"],
                       capture_output=True, text=True, cwd=str(Path(__file__).parents[1]))
    assert r.stdout.split() == ["True", "True"], r.stderr  # applied, then a no-op


def test_each_format_is_a_reader_in_one_tuple(tmp_path):
    """miniSEED, StationXML and QuakeML: each a module with can_open and read, in READERS;
    the waveform reader chosen for a file is the one recorded for it by the scan."""
    from pipelines.seismic import mseed, quakeml, readers, stationxml
    from pipelines.seismic.options import ReadOptions
    from pipelines.seismic.scan import scan

    real = obspy_files()
    assert readers.READERS == (mseed, stationxml, quakeml)
    files = {mseed: real.mseed[0], stationxml: real.stationxml[0], quakeml: real.quakeml[0]}
    for reader, path in files.items():
        head = Path(path).read_bytes()[:readers.HEAD_BYTES]
        assert readers.reader_for(path, head, reader.KIND) is reader
        for other in readers.READERS:
            assert other.can_open(path, head) == (other is reader), (other.NAME, path)
    channel, first = next(iter(mseed.channels(real.mseed[0]).items()))
    pieces, _ = mseed.read(real.mseed[0], ReadOptions(channel))
    assert pieces and pieces[0].start_ns == first
    assert stationxml.read(real.stationxml[0]).networks
    assert quakeml.read(real.quakeml[0])
    scanned = scan([real.mseed[0]])
    assert scanned.readers() == {os.path.abspath(real.mseed[0]): "mseed"}
