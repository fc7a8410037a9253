"""A waveform page a seismologist can read, checked in real Chromium on the pixels: picks as
thin phase-coloured ticks that leave the trace whole, the robust scale on a day with one big
earthquake, earthquake labels thinned at long spans, detections, measurements on a dragged
window equal to numpy's, and latency badges on /waveforms?refresh= and /.

One server (`belvedere serve`) over the store of `waveform_store` serves the module.
"""

from __future__ import annotations

import os
import re
import urllib.request

import numpy as np
import pytest
from browser import (
    JS_MODEL,
    SHOTS,
    browser_marks,
    frame_pixels,
    near_colour,
    open_page,
    plot_frame,
    png_array,
    served_dashboard,
)
from playwright.sync_api import Error as PlaywrightError
from waveform_store import (
    AMBER_S,
    DAY0_NS,
    P_NS,
    QUAKE_NS,
    RATE,
    RED_S,
    S_NS,
    TONE_HZ,
    build,
    day_samples,
)

from dashboard.latency import COLORS
from dashboard.picks import DETECTION_COLOR
from pipelines.store import open_store
from pipelines.timebase import NS, format_time, now_ns, parse_time

pytestmark = browser_marks()

BLUE = (31, 78, 153)  # the first band's colour
EVENT_RED = (192, 57, 43)


def is_magenta(img: np.ndarray) -> np.ndarray:
    """Pixels of the P colour (#e0218a), alone or blended with white."""
    r, g, b = (img[..., k].astype(np.int16) for k in range(3))
    return (r > 180) & (r - g > 60) & (b - g > 20)


def is_cyan(img: np.ndarray) -> np.ndarray:
    """Pixels of the S colour (#00a3e0), alone or blended with white."""
    r, g, b = (img[..., k].astype(np.int16) for k in range(3))
    return (b - r > 90) & (g - r > 50)


def ink(img: np.ndarray) -> np.ndarray:
    """Pixels clearly not white."""
    return (255 - img.astype(np.int16)).max(axis=-1) > 60


def wide_runs(cols: np.ndarray, min_px: int = 6) -> list[tuple[int, int]]:
    """[a, b) runs of True at least `min_px` long (marker shapes, not text strokes)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], cols.astype(np.int8), [0]])))
    return [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= min_px]


def rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return build(str(tmp_path_factory.mktemp("wave") / "wave.zarr"))


@pytest.fixture(scope="module")
def server(store):
    # The latency thresholds from the configuration's environment variables.
    env = {"BELVEDERE_LATENCY_AMBER_S": str(AMBER_S), "BELVEDERE_LATENCY_RED_S": str(RED_S)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with served_dashboard([store]) as base:
            yield base
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def url(server: str, streams: str, t0_ns: int | None = None, t1_ns: int | None = None,
        **more: str) -> str:
    q = f"{server}/waveforms?streams={streams}"
    if t0_ns is not None:
        q += f"&from={format_time(t0_ns)}&to={format_time(t1_ns)}"
    return q + "".join(f"&{k}={v}" for k, v in more.items())


def source(page, renderer: str) -> dict:
    """The data of a named renderer's source, as the browser holds it."""
    return page.evaluate(f"""() => {{ const r = ({JS_MODEL})('{renderer}');
      const d = r.data_source.data; const out = {{}};
      for (const k of Object.keys(d)) out[k] = Array.from(d[k]); return out; }}""")


def column_of(page, t_ns: int, width: int) -> int:
    """Column of time `t_ns` in a frame screenshot `width` pixels wide."""
    x0, x1 = page.evaluate(f"() => {{ const m = ({JS_MODEL})('waveforms');"
                           " return [m.x_range.start, m.x_range.end]; }")
    return int(round((t_ns / 1e6 - x0) / (x1 - x0) * width))


