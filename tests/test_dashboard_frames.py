"""The frame function and what feeds it: rasterising, filters, URL state, coverage, routes."""

from __future__ import annotations

import logging

import numpy as np
import panel as pn
import pytest
from test_dashboard_store import (
    GAP_NS,
    HOURS,
    NOISE,
    QUAKE_NS,
    QUAKE_PEAK,
    SENSITIVITY,
    T0_NS,
    build_store,
)

from dashboard import coverage, raster
from dashboard.filters import FILTER_MAX_SAMPLES, FilterSpec, filter_runs
from dashboard.frames import FrameOptions, make_frame
from dashboard.server import build_app
from dashboard.state import AvailabilityState, normalise_uri, parse_waveform_args
from pipelines.store import Window, open_store
from pipelines.timebase import NS

END_NS = T0_NS + HOURS * 3600 * NS


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return open_store(build_store(str(tmp_path_factory.mktemp("frames") / "s.zarr")))


def ink_columns(frame, band: int) -> np.ndarray:
    """Boolean per column: does the band hold any drawn pixel there?"""
    h = frame.band_height
    return (frame.image[band * h:(band + 1) * h] != 0).any(axis=0)


def ink_rows(frame, band: int) -> np.ndarray:
    """Number of drawn pixels per column of a band (how tall the trace is there)."""
    h = frame.band_height
    return (frame.image[band * h:(band + 1) * h] != 0).sum(axis=0)


def col_of(t_ns: int, t0: int, t1: int, width: int) -> int:
    return int((t_ns - t0) / (t1 - t0) * width)


# -- the frame function -------------------------------------------------------------------
def test_frame_has_ink_where_data_is_and_none_in_the_gap(store):
    width = 960
    f = make_frame([store["BV.ALPA.00.HHZ"], store["BV.ALPA.00.HHN"]], T0_NS, END_NS, width, 200)
    assert f.image.shape == (200, width) and len(f.traces) == 2
    assert not f.traces[0].window.is_raw  # 4 h on 960 px comes from the pyramid
    cols = ink_columns(f, 0)
    g0, g1 = (col_of(t, T0_NS, END_NS, width) for t in GAP_NS)
    assert not cols[g0 + 2:g1 - 1].any(), "the gap must stay empty"
    assert cols[:g0 - 1].all() and cols[g1 + 1:].all(), "data must be drawn everywhere else"
    assert ink_columns(f, 1).all()  # HHN has no gap
    # The earthquake is the tallest thing in the band; the noise a thin line.
    rows = ink_rows(f, 0)
    q = col_of(QUAKE_NS, T0_NS, END_NS, width)
    assert rows[q:q + 3].max() > 0.8 * f.band_height
    assert np.median(rows[cols]) < 0.1 * f.band_height


def test_frame_of_a_window_inside_the_gap_is_empty_and_says_so(store):
    f = make_frame([store["BV.ALPA.00.HHZ"]], GAP_NS[0] + 60 * NS, GAP_NS[1] - 60 * NS, 400, 80)
    assert not f.image.any()
    assert f.traces[0].label == "no data here"


def test_zooming_in_reads_raw_samples_and_marks_them(store):
    st = store["BV.BETA.00.HHZ"]
    t0 = QUAKE_NS + 20 * NS
    f = make_frame([st], t0, t0 + 1 * NS, 800, 120)  # 100 samples on 800 px: 8 px apart
    assert f.traces[0].window.is_raw and "samples" in f.traces[0].label
    cols = ink_columns(f, 0)
    assert cols[4:-12].all(), "the polyline through the samples is continuous"
    # A sample mark is a 3x3 block: a column with a mark has at least 3 pixels drawn.
    rows = ink_rows(f, 0)
    marked = rows[::8]
    assert (marked >= 3).mean() > 0.8
    coarse = make_frame([st], T0_NS, END_NS, 800, 120)
    assert not coarse.traces[0].window.is_raw
    assert not np.array_equal(coarse.image, f.image)


def test_every_frame_reads_a_bounded_number_of_values(store):
    st = store["BV.ALPA.00.HHN"]
    width = 500
    for span in (10 * NS, 600 * NS, 3600 * NS, END_NS - T0_NS):
        w = st.read_window(T0_NS, T0_NS + span, max_points=width)
        assert len(w.lo) <= width * st.factor + 2, (span, len(w.lo))


