"""Tests of the synthetic network generator against the real files it writes (size "small")."""

from __future__ import annotations

import json
import math
import re
import time

import numpy as np
import obspy
import pytest
from obspy import UTCDateTime
from scipy.signal import butter, sosfiltfilt, welch

from pipelines.demo.seismic import SIZES, generate_archive, synthesize_samples

SDS_NAME = re.compile(
    r"^(?P<year>\d{4})/(?P<net>\w+)/(?P<sta>\w+)/(?P<cha>\w{3})\.D/"
    r"(?P=net)\.(?P=sta)\.(?P<loc>\w*)\.(?P=cha)\.D\.(?P=year)\.(?P<doy>\d{3})$"
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic") / "archive"
    calls: list[tuple[int, int]] = []
    t0 = time.perf_counter()
    archive = generate_archive(out, size="small", seed=0,
                               progress=lambda d, t: calls.append((d, t)))
    return archive, out, calls, time.perf_counter() - t0


@pytest.fixture(scope="module")
def archive(generated):
    return generated[0]


@pytest.fixture(scope="module")
def files(archive):
    """{stream id: [(path, [traces])]} in day order."""
    found: dict[str, list] = {}
    for p in sorted(archive.sds_root.rglob("*")):
        if p.is_file():
            st = obspy.read(str(p))
            found.setdefault(st[0].id, []).append((p, list(st)))
    return found


def _days(archive):
    d = UTCDateTime(archive.start.date)
    while d < archive.end:
        yield d
        d += 86400


def _all_traces(files, sid):
    return sorted((tr for _, trs in files[sid] for tr in trs), key=lambda tr: tr.stats.starttime)


def test_small_is_fast_and_sized(generated):
    archive, _, calls, elapsed = generated
    assert elapsed < 10.0
    assert 2e7 <= archive.n_samples <= 4e7
    assert archive.start == UTCDateTime("2024-03-04T18:00:00")
    assert archive.end.julday != archive.start.julday
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1] == (archive.n_samples, archive.n_samples)


def test_sds_paths(archive, files):
    expected = set()
    for sid in archive.streams:
        net, sta, loc, cha = sid.split(".")
        for day in _days(archive):
            expected.add(f"{day.year}/{net}/{sta}/{cha}.D/{sid}.D.{day.year}.{day.julday:03d}")
    written = {p.relative_to(archive.sds_root).as_posix()
               for p in archive.sds_root.rglob("*") if p.is_file()}
    assert written == expected
    assert len(expected) == 2 * len(archive.streams)
    for rel in written:
        m = SDS_NAME.match(rel)
        assert m, rel
        assert m["net"] == "BV" and m["loc"] == "00"
    assert {s.split(".")[1] for s in archive.streams} == {"ALPA", "BELV", "FLUE"}


def test_miniseed_content(archive, files):
    assert set(files) == set(archive.streams)
    for sid, per_day in files.items():
        rate = 100.0 if sid.endswith(("HHZ", "HHN", "HHE")) else 20.0
        for path, traces in per_day:
            year, doy = path.name.split(".")[-2:]
            day0 = UTCDateTime(year=int(year), julday=int(doy))
            for tr in traces:
                assert tr.id == sid
                assert tr.stats.sampling_rate == rate
                assert tr.data.dtype == np.int32
                assert tr.stats.mseed.encoding == "STEIM2"
                assert tr.stats.mseed.record_length == 4096
                assert tr.stats.starttime >= day0
                assert tr.stats.endtime < day0 + 86400
            assert path.stat().st_size % 4096 == 0
    rates = {tr.stats.sampling_rate
             for per_day in files.values() for _, trs in per_day for tr in trs}
    assert rates == {100.0, 20.0}


def test_gaps_exact_and_nothing_else_missing(archive, files):
    total = 0
    found = []
    for sid in archive.streams:
        traces = _all_traces(files, sid)
        total += sum(tr.stats.npts for tr in traces)
        assert traces[0].stats.starttime == archive.start
        assert traces[-1].stats.endtime + traces[-1].stats.delta == archive.end
        for a, b in zip(traces, traces[1:], strict=False):
            after = a.stats.endtime + a.stats.delta
            assert b.stats.starttime >= after
            if b.stats.starttime != after:
                found.append((sid, after, b.stats.starttime))
    assert total == archive.n_samples
    assert sorted(found) == sorted(archive.gaps)
    by_station: dict[tuple, set] = {}
    for sid, a, b in archive.gaps:
        by_station.setdefault((sid.split(".")[1], a.ns, b.ns), set()).add(sid)
    # Telemetry outage: 10 minutes on all three components of one station.
    assert any(len(v) == 3 and k[2] - k[1] == 600 * 10**9 for k, v in by_station.items())
    assert any(b - a == 3600 for _, a, b in archive.gaps)
    assert any(a.julday != b.julday for _, a, b in archive.gaps)