def wait_for(page, renderer: str, ready: str, timeout_ms: int = 20000) -> None:
    """Wait until JS `ready` (of `d`, the renderer's source data) holds."""
    page.wait_for_function(f"() => {{ const r = ({JS_MODEL})('{renderer}');"
                           f" if (!r) return false; const d = r.data_source.data;"
                           f" return {ready}; }}", timeout=timeout_ms)


def test_picks_are_thin_coloured_ticks_that_leave_the_trace_whole(server, page):
    open_page(page, url(server, "XW.QUAK.00.HHZ", QUAKE_NS - 10 * NS, QUAKE_NS + 50 * NS),
              model="picks", settle_ms=0)
    wait_for(page, "picks", "d.x.length >= 2")
    page.wait_for_timeout(300)  # the frame that came with the ticks is painted
    img = frame_pixels(page, path=f"{SHOTS}/bv_wave_picks.png")
    h, w, _ = img.shape
    p_col = column_of(page, P_NS, w)
    cols = slice(p_col - 3, p_col + 4)
    magenta = is_magenta(img[:, cols])
    assert magenta.any(axis=1).sum() > 0.5 * h, "a P tick runs across the band"
    assert magenta.any(axis=0).sum() <= 3, "the tick is thin"
    assert not near_colour(img[3:-3], (17, 17, 17), 40).any(axis=0)[cols].any(), "no black"
    s_col = column_of(page, S_NS, w)
    assert is_cyan(img[:, s_col - 3:s_col + 4]).any(axis=1).sum() > 0.5 * h
    # The trace is drawn over the ticks: no pixel of the trace turns into a tick's colour.
    page.evaluate(f"() => {{ ({JS_MODEL})('picks').visible = false; }}")
    for _ in range(50):  # until repainted without the ticks
        bare = frame_pixels(page)
        if not is_magenta(bare[:, cols]).any():
            break
        page.wait_for_timeout(100)
    trace = ink(bare)[:, cols] & ~is_magenta(bare[:, cols])
    assert trace.sum() > 10 and not is_magenta(bare[:, cols]).any()
    assert (trace & magenta).sum() <= 0.05 * trace.sum()
    # Labels half a second apart (5 pixels) do not collide: they take two lanes.
    labels = source(page, "pick_labels")
    ys = dict(zip(labels["text"], labels["y"], strict=True))
    assert set(ys) >= {"P", "S"} and ys["S"] != ys["P"]
    assert not page.console_errors


def test_robust_scale_shows_the_noise_of_a_day_with_one_big_earthquake(server, page):
    extents = {}
    open_page(page, url(server, "XW.QUAK.00.HHZ", scale="robust"), model="band_labels",
              settle_ms=0)
    for scale, button in (("robust", None), ("trace", "max")):
        if button:  # the page's own scale control: the same page drawn again
            page.get_by_role("button", name=button, exact=True).click()
        wait_for(page, "band_labels", "d.text.length == 1 && d.text[0].includes("
                 + ("'robust'" if scale == "robust" else "'(max'") + ")")
        page.wait_for_timeout(300)  # the image that came with the label is painted
        img = frame_pixels(page, path=f"{SHOTS}/bv_wave_scale_{scale}.png")
        h, w, _ = img.shape
        blue = near_colour(img, BLUE, 60)
        quake = column_of(page, QUAKE_NS, w)
        quiet = np.r_[20:quake - 40, quake + 40:w - 20]
        rows = blue[:, quiet].sum(axis=0)  # how tall the trace is in each quiet column
        extents[scale] = (float(np.median(rows)) / h,
                          blue[:, quake - 3:quake + 4].sum(axis=0).max() / h)
        text = source(page, "band_labels")["text"][0]
        assert ("robust" in text) == (scale == "robust") and ("max" in text) == (scale != "robust")
    noise, quake = extents["robust"]
    assert noise > 0.15, f"the noise fills {noise:.0%} of the band"
    assert quake > 1.5 * noise, "the earthquake stands out above the noise"
    assert extents["trace"][0] < 0.05, "with the maximum the noise is a flat line"


