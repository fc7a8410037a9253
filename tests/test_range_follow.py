"""The waveforms plot follows its x range over the real websocket, as a browser moves it.

A served dashboard, its page opened the way BokehJS opens it (`bokeh_protocol`): a lone range
change (a wheel notch) is drawn; a burst of changes sent back to back (a fast trackpad) is
drawn in a few frames, the last of them its last range; a drag of many small moves is drawn
at most once per the page's settle interval, plus the one frame in flight.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from bokeh_protocol import open_session, run_apart
from browser import served_dashboard
from test_dashboard_store import T0_NS, build_store

from dashboard.pages.timerange import TimeRangePage
from pipelines.timebase import NS

MS = 10**6  # ns in a Bokeh millisecond


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = build_store(str(tmp_path_factory.mktemp("follow") / "s.zarr"))
    with served_dashboard([path], timeout=120) as url:
        yield url


def waveforms_path() -> str:
    return (f"/waveforms?streams=BV.ALPA.00.HHZ&from={T0_NS // MS}"
            f"&to={(T0_NS + 3600 * NS) // MS}")


async def frames_within(session, seconds: float) -> list:
    """Every frame that arrives within `seconds`."""
    got, end = [], time.perf_counter() + seconds
    while (left := end - time.perf_counter()) > 0:
        try:
            got.append(await session.frame(timeout=left))
        except TimeoutError:
            break
    return got


def test_a_lone_range_change_is_drawn_for_that_range(base):
    async def run():
        s = await open_session(base, waveforms_path())
        try:
            start, end = s.range
            lo, hi = start + (end - start) * 0.25, start + (end - start) * 0.5
            s.drop_frames()
            await s.change(start=lo, end=hi)
            return await s.frame(timeout=30), (lo, hi)
        finally:
            s.close()

    frame, (lo, hi) = run_apart(run)
    assert (frame.x0, frame.x1) == pytest.approx((lo, hi), abs=1.0)


def test_a_burst_of_changes_is_drawn_in_a_few_frames_ending_at_its_last_range(base):
    steps = 25

    async def run():
        s = await open_session(base, waveforms_path())
        try:
            start, end = s.range
            s.drop_frames()
            for k in range(1, steps + 1):  # back to back: each narrower by 2 %
                cut = (end - start) * 0.01 * k
                await s.change(start=start + cut, end=end - cut)
            last = (start + (end - start) * 0.01 * steps, end - (end - start) * 0.01 * steps)
            return await frames_within(s, 5.0), last
        finally:
            s.close()

    frames, last = run_apart(run)
    assert frames, "no frame for a burst of range changes"
    assert len(frames) < steps / 2, f"{len(frames)} frames for {steps} changes: not coalesced"
    assert (frames[-1].x0, frames[-1].x1) == pytest.approx(last, abs=1.0)


def test_a_drag_is_drawn_at_most_once_per_settle_interval(base):
    moves, every_s = 80, 0.005

    async def run():
        s = await open_session(base, waveforms_path())
        try:
            start, end = s.range
            step = (end - start) / 1000
            s.drop_frames()
            t = time.perf_counter()
            for k in range(1, moves + 1):  # a pan: the whole window moves a little each time
                await s.change(start=start + k * step, end=end + k * step)
                await asyncio.sleep(every_s)
            took = time.perf_counter() - t
            return await frames_within(s, 3.0), took, (start + moves * step,
                                                       end + moves * step)
        finally:
            s.close()

    frames, took, last = run_apart(run)
    # The settle interval bounds the renders whatever the machine's speed; a slow machine
    # draws fewer (a render in flight holds the next back), never more.
    bound = took * 1e3 / TimeRangePage.settle_ms + 2
    assert 1 <= len(frames) <= bound, f"{len(frames)} frames in {took:.2f} s of dragging"
    assert (frames[-1].x0, frames[-1].x1) == pytest.approx(last, abs=1.0)