def test_scales_and_units(store):
    names = ["BV.ALPA.00.HHZ", "BV.BETA.00.HHZ", "BV.GAMA.00.BHZ"]
    streams = [store[n] for n in names]
    t0, t1 = T0_NS + 600 * NS, T0_NS + 1200 * NS  # quiet: noise and microseism only
    per = make_frame(streams, t0, t1, 600, 300, FrameOptions(scale="trace"))
    assert all(2 * NOISE < tr.scale < 10 * NOISE for tr in per.traces)
    phys = make_frame(streams, t0, t1, 600, 300, FrameOptions(scale="trace", units="physical"))
    assert phys.traces[0].units == "m/s"
    assert phys.traces[0].scale == pytest.approx(per.traces[0].scale / SENSITIVITY, rel=1e-6)
    assert phys.traces[1].units == "counts"  # BETA has no sensitivity...
    assert any("BV.BETA.00.HHZ" in n and "counts" in n for n in phys.notes)  # ...and we say so
    # Shared amplitude: one scale per unit, the largest; a quake window makes it obvious.
    q0, q1 = QUAKE_NS - 60 * NS, QUAKE_NS + 240 * NS
    shared = make_frame(streams, q0, q1, 600, 300, FrameOptions(scale="shared"))
    scales = {tr.scale for tr in shared.traces}
    assert len(scales) == 1 and scales.pop() > 0.5 * QUAKE_PEAK


def test_filter_applies_to_raw_windows_and_says_when_the_window_is_too_long(store):
    st = store["BV.ALPA.00.HHN"]
    t0, t1 = T0_NS + 600 * NS, T0_NS + 900 * NS  # 30k samples: filterable
    plain = make_frame([st], t0, t1, 600, 100)
    band = make_frame([st], t0, t1, 600, 100,
                      FrameOptions(filter=FilterSpec("bandpass", 10.0, 20.0)))
    assert band.traces[0].filtered and not plain.traces[0].filtered
    # The 0.18 Hz microseism and most of the noise are outside 10-20 Hz.
    assert band.traces[0].scale < 0.5 * plain.traces[0].scale
    assert abs(band.traces[0].center) < 0.05 * band.traces[0].scale  # zero mean after filtering
    long = make_frame([st], T0_NS, END_NS, 600, 100, FrameOptions(filter=FilterSpec("highpass")))
    assert not long.traces[0].filtered
    assert any("too long to filter" in n and "zoom in" in n for n in long.notes)
    assert (END_NS - T0_NS) / NS * st.sampling_rate > FILTER_MAX_SAMPLES


def test_filtering_across_a_gap_keeps_the_gap(store):
    st = store["BV.ALPA.00.HHZ"]
    t0, t1 = GAP_NS[1] - 300 * NS, GAP_NS[1] + 300 * NS
    f = make_frame([st], t0, t1, 600, 100, FrameOptions(filter=FilterSpec("highpass", 2.0)))
    assert f.traces[0].filtered
    cols = ink_columns(f, 0)
    assert not cols[:290].any() and cols[310:].all()


def test_filter_runs_filters_each_run_and_blanks_short_ones():
    from scipy import signal

    rng = np.random.default_rng(1)
    x = rng.normal(size=3000) + 50.0  # an offset the high-pass must remove
    x[1000:1010] = np.nan
    x[1500:1520] = np.nan
    x[1540:1560] = np.nan  # leaves [1520, 1540): 20 samples, too short for this filter
    sos = signal.butter(4, 0.05, "highpass", output="sos")  # 0.025 cycles/sample: period 40
    y = filter_runs(x, sos, min_len=40)
    assert np.isnan(y[1000:1010]).all() and np.isnan(y[1500:1560]).all()
    for a, b in ((0, 1000), (1010, 1500), (1560, 3000)):
        assert np.isfinite(y[a:b]).all() and abs(y[a:b].mean()) < 0.2