def test_earthquake_labels_are_thinned_and_detections_drawn_with_their_triggers(server, page):
    open_page(page, url(server, "XW.QUAK.*,XW.CALM.*"), model="events")
    wait_for(page, "events", "d.x.length > 0")
    wait_for(page, "detections", "d.x.length > 0")
    img = frame_pixels(page, path=f"{SHOTS}/bv_wave_events_day.png")
    day = source(page, "events")
    assert "M5.1" in day["label"] and any(re.fullmatch(r"M[\d.]+ \+\d+", t)
                                          for t in day["label"])
    assert len(day["label"]) <= 3
    # Red markers on screen: one blob per label, not forty.
    assert len(wide_runs(near_colour(img[:30], EVENT_RED, 40).sum(axis=0) >= 4)) \
        == len(day["label"])
    # A detection diamond on the top row at the earthquake, its triggers as ticks.
    w = img.shape[1]
    q = column_of(page, QUAKE_NS, w)
    amber = near_colour(img[:40, q - 10:q + 10], rgb(DETECTION_COLOR), 50)
    assert amber.sum() > 10, "a detection diamond on the top row at the earthquake"
    wait_for(page, "picks", "d.x.length >= 6")
    ticks = source(page, "picks")
    assert ticks["color"].count(DETECTION_COLOR) == 3  # one trigger on each stream
    # Zoomed to the crowded hour, more of them get their own mark, never on top of another.
    t0 = DAY0_NS + 3 * 3600 * NS
    open_page(page, url(server, "XW.QUAK.*,XW.CALM.*", t0 - 300 * NS, t0 + 3900 * NS),
              model="events", settle_ms=0)
    wait_for(page, "events", "d.x.length > 3")
    hour = source(page, "events")
    w = plot_frame(page)["width"]
    gaps = np.diff(hour["x"]) / ((4200 * NS) / 1e6) * w
    assert len(hour["x"]) > len(day["x"]) and (gaps >= 60).all()
    frame_pixels(page, path=f"{SHOTS}/bv_wave_events_hour.png")


def _cell(row, cls: str) -> float:
    return float(row.locator(f"td.{cls}").inner_text().split()[0])


def test_measurements_on_a_dragged_window_equal_numpy(server, page):
    t0 = DAY0_NS + 6 * 3600 * NS
    open_page(page, url(server, "XW.CALM.00.HHZ", t0, t0 + 120 * NS), model="waveforms")
    page.evaluate(f"""() => {{ const m = ({JS_MODEL})('waveforms');
      const tool = m.toolbar.tools.find((t) => t.name === 'measure');
      m.toolbar.active_drag = tool; }}""")
    box = plot_frame(page)
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 0.2 * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.7 * box["width"], y, steps=8)
    page.mouse.up()
    row = page.locator("tr.bv-measure[data-stream='XW.CALM.00.HHZ']")
    row.wait_for(timeout=20000)
    n = int(row.locator("td.n").inner_text())
    first = parse_time(row.locator("td").nth(2).inner_text())
    i0 = int(round((first - DAY0_NS) / NS * RATE))
    x = day_samples("XW.CALM.00.HHZ")[i0:i0 + n].astype(np.float64)
    assert 0.45 * 120 * RATE < n < 0.55 * 120 * RATE  # half the plot's width was dragged
    assert _cell(row, "p2p") == pytest.approx(np.ptp(x), rel=1e-6)
    assert _cell(row, "mean") == pytest.approx(np.mean(x), rel=1e-6, abs=1e-9)
    assert _cell(row, "rms") == pytest.approx(np.sqrt(np.mean((x - x.mean()) ** 2)), rel=1e-6)
    spec = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(len(x))))
    fdom = np.fft.rfftfreq(len(x), 1 / RATE)[1 + int(np.argmax(spec[1:]))]
    assert _cell(row, "fdom") == pytest.approx(fdom, rel=1e-6)
    assert abs(fdom - TONE_HZ) < 2 * RATE / len(x)
    # The measured window is shaded on the plot.
    img = frame_pixels(page, path=f"{SHOTS}/bv_wave_measure.png")
    w = img.shape[1]
    shade = near_colour(img[:, int(0.3 * w):int(0.6 * w)], (255, 245, 224), 8)
    assert shade.mean() > 0.2 and not near_colour(img[:, :int(0.15 * w)], (255, 245, 224),
                                                  8).mean() > 0.05