def test_midnight_continuity(archive, files):
    midnight = UTCDateTime(archive.end.date)
    gapped = {sid for sid, a, b in archive.gaps if a <= midnight <= b}
    checked = 0
    for sid in archive.streams:
        if sid in gapped or sid == archive.dead_channel:
            continue
        day1, day2 = files[sid][0][1][-1], files[sid][1][1][0]
        assert day1.stats.endtime + day1.stats.delta == midnight == day2.stats.starttime
        n = int(60 * day1.stats.sampling_rate)
        joined = np.concatenate([day1.data[-n:], day2.data[:n]]).astype(np.int64)
        # The two files were written separately; a continuous run over the join must agree.
        direct = synthesize_samples(sid, midnight - 60, 2 * n, seed=0, size="small")
        assert np.max(np.abs(direct.astype(np.int64) - joined)) <= 1
        step = abs(joined[n] - joined[n - 1])
        assert step <= 5 * np.std(np.diff(joined)), sid
        checked += 1
    assert checked >= 6


def test_synthesized_day_matches_archive(archive, files):
    # An independently generated window in the middle of a day reproduces the file.
    sid = "BV.FLUE.00.BHZ"
    tr = files[sid][0][1][0]
    i = 3600 * 20
    got = synthesize_samples(sid, tr.stats.starttime + 3600, 12000, size="small")
    assert np.max(np.abs(got.astype(np.int64) - tr.data[i:i + 12000])) <= 1


def test_dead_channel(archive, files):
    assert archive.dead_channel in archive.streams
    values = np.concatenate([tr.data for tr in _all_traces(files, archive.dead_channel)])
    assert values.size > 0 and np.all(values == values[0])
    for sid in archive.streams:
        if sid != archive.dead_channel:
            assert np.std(files[sid][0][1][0].data) > 50, sid


def test_earthquake_visible(archive, files):
    cat = obspy.read_events(str(archive.catalog))
    ev = max(cat, key=lambda e: e.preferred_magnitude().mag)
    assert ev.preferred_magnitude().mag >= 4.0
    origin = ev.preferred_origin()
    nearest = min(origin.arrivals, key=lambda a: a.distance)
    sta = nearest.pick_id.get_referred_object().waveform_id.station_code
    picks = {p.phase_hint: p.time for p in ev.picks if p.waveform_id.station_code == sta}
    sid = next(s for s in archive.streams
               if s.split(".")[1] == sta and s.endswith("Z") and s != archive.dead_channel)
    tr = next(t for t in _all_traces(files, sid)
              if t.stats.starttime <= picks["S"] and t.stats.endtime >= picks["S"] + 60)
    noise = np.median(np.abs(tr.data - np.median(tr.data)))
    s_peak = np.abs(tr.slice(picks["S"], picks["S"] + 60).data).max()
    before_p = np.abs(tr.slice(picks["P"] - 30, picks["P"] - 1).data).max()
    p_peak = np.abs(tr.slice(picks["P"], picks["S"] - 0.5).data).max()
    assert s_peak > 100 * noise
    assert p_peak > 10 * noise
    assert before_p < 0.05 * s_peak  # nothing arrives before the theoretical P
    assert s_peak < 2**23


def test_stationxml(archive):
    inv = obspy.read_inventory(str(archive.inventory))
    t = archive.start + 3600
    assert [n.code for n in inv] == ["BV"]
    for sid in archive.streams:
        c = inv.get_coordinates(sid, t)
        assert 46.0 <= c["latitude"] <= 47.5 and 6.5 <= c["longitude"] <= 9.5
        assert 300 <= c["elevation"] <= 2500
        cha = inv.select(*sid.split("."), time=t)[0][0][0]
        assert cha.sample_rate == (100.0 if cha.code.startswith("HH") else 20.0)
        assert cha.dip == (-90.0 if cha.code.endswith("Z") else 0.0)
        assert "Trillium 120-like" in cha.sensor.description
        assert cha.start_date <= archive.start and cha.end_date >= archive.end
        resp = inv.get_response(sid, t)
        sens = resp.instrument_sensitivity
        assert sens.input_units == "M/S" and sens.output_units == "COUNTS"
        assert sens.value == pytest.approx(6.3e8, rel=0.01)
        at_1hz = abs(resp.get_evalresp_response_for_frequencies([1.0], output="VEL")[0])
        assert at_1hz == pytest.approx(sens.value, rel=0.01)
    for sta in inv[0]:
        assert sta.site.name