# -- rasterising --------------------------------------------------------------------------
def test_raw_band_is_the_polyline_through_the_samples_and_stops_at_absent_ones():
    w = Window("x", 0, 0, 10.0, np.array([0.0, 10.0, np.nan, 5.0, 5.0]),
               np.array([0.0, 10.0, np.nan, 5.0, 5.0]))
    m = raster.band_mask(w, 0, 50, 50, 23, center=5.0, scale=5.0)  # 1 ns per column
    cols = m.any(axis=0)
    assert cols[0:11].all(), "the line from the first to the second sample is continuous"
    assert not cols[12:29].any(), "no line into or out of the absent sample"
    assert cols[30:41].all()
    rows = np.flatnonzero(m[:, 5])
    assert 9 <= rows.mean() <= 13, "halfway up the first segment is mid-band"
    assert np.flatnonzero(m[:, 0]).min() > np.flatnonzero(m[:, 10]).max(), "it rises"


def test_envelope_band_fills_each_column_and_keeps_gaps_and_flat_traces():
    # As the store reads them: one bucket per pixel column (or more), here 1 ns per column.
    lo = np.repeat([-1.0, np.nan, 0.0], [20, 10, 20])
    hi = np.repeat([1.0, np.nan, 0.0], [20, 10, 20])
    w = Window("x", 1, 0, 1.0, lo, hi)
    m = raster.band_mask(w, 0, 50, 50, 21, center=0.0, scale=1.0)
    counts = m.sum(axis=0)
    assert (counts[0:19] >= 17).all(), "each column is filled from min to max"
    assert not m[:, 21:30].any(), "a gap is not bridged"
    flat = counts[31:49]
    assert (flat >= 1).all() and (flat <= 2).all(), "a flat stretch is a thin line"


def test_sparse_raw_samples_get_marks():
    vals = np.zeros(5)
    w = Window("x", 0, 0, 10.0, vals, vals)
    m = raster.band_mask(w, 0, 50, 50, 21, center=0.0, scale=1.0)
    counts = m.sum(axis=0)
    assert counts[10] >= 3 and counts[5] == 1, "a 3x3 mark on each sample, a line between"


# -- coverage -----------------------------------------------------------------------------
def test_coverage_per_bin_and_gaps():
    seg = np.array([[0, 10], [20, 25], [30, 100]])
    assert coverage.coverage_per_bin(seg, np.array([0, 10, 20, 30, 100])).tolist() == \
        [1.0, 0.0, 0.5, 1.0]
    assert coverage.coverage_per_bin(seg, np.array([-10, 0, 5, 200])).tolist() == \
        [0.0, 1.0, pytest.approx(80 / 195)]
    assert coverage.gaps_within(seg, 0, 100).tolist() == [[10, 20], [25, 30]]
    assert coverage.gaps_within(seg, 26, 100).tolist() == [[25, 30]]
    assert coverage.clip_segments(seg, 5, 22).tolist() == [[5, 10], [20, 22]]


# -- URL state ----------------------------------------------------------------------------
def test_url_state_round_trips(store):
    args = {"streams": "BV.ALPA.*", "from": "2024-03-01T02:00:00Z", "to": "2024-03-01T03:00:00Z",
            "scale": "shared", "units": "physical", "filter": "bandpass", "fmin": "1",
            "fmax": "8", "refresh": "1m"}
    state, errors = parse_waveform_args(store, "s.zarr", args, T0_NS)
    assert errors == []
    assert state.streams == ["BV.ALPA.00.HHN", "BV.ALPA.00.HHZ"]
    assert state.t0_ns == T0_NS + 2 * 3600 * NS and state.t1_ns == T0_NS + 3 * 3600 * NS
    query = state.to_query(store_is_default=True)
    assert query == args
    again, errors = parse_waveform_args(store, "s.zarr", query, T0_NS)
    assert again == state and errors == []


def test_bad_url_values_become_messages_and_fallbacks(store):
    args = {"streams": "XX.NOPE.*", "from": "yesterday-ish", "to": "now", "scale": "huge",
            "filter": "bandpass", "fmin": "5", "fmax": "2", "event": "ev404"}
    state, errors = parse_waveform_args(store, "s.zarr", args, T0_NS)
    text = "\n".join(errors)
    assert "no stream matches 'XX.NOPE.*'" in text
    assert "from='yesterday-ish'" in text and "cannot read the time" in text
    assert "scale='huge'" in text and "fmax=2 Hz must be above fmin=5 Hz" in text
    assert "event='ev404'" in text
    assert state.streams == store.streams()[:6] and state.scale == "robust"
    assert not state.filter.active
    assert (state.t0_ns, state.t1_ns) == (T0_NS, END_NS)  # the whole span of the streams
    _, errors = parse_waveform_args(store, "s.zarr", {"from": "2024-03-01T03:00:00Z",
                                                      "to": "2024-03-01T01:00:00Z"}, T0_NS)
    assert len(errors) == 1 and "is not before" in errors[0]


