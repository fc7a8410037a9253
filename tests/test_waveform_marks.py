"""The pieces behind a readable waveform page, without a browser: the robust scale, pick
lanes, event thinning, measurements against numpy, following the latest data, latency levels,
and the follower's whole-record rule on real (ObsPy-written) miniSEED."""

from __future__ import annotations

import io

import numpy as np
import pytest
from obspy import Stream as ObsStream
from obspy import Trace as ObsTrace
from obspy import UTCDateTime

from dashboard import amplitude, latency, measure
from dashboard.frames import FrameOptions, make_frame
from dashboard.pages.base import follow_latest
from dashboard.picks import label_lanes, layout_events, layout_picks, thin_marks
from pipelines.ingest.follow import complete_end, record_length
from pipelines.store import open_store
from pipelines.timebase import NS

RATE = 20.0
T0 = 1714521600 * NS


@pytest.fixture(scope="module")
def quake_day(tmp_path_factory):
    """One stream: a day of noise (sigma 100) with a 2-minute earthquake 600 times larger."""
    rng = np.random.default_rng(3)
    n = int(86400 * RATE)
    x = rng.normal(0, 100, n)
    k = int(12 * 3600 * RATE)
    x[k:k + int(120 * RATE)] += 6e4 * np.sin(np.arange(int(120 * RATE)) / 3)
    values = np.round(x).astype(np.int32)
    st = open_store(str(tmp_path_factory.mktemp("marks") / "s.zarr"), "a")
    w = st.create_stream("XW.Q.00.HHZ", RATE, T0, np.int32, {})
    i0 = round(w.index_of(T0))
    w.write(i0, values)
    w.update_pyramid(i0, i0 + n)
    w.commit()
    return st["XW.Q.00.HHZ"], values


def test_robust_scale_is_set_by_the_noise_and_clips_the_earthquake(quake_day):
    stream, values = quake_day
    robust = make_frame([stream], T0, T0 + 86400 * NS, 1200, 100).traces[0]
    peak = make_frame([stream], T0, T0 + 86400 * NS, 1200, 100,
                      FrameOptions(scale="trace")).traces[0]
    assert peak.scale > 5e4 and robust.scale < 2e3  # the noise sets it, not the quake
    assert 0 < robust.clipped < 0.01 and peak.clipped == 0
    assert "robust" in robust.label and "99.5" in robust.label and "clipped" in robust.label
    assert "(max" in peak.label
    # The percentile of the envelope, as numpy computes it from the same buckets.
    w = stream.read_window(T0, T0 + 86400 * NS, max_points=1200)
    env = np.maximum(w.hi - robust.center, robust.center - w.lo)
    expected = np.percentile(env[~np.isnan(env)], amplitude.ROBUST_PERCENTILE)
    assert robust.scale == pytest.approx(expected / amplitude.ROBUST_FILL, rel=1e-9)


def test_label_lanes_keep_close_labels_apart_and_drop_what_does_not_fit():
    lanes = label_lanes(np.array([0.0, 5.0, 8.0, 9.0, 100.0]), np.full(5, 12.0), lanes=3)
    assert list(lanes) == [0, 1, 2, -1, 0]


