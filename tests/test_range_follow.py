"""The waveforms plot follows its x range over the real websocket, as a browser moves it.

A served dashboard, its page opened the way BokehJS opens it (`bokeh_protocol`): a lone range
change (a wheel notch) is drawn; a burst of changes sent back to back (a fast trackpad) is
drawn in a few frames, the last of them its last range; a drag of many small moves is drawn
at most once per the page's settle interval, plus the one frame in flight. And what a hostile
client may send over the same websocket (a plot a billion pixels wide, a range of 1e300 ms,
not a number, an end before the start) costs a bounded frame or nothing, and the session
goes on drawing.
"""

from __future__ import annotations

import asyncio
import os
import re
import time

import pytest
from bokeh_protocol import opened, run_apart
from browser import served_dashboard
from test_dashboard_store import T0_NS, build_store

from dashboard.frames import MAX_FRAME_PX
from dashboard.pages.base import laid_out_px
from dashboard.pages.timerange import TimeRangePage
from pipelines.timebase import NS, TIME_MAX_NS, TIME_MIN_NS

MS = 10**6  # ns in a Bokeh millisecond


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = build_store(str(tmp_path_factory.mktemp("follow") / "s.zarr"))
    with served_dashboard([path], timeout=120) as url:
        yield url


def waveforms_path(extra: str = "") -> str:
    return (f"/waveforms?streams=BV.ALPA.00.HHZ&from={T0_NS // MS}"
            f"&to={(T0_NS + 3600 * NS) // MS}{extra}")


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
        async with opened(base, waveforms_path()) as s:
            start, end = s.range
            lo, hi = start + (end - start) * 0.25, start + (end - start) * 0.5
            s.drop_frames()
            await s.change(start=lo, end=hi)
            return await s.frame(timeout=30), (lo, hi)

    frame, (lo, hi) = run_apart(run)
    assert (frame.x0, frame.x1) == pytest.approx((lo, hi), abs=1.0)


def test_a_burst_of_changes_is_drawn_in_a_few_frames_ending_at_its_last_range(base):
    steps = 25

    async def run():
        async with opened(base, waveforms_path()) as s:
            start, end = s.range
            s.drop_frames()
            for k in range(1, steps + 1):  # back to back: each narrower by 2 %
                cut = (end - start) * 0.01 * k
                await s.change(start=start + cut, end=end - cut)
            last = (start + (end - start) * 0.01 * steps, end - (end - start) * 0.01 * steps)
            return await frames_within(s, 5.0), last

    frames, last = run_apart(run)
    assert frames, "no frame for a burst of range changes"
    assert len(frames) < steps / 2, f"{len(frames)} frames for {steps} changes: not coalesced"
    assert (frames[-1].x0, frames[-1].x1) == pytest.approx(last, abs=1.0)


def test_a_drag_is_drawn_at_most_once_per_settle_interval(base):
    moves, every_s = 80, 0.005

    async def run():
        async with opened(base, waveforms_path()) as s:
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

    frames, took, last = run_apart(run)
    # The settle interval bounds the renders whatever the machine's speed; a slow machine
    # draws fewer (a render in flight holds the next back), never more.
    bound = took * 1e3 / TimeRangePage.settle_ms + 2
    assert 1 <= len(frames) <= bound, f"{len(frames)} frames in {took:.2f} s of dragging"
    assert (frames[-1].x0, frames[-1].x1) == pytest.approx(last, abs=1.0)


def test_a_reported_plot_size_is_bounded_whatever_the_client_sends():
    assert laid_out_px(1282, 1200) == 1282
    assert laid_out_px(10**9, 1200) == MAX_FRAME_PX
    for bad in (None, 0, -5, float("nan"), float("inf"), "wide"):
        assert laid_out_px(bad, 1200) == 1200, bad