def test_relative_range_and_event_jump(store):
    now = T0_NS + 3 * 3600 * NS
    state, errors = parse_waveform_args(store, "s", {"from": "now-1h", "to": "now"}, now)
    assert errors == [] and state.t1_ns == now and state.t1_ns - state.t0_ns == 3600 * NS
    assert state.to_query()["from"] == "now-1h"  # relative texts stay relative in the URL
    state, errors = parse_waveform_args(store, "s", {"event": "ev1"}, now)
    assert errors == [] and state.t0_ns < QUAKE_NS < state.t1_ns


def test_a_raw_question_mark_in_a_query_value_is_kept_as_a_wildcard(store):
    assert normalise_uri("/waveforms?streams=BV.*.00.HH?&from=now-1h") == \
        "/waveforms?streams=BV.*.00.HH%3F&from=now-1h"
    assert normalise_uri("/waveforms") == "/waveforms"
    state, errors = parse_waveform_args(store, "s", {"streams": "BV.ALPA.00.HH?"}, T0_NS)
    assert errors == [] and state.to_query()["streams"] == "BV.ALPA.00.HH?"


def test_streams_picked_by_hand_are_written_as_names(store):
    state, _ = parse_waveform_args(store, "s", {"streams": "BV.ALPA.*"}, T0_NS)
    assert state.to_query()["streams"] == "BV.ALPA.*"
    state.streams = ["BV.ALPA.00.HHZ"]  # the wildcards no longer say what is shown
    assert state.to_query()["streams"] == "BV.ALPA.00.HHZ"


def test_availability_state_shares_the_codec(store):
    state, errors = AvailabilityState.from_query(
        store, "s", {"streams": "XX.*", "from": "nonsense"}, T0_NS)
    assert "streams='XX.*'" in errors[0] and "showing every stream" in errors[0]
    assert "cannot read the time 'nonsense'" in errors[1]
    assert state.streams == store.streams() and state.has_data


# -- the app ------------------------------------------------------------------------------
def test_build_app_routes_and_pages_build_outside_a_server(store, caplog):
    caplog.set_level(logging.INFO, logger="dashboard.server")
    app = build_app([store.url])
    assert set(app) == {"/", "/waveforms", "/availability", "/stations", "/resources",
                        "/mission", "/helicorder", "/noise", "/rsam"}
    for route, factory in app.items():
        page = factory()
        assert isinstance(page, pn.viewable.Viewable), route
        alerts = [a.object for a in page.select(pn.pane.Alert)]
        if route == "/resources":  # no usage store served: the page says how to give one
            assert any("no usage store is served here" in a for a in alerts)
        elif route in ("/noise", "/rsam"):  # no analysis run yet: the page names the command
            analysis = {"/noise": "psd", "/rsam": "rsam"}[route]
            assert any(f"belvedere analyse {analysis}" in a.replace("\\", "") for a in alerts), (
                route, alerts)
        else:
            assert not alerts, route
    # What is not served is the visitor's to fix: one line in the log, not a fault.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "page resources: no usage store is served here" in caplog.text


def test_build_app_fails_at_start_on_a_missing_store(tmp_path):
    from pipelines.store import StoreError

    with pytest.raises(StoreError, match="no store"):
        build_app([str(tmp_path / "missing.zarr")])


def test_a_dead_channel_draws_a_flat_line_and_says_so(tmp_path):
    st = open_store(str(tmp_path / "flat.zarr"), "a")
    w = st.create_stream("BV.DEAD.00.HHN", 100.0, T0_NS, np.int32, {})
    w.write(0, np.full(360_000, 7, dtype=np.int32))
    w.update_pyramid(0, 360_000)
    w.commit()
    f = make_frame([open_store(str(tmp_path / "flat.zarr"))["BV.DEAD.00.HHN"]],
                   T0_NS, T0_NS + 3600 * NS, 400, 60)
    assert f.traces[0].label.startswith("flat at 7 counts")
    rows = ink_rows(f, 0)
    assert (rows >= 1).all() and rows.max() <= 2, "one thin line across the band"