def test_picks_close_together_take_different_lanes_and_keep_their_colours():
    picks = [{"stream": "A", "phase": "P", "time_ns": T0 + 10 * NS},
             {"stream": "A", "phase": "S", "time_ns": T0 + 10 * NS + NS // 2},
             {"stream": "B", "phase": "Sg", "time_ns": T0 + 20 * NS},
             {"stream": "C", "phase": "P", "time_ns": T0 + 20 * NS}]  # not shown
    out = layout_picks(picks, {"A": 1, "B": 0}, T0, T0 + 120 * NS, 1200, 100)
    assert out.shown == 3 and out.ticks["color"][:2] == ["#e0218a", "#00a3e0"]
    assert out.ticks["color"][2] == "#00a3e0"  # Sg is an S phase
    ys = dict(zip(out.labels["text"], out.labels["y"], strict=True))
    assert ys["S"] > ys["P"]  # 5 px apart: the second label goes a lane up
    assert all(y0 == y - 0.5 for y0, y in zip(out.ticks["y0"], [1, 1, 0], strict=True))


def test_events_closer_than_a_label_share_one_mark_naming_how_many():
    events = [{"id": f"e{i}", "time_ns": T0 + i * 60 * NS, "magnitude": 1.0 + (i == 7)}
              for i in range(40)]
    day = layout_events(events, T0, T0 + 86400 * NS, 1200)  # 40 min of 1 day: 33 px
    assert day["id"] == ["e7"] and day["label"] == ["M2.0 +39"]
    hour = layout_events(events, T0, T0 + 3600 * NS, 1200)  # 20 px apart: groups of 4
    assert 8 <= len(hour["id"]) <= 14
    px = np.diff(np.array(hour["x"]) * 1e6 - T0) * 1200 / (3600 * NS)
    assert (px >= 60).all()  # no two labels on top of each other
    assert sum(int(t.split("+")[1]) + 1 if "+" in t else 1 for t in hour["label"]) == 40
    assert [g for g in thin_marks(np.array([0.0, 10.0, 200.0]), np.array([1.0, 3.0, 2.0]))] \
        == [(1, 2), (2, 1)]


def test_measurements_equal_numpy_on_the_same_samples(quake_day):
    stream, values = quake_day
    t0, t1 = T0 + 3600 * NS + 123_456_789, T0 + 3660 * NS
    m = measure.measure(stream, t0, t1)
    i0 = int(np.ceil((t0 - T0) / NS * RATE))
    x = values[i0:i0 + m.samples].astype(np.float64)
    assert m.samples == int((t1 - T0) / NS * RATE) - i0 and m.first_ns == T0 + i0 * NS // 20
    assert m.peak_to_peak == np.ptp(x) and m.mean == pytest.approx(np.mean(x), rel=1e-12)
    assert m.rms == pytest.approx(np.std(x), rel=1e-12)
    spec = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(len(x))))
    assert m.dominant_hz == np.fft.rfftfreq(len(x), 1 / RATE)[1 + np.argmax(spec[1:])]
    too_long = measure.measure(stream, T0, T0 + 86400 * NS)
    assert too_long.samples == 0 and "select a shorter window" in too_long.why


def test_a_view_at_the_end_of_the_data_follows_it_and_a_view_of_the_past_stays():
    assert follow_latest(100, 200, 190, 250) == (160, 260)  # same length, same margin
    assert follow_latest(100, 150, 190, 250) is None  # looking at the past
    assert follow_latest(100, 200, 190, 190) is None  # nothing new


def test_latency_levels_follow_the_thresholds():
    limits = latency.Thresholds(60, 600)
    assert [latency.level(s, limits) for s in (5, 60, 599, 600, None)] == \
        ["ok", "amber", "amber", "red", "none"]
    assert latency.format_latency(20) == "20 s" and latency.format_latency(7200) == "2.0 h"
    with pytest.raises(ValueError, match="amber"):
        latency.configure(100, 10)


def _records(n_records: int = 6) -> bytes:
    data = np.cumsum(np.random.default_rng(0).integers(-50, 50, 20000)).astype(np.int32)
    buf = io.BytesIO()
    ObsStream([ObsTrace(data, header={"network": "XW", "station": "F", "location": "00",
                                      "channel": "HHZ", "sampling_rate": 20.0,
                                      "starttime": UTCDateTime(2024, 5, 1)})]).write(
        buf, format="MSEED", encoding="STEIM2", reclen=512)
    return buf.getvalue()[:512 * n_records]


def test_only_whole_records_are_taken_from_a_file_being_written(tmp_path):
    raw = _records()
    assert record_length(raw[:256]) == 512 and record_length(raw[:40]) is None
    f = tmp_path / "XW.F.00.HHZ.D.2024.122"
    for cut, whole in ((512 * 6, 512 * 6), (512 * 4 + 300, 512 * 4), (512 * 2 + 30, 512 * 2),
                       (20, 0)):
        f.write_bytes(raw[:cut])
        assert complete_end(str(f), 0, cut) == whole
        assert complete_end(str(f), 512, cut) == max(whole, 512)