@pytest.mark.parametrize("embed", [False, True])
def test_a_plot_a_billion_pixels_wide_gets_a_bounded_frame(base, embed):
    async def run():
        async with opened(base, waveforms_path("&embed=1" if embed else "")) as s:
            s.drop_frames()
            await s.change(inner_width=10**9, **({"inner_height": 10**9} if embed else {}))
            wide = await s.frame(timeout=60)
            await s.change(inner_width=1282)  # the browser reports its real size again
            back = await s.frame(timeout=60)
            return wide, back

    wide, back = run_apart(run)
    assert wide.width == MAX_FRAME_PX and wide.height <= MAX_FRAME_PX
    assert back.width == 1282


@pytest.mark.parametrize("start, end", [(-1e300, 1e300), (-1e300, T0_NS / MS + 3.6e6)])
def test_a_range_beyond_the_supported_times_is_drawn_within_them(base, start, end):
    async def run():
        async with opened(base, waveforms_path()) as s:
            s.drop_frames()
            await s.change(start=start, end=end)
            s.range = (start, end)
            frame = await s.frame(timeout=60)
            await asyncio.sleep(0.5)  # the range moved back comes with the frame or after it
            return frame, s.range

    frame, moved = run_apart(run)
    lo, hi = TIME_MIN_NS / MS, TIME_MAX_NS / MS
    assert lo - 1 <= frame.x0 < frame.x1 <= hi + 1
    assert moved == pytest.approx((frame.x0, frame.x1), abs=1.0)


@pytest.mark.parametrize("start, end", [
    (float("nan"), 1.0), (float("-inf"), float("inf")), (5e12, 1e12), (1e300, 2e300),
    (-2e300, -1e300)])
def test_a_range_that_is_no_range_draws_nothing_and_the_plot_goes_back(base, start, end):
    async def run():
        async with opened(base, waveforms_path()) as s:
            drawn = s.range
            s.drop_frames()
            await s.change(start=start, end=end)
            s.range = (start, end)
            nothing = await frames_within(s, 1.5)
            back = s.range
            lo, hi = drawn[0], drawn[0] + (drawn[1] - drawn[0]) / 3
            await s.change(start=lo, end=hi)
            return drawn, nothing, back, await s.frame(timeout=30), (lo, hi)

    drawn, nothing, back, frame, (lo, hi) = run_apart(run)
    assert nothing == []
    assert back == pytest.approx(drawn, abs=1.0)
    assert (frame.x0, frame.x1) == pytest.approx((lo, hi), abs=1.0)


def test_widget_values_no_browser_sends_leave_our_code_quiet_and_the_page_drawing(base):
    """Values a browser's widgets never send (or send when a box is emptied) into the time
    and filter boxes: Bokeh and Panel refuse what does not fit a widget; what they let
    through must not raise in the page's code or its state's parameters, and the plot still
    follows a zoom."""
    titles = {"fmin (Hz)", "fmax (Hz)", "From (UTC, ISO or now-6h)", "To"}
    values = (2.5, None, "", "x" * 100_000, float("nan"), -1e308, 1e308, "now-1000000y",
              "\x00\x1b[31m", [], {"a": 1})

    async def run():
        async with opened(base, waveforms_path()) as s:
            drawn = s.range
            boxes = [mid for mid, m in s.models.items()
                     if str(m["attributes"].get("title")) in titles]
            for mid in boxes:
                for v in values:
                    await s.change(model=mid, value=v)
            await frames_within(s, 2.0)
            lo, hi = drawn[0], drawn[0] + (drawn[1] - drawn[0]) / 4
            await s.change(start=lo, end=hi)
            return len(boxes), await frames_within(s, 3.0), (lo, hi)

    found, frames, (lo, hi) = run_apart(run)
    assert found == len(titles)
    assert frames and (frames[-1].x0, frames[-1].x1) == pytest.approx((lo, hi), abs=1.0)
    port = base.rsplit(":", 1)[1]
    log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"),
                            f"belvedere-serve-{port}.log")).read()
    ours = [t for t in re.split(r"(?=Traceback \(most recent call last\))", log)[1:]
            if "/dashboard/" in t or "/pipelines/" in t or re.search(r"'\w+State\.\w+'", t)]
    assert not ours, ours[0][-1500:]