def test_latency_badges_turn_amber_and_red(server, store, page):
    open_page(page, url(server, "XW.LIVE.*,XW.LATE.*,XW.DEAD.*", refresh="5s"),
              model="latency")
    wait_for(page, "latency", "d.text.length == 3")
    img = frame_pixels(page, path=f"{SHOTS}/bv_wave_latency.png")
    h, w, _ = img.shape
    right = img[:, int(0.8 * w):]
    bands = np.array_split(np.arange(h), 3)  # LIVE, LATE, DEAD from the top
    for rows, level in zip(bands, ("ok", "amber", "red"), strict=True):
        top = right[rows[0]:rows[0] + len(rows) // 2]  # the badge, above the trace
        assert near_colour(top, rgb(COLORS[level]), 30).sum() > 30, level
    # The overview lists every stream's latency (and with refresh= reads them again).
    page.goto(server + "/?refresh=2s")
    page.wait_for_selector("text=XW.LIVE.00.HHZ", timeout=30000)
    for name, level in (("XW.LIVE.00.HHZ", "ok"), ("XW.LATE.00.HHZ", "amber"),
                        ("XW.DEAD.00.HHZ", "red"), ("XW.QUAK.00.HHZ", "red")):
        pix = badge_pixels(page, name)
        assert near_colour(pix, rgb(COLORS[level]), 30).mean() > 0.4, (name, level)
    page.screenshot(path=f"{SHOTS}/bv_overview_latency.png", full_page=True)
    # Data reaching XW.LATE up to now turns its badge from amber to ok without a reload.
    late = page.locator("tr", has_text="XW.LATE.00.HHZ").locator(".bv-latency")
    assert "bv-latency-amber" in late.get_attribute("class")
    st = open_store(store, "a")
    end = st["XW.LATE.00.HHZ"].span_ns[1]
    w = st.writer("XW.LATE.00.HHZ")
    i0 = round(w.index_of(end))
    n = int((now_ns() - end) / NS * RATE)
    w.write(i0, np.zeros(n, np.int32))
    w.update_pyramid(i0, i0 + n)
    w.commit()
    page.wait_for_selector("tr:has-text('XW.LATE.00.HHZ') .bv-latency-ok", timeout=30000)
    assert "bv-latency-amber" not in late.get_attribute("class")


def badge_pixels(page, name: str) -> np.ndarray:
    """The pixels of a stream's latency badge on the overview, which refresh= redraws every
    few seconds (a screenshot that meets a redraw is taken again)."""
    for _ in range(20):
        try:
            badge = page.locator("tr", has_text=name).locator(".bv-latency")
            return png_array(badge.screenshot(timeout=5000))
        except PlaywrightError:
            page.wait_for_timeout(200)
    raise AssertionError(f"the latency badge of {name} was never stable enough to look at")


def open_snapshot(page, server: str, tmp_path, name: str, streams: str,
                  t0_ns: int | None = None, t1_ns: int | None = None, **more: str) -> None:
    """Download the server's snapshot of a waveform view (/snapshot/waveforms.html) and open
    the file with every request refused, waiting until its base image is drawn."""
    q = url(server, streams, t0_ns, t1_ns, **more).replace("/waveforms?",
                                                           "/snapshot/waveforms.html?")
    out = tmp_path / f"{name}.html"
    with urllib.request.urlopen(q, timeout=120) as r:
        out.write_bytes(r.read())
    page.route("**/*", lambda r: r.abort() if not r.request.url.startswith(("file:", "data:"))
               else r.continue_())
    open_page(page, out.as_uri(), idle=True, model="events", settle_ms=0)
    for _ in range(100):  # the tiles are data: URLs, decoded asynchronously
        if near_colour(frame_pixels(page), BLUE, 60).any():
            return
        page.wait_for_timeout(100)
    raise AssertionError("the snapshot's trace image was never drawn")


def snapshot_labels(page) -> list[str]:
    """The band labels (amplitude scale) of an open snapshot."""
    return page.evaluate("""() => Array.from(Bokeh.documents[0].all_models)
      .filter((m) => m.type === 'Label' || (m.constructor && m.constructor.__name__ === 'Label'))
      .map((m) => m.text)""")


def test_snapshot_draws_what_the_page_draws(server, page, tmp_path):
    extents = {}
    for scale in ("robust", "trace"):
        open_snapshot(page, server, tmp_path, scale, "XW.QUAK.00.HHZ", scale=scale)
        img = frame_pixels(page, path=f"{SHOTS}/bv_snapshot_scale_{scale}.png")
        h, w, _ = img.shape
        blue = near_colour(img, BLUE, 60)
        quake = column_of(page, QUAKE_NS, w)
        quiet = np.r_[20:quake - 40, quake + 40:w - 20]
        extents[scale] = (float(np.median(blue[:, quiet].sum(axis=0))) / h,
                          blue[:, quake - 3:quake + 4].sum(axis=0).max() / h)
        labels = [t for t in snapshot_labels(page) if "counts" in t]
        assert len(labels) == 1 and ("robust" in labels[0]) == (scale == "robust")
        assert ("(max)" in labels[0]) == (scale == "trace")
        events = source(page, "events")
        assert "M5.1" in events["label"] and len(events["label"]) <= 3
        assert any(re.fullmatch(r"M[\d.]+ \+\d+", t) for t in events["label"]), "thinned"
        assert len(source(page, "detections")["x"]) > 0
        assert not page.console_errors
    noise, quake = extents["robust"]
    assert noise > 0.15, f"the noise fills {noise:.0%} of the snapshot's band"
    assert quake > 1.5 * noise, "the earthquake stands out above the noise"
    assert extents["trace"][0] < 0.05, "scale=trace: the old look, the noise a flat line"
    # Zoomed in (a finer detail level), the crowded hour's earthquakes get more marks, apart.
    t0 = DAY0_NS + 3 * 3600 * NS
    day = len(events["x"])
    page.evaluate(f"""() => {{ const m = ({JS_MODEL})('waveforms');
      m.x_range.setv({{start: {t0 / 1e6}, end: {(t0 + 3600 * NS) / 1e6}}}); }}""")
    wait_for(page, "events", f"d.x.length > {day}")
    hour = [x for x in source(page, "events")["x"] if t0 / 1e6 <= x < (t0 + 3600 * NS) / 1e6]
    gaps = np.diff(hour) / ((3600 * NS) / 1e6) * plot_frame(page)["width"]
    assert len(hour) > 1 and (gaps >= 60).all()
    # The picks, as on the page: thin ticks in their phase's colour under the trace.
    open_snapshot(page, server, tmp_path, "picks", "XW.QUAK.00.HHZ", QUAKE_NS - 10 * NS,
                  QUAKE_NS + 50 * NS)
    img = frame_pixels(page, path=f"{SHOTS}/bv_snapshot_picks.png")
    h, w, _ = img.shape
    p_col = column_of(page, P_NS, w)
    magenta = is_magenta(img[:, p_col - 3:p_col + 4])
    assert magenta.any(axis=1).sum() > 0.5 * h, "a P tick runs across the band"
    assert magenta.any(axis=0).sum() <= 3, "the tick is thin"
    s_col = column_of(page, S_NS, w)
    assert is_cyan(img[:, s_col - 3:s_col + 4]).any(axis=1).sum() > 0.5 * h
    assert not page.console_errors