def test_quakeml(archive):
    cat = obspy.read_events(str(archive.catalog))
    inv = obspy.read_inventory(str(archive.inventory))
    stations = {s.code: s for s in inv[0]}
    assert len(cat) >= 2
    assert len({str(e.resource_id) for e in cat}) == len(cat)
    for ev in cat:
        o, m = ev.preferred_origin(), ev.preferred_magnitude()
        assert archive.start <= o.time < archive.end
        assert m.mag is not None and o.depth > 0
        assert {(p.waveform_id.station_code, p.phase_hint) for p in ev.picks} == {
            (s, ph) for s in stations for ph in "PS"}
        for arr in o.arrivals:
            pick = arr.pick_id.get_referred_object()
            assert pick is not None and pick.phase_hint == arr.phase
            sta = stations[pick.waveform_id.station_code]
            epi = math.radians(arr.distance) * 6371.0
            hypo = math.hypot(epi, o.depth / 1000 + sta.elevation / 1000)
            v = 6.0 if arr.phase == "P" else 3.5
            assert abs((pick.time - o.time) - hypo / v) < 1e-3


def test_noise_spectrum_and_daily_cycle(archive, files):
    tr = files["BV.BELV.00.HHZ"][1][1][0]  # 00:00-06:00 UTC, a quiet night
    x = tr.data[: 3600 * 100].astype(float)
    f, p = welch(x - x.mean(), fs=100.0, nperseg=2**15)
    band = (f > 0.03) & (f < 1.0)
    peak = f[band][np.argmax(p[band])]
    assert 0.15 <= peak <= 0.3  # secondary microseism dominates
    primary = p[(f > 0.06) & (f < 0.08)].max()
    assert p[(f > 0.03) & (f < 0.04)].max() < primary < p[band].max() / 3
    # Cultural noise (> 1 Hz): local evening (19-20 h CET) louder than the small hours.
    sos = butter(4, [2.0, 20.0], btype="band", fs=100.0, output="sos")
    evening = _all_traces(files, "BV.BELV.00.HHZ")[0].data[: 3600 * 100]
    night = tr.data[2 * 3600 * 100: 3 * 3600 * 100]
    level = [np.median(np.abs(sosfiltfilt(sos, d.astype(float)))) for d in (evening, night)]
    assert level[0] > 1.5 * level[1]


def test_idempotent(generated):
    archive, out, _, _ = generated
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert out / "manifest.json" in before
    t0 = time.perf_counter()
    again = generate_archive(out, size="small", seed=0)
    assert time.perf_counter() - t0 < 1.0
    assert again == archive
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_deterministic_in_parallel_and_reseeds(generated, tmp_path):
    archive, out, _, _ = generated
    other = generate_archive(tmp_path / "copy", size="small", seed=0, workers=2)
    assert other.n_samples == archive.n_samples and other.gaps == archive.gaps
    names = [p.relative_to(out) for p in out.rglob("*") if p.is_file()]
    assert len(names) == 2 * len(archive.streams) + 3
    for rel in names:
        assert (tmp_path / "copy" / rel).read_bytes() == (out / rel).read_bytes(), rel

    # Another seed in the same folder replaces the archive instead of reusing it.
    sample = "sds/2024/BV/ALPA/HHZ.D/BV.ALPA.00.HHZ.D.2024.065"
    old = (tmp_path / "copy" / sample).read_bytes()
    generate_archive(tmp_path / "copy", size="small", seed=1)
    assert (tmp_path / "copy" / sample).read_bytes() != old
    manifest = json.loads((tmp_path / "copy" / "manifest.json").read_text())
    assert manifest["identity"]["seed"] == 1


def test_presets_and_errors(tmp_path):
    assert set(SIZES) == {"small", "medium", "full"}
    full = SIZES["full"]
    assert full.duration_s >= 7 * 86400 and len(full.stations) == 6
    assert UTCDateTime(full.start) == UTCDateTime(UTCDateTime(full.start).date)
    with pytest.raises(ValueError):
        generate_archive(tmp_path, size="huge")
    assert not any(tmp_path.iterdir())
