"""What one request may cost, whatever its parameters: ranges, clipping, paging, bins, pools.

Each test is a finding of a hostile-but-ordinary user, reproduced on a small real store: the
cost must follow what is shown (pixels, a page of streams), never the length of the range.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from test_dashboard_store import T0_NS, build_store

from dashboard import coverage, work
from dashboard.frames import make_frame, read_clipped
from dashboard.pages.availability import MAX_DAYS, coverage_figure
from dashboard.pages.resources import MAX_BINS, pick_bin
from dashboard.sources import CachedStore, Sources
from dashboard.state import (
    AvailabilityState,
    MissionState,
    WaveformState,
    clean_bytes,
    normalise_uri,
)
from pipelines.store import open_store
from pipelines.timebase import DAY_NS, NS, TIME_MAX_NS, TIME_MIN_NS

NOW = T0_NS + 30 * DAY_NS


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = build_store(str(tmp_path_factory.mktemp("bounds") / "s.zarr"))
    return Sources([path]).store()


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """A store of 95 short streams (paging)."""
    st = open_store(str(tmp_path_factory.mktemp("many") / "m.zarr"), "a")
    for k in range(95):
        w = st.create_stream(f"XX.S{k:03d}.00.HHZ", 10.0, T0_NS, np.int32, {})
        i0 = round(w.index_of(T0_NS))
        w.write(i0, np.arange(600, dtype=np.int32) % 17)
        w.update_pyramid(i0, i0 + 600)
        w.commit()
    return CachedStore(st)


@pytest.mark.parametrize("frm, to", [
    ("2024-03-05T00:00:00Z", "now+1000000y"), ("now-1000000y", "now"), ("0001-01-01", "now"),
    ("2020-01-01", "9999-12-31T23:59:59Z"), ("-9200000000000000000", "9200000000000000000")])
def test_times_beyond_the_supported_range_are_a_message_and_a_fallback(store, frm, to):
    for state_cls in (WaveformState, MissionState, AvailabilityState):
        s, errors = state_cls.from_query(store, "s", {"from": frm, "to": to,
                                                      "streams": "BV.*"}, NOW)
        assert any("outside the supported range" in e for e in errors), (state_cls, errors)
        assert TIME_MIN_NS <= s.t0_ns < s.t1_ns <= TIME_MAX_NS


def test_a_window_far_beyond_the_data_is_clipped_to_it_with_a_note(store):
    span = store["BV.ALPA.00.HHZ"].span_ns
    s, errors = WaveformState.from_query(
        store, "s", {"streams": "BV.ALPA.00.HHZ", "from": "1801-01-01", "to": "2199-01-01"},
        NOW)
    assert not errors
    margin = max((span[1] - span[0]) // 10, 3600 * NS)
    assert (s.t0_ns, s.t1_ns) == (span[0] - margin, span[1] + margin)
    assert "reaches far beyond the data" in s.notes[0]
    # A range that holds none of the data is kept as asked: drawn empty, at no cost.
    s, _ = WaveformState.from_query(store, "s", {"streams": "BV.ALPA.00.HHZ",
                                                 "from": "1850-01-01", "to": "1851-01-01"}, NOW)
    assert not s.notes and s.t1_ns - s.t0_ns > 300 * DAY_NS


def test_a_frame_of_centuries_reads_only_the_streams_data(store, monkeypatch):
    """The reader is asked for the part of the window that holds data, at the window's
    resolution: O(pixels), however long the window."""
    streams = [store[n] for n in store.streams()]
    asked = []
    for s in streams:
        real = s.read_window

        def spy(t0, t1, max_points=2000, level=None, real=real):
            asked.append((t0, t1, max_points))
            return real(t0, t1, max_points=max_points, level=level)
        monkeypatch.setattr(s, "read_window", spy)
    t0, t1 = TIME_MIN_NS + DAY_NS, TIME_MAX_NS - DAY_NS
    frame = make_frame(streams, t0, t1, 1200, 60 * len(streams))
    assert len(asked) == len(streams)
    for (a, b, points), s in zip(asked, streams, strict=True):
        assert (a, b) == s.span_ns and points <= 2  # hours of data: a column or two of 400 y
    assert sum(t.present for t in frame.traces) == len(streams)
    assert read_clipped(streams[0], t0, T0_NS - DAY_NS, 1200) is None


def test_more_streams_than_drawn_at_once_are_paged(many):
    s, errors = WaveformState.from_query(many, "m", {"streams": "*"}, NOW)
    assert not errors and len(s.streams) == 40 and s.pages == 3 and s.matched == 95
    assert "showing 1-40 (page 1 of 3)" in s.paging_note()
    s, errors = WaveformState.from_query(many, "m", {"streams": "XX.*", "page": "3"}, NOW)
    assert not errors and s.streams[0] == "XX.S080.00.HHZ" and len(s.streams) == 15
    assert s.to_query()["page"] == "3"  # the URL restores the page
    s, errors = WaveformState.from_query(many, "m", {"streams": "*", "page": "99"}, NOW)
    assert "past the last page (3)" in errors[0] and s.page == 3
    s, errors = WaveformState.from_query(many, "m", {"streams": "*", "page": "-1"}, NOW)
    assert "not a page number" in errors[0] and s.page == 1
    m, _ = MissionState.from_query(many, "m", {"streams": "*"}, NOW)
    assert len(m.streams) == 24 and m.pages == 4
    a, errors = AvailabilityState.from_query(many, "m", {}, NOW)
    assert not errors and len(a.streams) == 95 and a.pages == 1  # 100 rows fit
    assert "page" not in a.streams_query()


def test_coverage_bins_are_bounded_by_pixels_not_days(store):
    edges, per = coverage.bin_edges(TIME_MIN_NS, TIME_MAX_NS, MAX_DAYS)
    assert len(edges) - 1 <= MAX_DAYS and per % 7 == 0
    assert edges[0] <= TIME_MIN_NS and edges[-1] >= TIME_MAX_NS
    edges, per = coverage.bin_edges(T0_NS, T0_NS + 10 * DAY_NS, MAX_DAYS)
    assert per == 1 and len(edges) == 11
    t = time.perf_counter()
    fig, table = coverage_figure(store, store.streams(), TIME_MIN_NS, TIME_MAX_NS)
    assert len(table) <= MAX_DAYS and time.perf_counter() - t < 30  # was: 146,000 days
    assert "weeks" in fig.title.text
    for span in (DAY_NS, 400 * 365 * DAY_NS):
        size, _ = pick_bin(span)
        assert span / size <= MAX_BINS


def test_query_values_that_are_not_utf8_or_hold_a_raw_question_mark():
    assert clean_bytes(b"%e2%82") == b"%e2%82"
    assert clean_bytes(b"\xe2\x82").decode("utf-8") == "\ufffd"
    assert clean_bytes(b"dark") == b"dark"
    assert normalise_uri("/waveforms?streams=BV.*.00.HH?&x=1") == \
        "/waveforms?streams=BV.*.00.HH%3F&x=1"


def test_the_work_pool_turns_work_away_past_its_bound():
    pool = work.WorkPool("test", threads=1, queued=1)
    gate = threading.Event()
    running = [pool.submit(gate.wait, 10), pool.submit(gate.wait, 10)]
    with pytest.raises(work.Busy, match="busy .* try again"):
        pool.submit(gate.wait, 10)
    gate.set()
    for f in running:
        assert f.result(10)
    assert pool.submit(lambda: 7).result(10) == 7
    assert pool.refused == 1


def test_page_builds_have_one_thread_of_their_own_whatever_the_frame_threads():
    try:
        work.configure(4, 10)
        assert work.FRAMES.threads == 4 and work.FRAMES.limit == 14
        # Python through and through: a second build thread only takes the GIL from the loop
        assert work.BUILDS.threads == 1 and work.BUILDS.limit == 11
        names = {work.BUILDS.submit(lambda: threading.current_thread().name).result(10)
                 for _ in range(5)}
        assert names == {f"{work.THREAD_PREFIX}-build_0"}
    finally:
        work.configure(2, 60)
