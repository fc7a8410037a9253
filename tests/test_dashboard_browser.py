"""The served dashboard in real Chromium: pages load, plots are drawn (checked on the pixels),
zooming redraws, URLs restore their view, bad parameters show a message.

One server (a subprocess running `dashboard.server.serve`) and one browser serve the module.
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from browser import (
    JS_FRAME_FITS,
    JS_IMAGE_AND_FRAME,
    JS_MODEL,
    JS_OVERFLOW,
    NARROW,
    SHOTS,
    browser_marks,
    colored_fraction,
    colored_rows,
    frame_pixels,
    ink_fraction,
    near_colour,
    new_page,
    open_page,
    plot_frame,
    served_dashboard,
    static_http_server,
)
from PIL import Image
from test_dashboard_store import GAP_NS, QUAKE_NS, T0_NS, build_store

from dashboard.address import QUIET_MS
from dashboard.pages.waveforms import HEADROOM
from pipelines.timebase import NS, format_time

pytestmark = browser_marks()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    store = build_store(str(tmp_path_factory.mktemp("browser") / "demo.zarr"))
    with served_dashboard([store]) as base:
        yield base


# -- helpers ------------------------------------------------------------------------------
def x_range(page, name: str = "waveforms") -> tuple[float, float]:
    """The plot's x range in ms, as the browser has it."""
    return tuple(page.evaluate(f"() => {{ const m = ({JS_MODEL})('{name}');"
                               " return [m.x_range.start, m.x_range.end]; }"))


def screen_x(page, name: str, t_ms: float) -> float:
    """Page x coordinate of time `t_ms` on a named plot."""
    return page.evaluate(f"""(t) => {{
      const m = ({JS_MODEL})('{name}'); const v = Bokeh.index.find_one(m);
      return v.canvas_view.el.getBoundingClientRect().left + v.frame.x_scale.compute(t); }}""",
                         t_ms)


def widget_value(page, title: str):
    """Value of the widget with this title (label), read from the Bokeh document."""
    return page.evaluate("""(title) => {
      for (const doc of Bokeh.documents) for (const m of doc.all_models)
        if (m.title === title && m.value !== undefined) return m.value;
      return null; }""", title)


def query(page) -> dict[str, str]:
    """The page's current URL query (the view's state)."""
    search = page.evaluate("() => window.location.search")
    return {k: v[-1] for k, v in parse_qs(search.lstrip("?")).items()}


def wait_query_change(page, old: dict[str, str], timeout: float = 15.0) -> dict[str, str]:
    """Wait until the URL query differs from `old`; return the new one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        q = query(page)
        if q != old:
            return q
        page.wait_for_timeout(100)
    raise AssertionError(f"the URL did not change from {old}")


def wait_x_range(page, start_ms: float, end_ms: float, timeout: float = 10.0) -> None:
    """Wait until the plot in the browser shows [start, end] (ms): the view really moved."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = x_range(page)
        if abs(got[0] - start_ms) < 1 and abs(got[1] - end_ms) < 1:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the plot shows {got}, not [{start_ms}, {end_ms}]")


def blue_columns(img: np.ndarray) -> np.ndarray:
    """Columns holding the first trace colour (#1f4e99), not axes, text or event marks."""
    i = img.astype(np.int16)
    near = near_colour(img, (31, 78, 153), 60) & (i[..., 2] > i[..., 0] + 50)
    return near.any(axis=0)


# -- tests --------------------------------------------------------------------------------
def test_liveness_answers(server):
    with urllib.request.urlopen(server + "/liveness", timeout=5) as r:
        assert r.status == 200
        assert json.loads(r.read()) == {"/liveness": True}


def test_waveforms_draws_every_trace(server, page):
    open_page(page, server + "/waveforms")
    img = frame_pixels(page, path=f"{SHOTS}/bv_waveforms.png")
    assert colored_fraction(img) > 0.005, "trace ink on the plot"
    # Four streams -> four bands, each with coloured pixels.
    bands = np.array_split(colored_rows(img), 4)
    assert all(b.any() for b in bands)
    # The default range is the whole span of the data, and the URL says so.
    q = query(page)
    assert q["from"] == format_time(T0_NS) and q["to"] == format_time(T0_NS + 4 * 3600 * NS)
    assert not page.console_errors


def test_the_first_frame_is_drawn_pixel_for_pixel_before_any_zoom(server, page):
    # The page is built before the browser lays it out: once the browser says the plot's
    # width, the frame is drawn again at it, unasked, and each band's rows are its pixels.
    open_page(page, server + "/waveforms?streams=BV.ALPA.00.HHZ,BV.BETA.00.HHZ")
    page.wait_for_function(JS_FRAME_FITS, arg="waveforms", timeout=10_000)
    (w, h), (fw, fh) = page.evaluate(JS_IMAGE_AND_FRAME, "waveforms")
    assert w == round(fw) and fw != 1200  # not the width the page was built with
    assert abs(h - fh * 2 / (2 + HEADROOM)) <= 1, (h, fh)  # the bands' rows: no resampling
    # The overview strip under it too.
    page.wait_for_function(JS_FRAME_FITS, arg="overview", timeout=10_000)
    (w, h), (fw, fh) = page.evaluate(JS_IMAGE_AND_FRAME, "overview")
    assert w == round(fw) and abs(h - fh) <= 1, ((w, h), (fw, fh))


@pytest.mark.parametrize("path", ["/", "/waveforms", "/helicorder", "/availability",
                                  "/stations", "/noise", "/rsam"])
def test_no_page_scrolls_sideways_in_a_laptop_window(server, browser, path):
    with new_page(browser, viewport=NARROW) as pg:
        open_page(pg, server + path, canvas=False, idle=True, settle_ms=800)
        pg.screenshot(path=f"{SHOTS}/bv_narrow_{path.strip('/') or 'overview'}.png",
                      full_page=True)
        assert pg.evaluate(JS_OVERFLOW) <= 0, "the controls should wrap, not widen the page"


@pytest.mark.parametrize("path", ["/", "/stations"])
def test_a_table_wider_than_the_window_scrolls_in_its_own_pane(server, browser, path):
    with new_page(browser, viewport={"width": 480, "height": 900}) as pg:
        open_page(pg, server + path, canvas=False, idle=True, settle_ms=800)
        # The table is wider than the window, the page is not: the header wraps too.
        widest = pg.evaluate("""() => { let w = 0; const walk = (root) => {
            for (const el of root.querySelectorAll('table')) w = Math.max(w, el.scrollWidth);
            for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
          }; walk(document); return w; }""")
        assert widest > 480
        assert pg.evaluate(JS_OVERFLOW) <= 0


def test_gap_is_drawn_as_a_gap(server, page):
    open_page(page, server + "/waveforms?streams=BV.ALPA.00.HHZ")
    img = frame_pixels(page, path=f"{SHOTS}/bv_waveforms_gap.png")
    cols = blue_columns(img)
    w = len(cols)
    span = 4 * 3600 * NS
    g0 = int((GAP_NS[0] - T0_NS) / span * w)
    g1 = int((GAP_NS[1] - T0_NS) / span * w)
    assert not cols[g0 + 3:g1 - 3].any(), "nothing drawn in the gap"
    assert cols[5:g0 - 3].mean() > 0.95 and cols[g1 + 3:w - 5].mean() > 0.95


def test_wheel_zoom_redraws_and_updates_the_url(server, page):
    open_page(page, server + "/waveforms?streams=BV.ALPA.00.HHZ,BV.BETA.00.HHZ")
    before = frame_pixels(page)
    status_before = page.get_by_text("1 pixel ≈").inner_text()
    q0 = query(page)
    box = plot_frame(page)
    # Zoom around the earthquake (at 62.5 % of the 4 h span).
    page.mouse.move(box["x"] + 0.625 * box["width"], box["y"] + box["height"] / 2)
    for _ in range(3):
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(150)
    q1 = wait_query_change(page, q0)
    page.wait_for_timeout(600)  # the new image arrives with the URL; let it paint
    after = frame_pixels(page, path=f"{SHOTS}/bv_waveforms_zoomed.png")
    t0 = x_range(page)
    assert t0[1] - t0[0] < 0.5 * 4 * 3600 * 1000, "zoomed in"
    assert q1["from"] != q0["from"] and q1["to"] != q0["to"]
    diff = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(-1) > 40
    assert diff.mean() > 0.02, "the drawn pixels changed"
    assert page.get_by_text("1 pixel ≈").inner_text() != status_before  # re-read finer
    assert colored_fraction(after) > 0.005


JS_ADDRESS_BAR = """(quiet) => {
  for (const doc of Bokeh.documents) for (const m of doc.all_models)
    if (m.data && m.data.query !== undefined && m.data.quiet_ms !== undefined) {
      if (quiet !== null) m.data.quiet_ms = quiet;
      return m.data.quiet_ms; }
  return null; }"""


def wheel_in_until_redrawn(page) -> None:
    """One wheel zoom in where the mouse is, and wait for the status line of its frame."""
    status = page.get_by_text("1 pixel ≈").inner_text()
    page.mouse.wheel(0, -300)
    page.wait_for_function("(old) => !document.body.innerText.includes(old)", arg=status,
                           timeout=15000)


def assert_query_says_the_plot(page, q: dict[str, str]) -> None:
    """The query's from/to are the plot's x range as the browser has it."""
    t0, t1 = x_range(page)
    assert q["from"] == format_time(round(t0 * 1e6)) and q["to"] == format_time(round(t1 * 1e6))


def test_the_address_follows_zooms_once_they_rest_and_keeps_one_history_entry(server, page):
    open_page(page, server + "/waveforms?streams=BV.ALPA.00.HHZ,BV.BETA.00.HHZ")
    q0, entries = query(page), page.evaluate("history.length")
    assert page.evaluate(JS_ADDRESS_BAR, None) == QUIET_MS
    box = plot_frame(page)
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + box["height"] / 2)
    for _ in range(4):  # four zooms, each drawn: the address is written once, after the last
        wheel_in_until_redrawn(page)
    q1 = wait_query_change(page, q0)
    assert q1["from"] != q0["from"] and q1["to"] != q0["to"]
    assert_query_says_the_plot(page, q1)
    assert page.evaluate("history.length") == entries, "the address replaced, not pushed"


@pytest.mark.parametrize("towards", ["pointer", "keys"])
def test_the_address_is_written_at_once_when_the_user_heads_for_it(server, page, towards):
    open_page(page, server + "/waveforms?streams=BV.ALPA.00.HHZ")
    page.evaluate(JS_ADDRESS_BAR, 600_000)  # rested only after ten minutes
    q0 = query(page)
    box = plot_frame(page)
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + box["height"] / 2)
    wheel_in_until_redrawn(page)
    page.wait_for_timeout(1000)
    assert query(page) == q0, "not written while the view moves"
    if towards == "pointer":  # off the page, towards the address bar
        page.mouse.move(box["x"] + 0.5 * box["width"], 1)
        page.mouse.move(-5, -5)
    else:  # Ctrl+L, Ctrl+D begin with Control
        page.keyboard.down("Control")
        page.keyboard.up("Control")
    assert_query_says_the_plot(page, wait_query_change(page, q0, timeout=5))


def test_dragging_the_overview_box_moves_the_view(server, page):
    t0, t1 = T0_NS + 3600 * NS, T0_NS + 2 * 3600 * NS
    open_page(page, server + f"/waveforms?streams=BV.ALPA.00.HHZ&from={format_time(t0)}"
              f"&to={format_time(t1)}")
    # Dragged once the page has settled: its frame redrawn at the plot's laid-out width.
    page.wait_for_function(JS_FRAME_FITS, arg="waveforms", timeout=10_000)
    q0 = query(page)
    before = x_range(page)
    ov = plot_frame(page, "overview")
    y = ov["y"] + ov["height"] / 2
    mid, half_hour_earlier = (screen_x(page, "overview", (t0 + t1) / 2e6 - d)
                              for d in (0, 1800e3))
    page.mouse.move(mid, y)  # the middle of the range tool's box...
    page.mouse.down()
    page.mouse.move(half_hour_earlier, y, steps=8)  # ...dragged half an hour to the left
    page.mouse.up()
    q = wait_query_change(page, q0)
    after = x_range(page)
    shift = before[0] - after[0]
    assert 0.3 * 3600e3 < shift < 0.7 * 3600e3, "moved about half an hour earlier"
    assert after[1] - after[0] == pytest.approx(before[1] - before[0], rel=0.01)
    assert q["from"] < q0["from"]


def test_url_restores_its_view(server, page):
    f, t = "2024-03-01T02:29:00Z", "2024-03-01T02:34:00Z"
    open_page(page, server + f"/waveforms?streams=BV.ALPA.00.HHZ,BV.GAMA.00.BHZ&from={f}&to={t}"
                             "&scale=shared&units=physical&filter=bandpass&fmin=1&fmax=8")
    assert widget_value(page, "Streams") == ["BV.ALPA.00.HHZ", "BV.GAMA.00.BHZ"]
    assert widget_value(page, "From (UTC, ISO or now-6h)") == f
    assert widget_value(page, "To") == t
    assert widget_value(page, "Filter") == "bandpass"
    start, end = x_range(page)
    assert start == (QUAKE_NS - 60 * NS) / 1e6 and end == (QUAKE_NS + 240 * NS) / 1e6
    q = query(page)
    assert q["streams"] == "BV.ALPA.00.HHZ,BV.GAMA.00.BHZ" and q["from"] == f and q["to"] == t
    assert q["scale"] == "shared" and q["units"] == "physical" and q["filter"] == "bandpass"
    assert page.get_by_text("band-pass 1-8 Hz on 2 of 2 traces").count() == 1
    img = frame_pixels(page, path=f"{SHOTS}/bv_waveforms_restored.png")
    assert colored_fraction(img) > 0.005


def test_typed_time_range_moves_the_plot(server, page):
    open_page(page, server + "/waveforms?streams=BV.BETA.00.HHZ")
    q0 = query(page)
    box = page.get_by_placeholder("ISO time or now-6h")  # the From input
    box.fill("2024-03-01T02:00:00Z")
    box.press("Enter")
    q = wait_query_change(page, q0)
    assert q["from"] == "2024-03-01T02:00:00Z"
    wait_x_range(page, (T0_NS + 2 * 3600 * NS) / 1e6, (T0_NS + 4 * 3600 * NS) / 1e6)


def test_jump_to_an_earthquake(server, page):
    open_page(page, server + "/waveforms")
    q0 = query(page)
    select = page.locator("select").filter(has_text="M4.2")
    select.select_option(label=f"{format_time(QUAKE_NS)} M4.2 ev1")
    q = wait_query_change(page, q0)
    assert q["from"] == format_time(QUAKE_NS - 60 * NS)
    assert q["to"] == format_time(QUAKE_NS + 240 * NS)
    wait_x_range(page, (QUAKE_NS - 60 * NS) / 1e6, (QUAKE_NS + 240 * NS) / 1e6)


def test_click_on_an_earthquake_marker_jumps_to_it(server, page):
    open_page(page, server + "/waveforms?streams=BV.ALPA.00.HHZ")
    q0 = query(page)
    box = plot_frame(page)
    x = box["x"] + (QUAKE_NS - T0_NS) / (4 * 3600 * NS) * box["width"]
    # The marker sits in the headroom above the top band: on its centre.
    y = page.evaluate(f"""() => {{ const m = ({JS_MODEL})('waveforms');
      const v = Bokeh.index.find_one(m); const r = m.renderers.find((r) => r.name === 'events');
      const top = v.canvas_view.el.getBoundingClientRect().top;
      return top + v.frame.y_scale.compute(r.glyph.y.value); }}""")
    assert box["y"] < y < box["y"] + 30
    page.mouse.click(x, y)
    q = wait_query_change(page, q0)
    assert q["from"] == format_time(QUAKE_NS - 60 * NS)


@pytest.mark.parametrize("params, message", [
    ("streams=XX.NOPE.*", "no stream matches 'XX.NOPE.*'"),
    ("from=yesterday-ish", "cannot read the time 'yesterday-ish'"),
    ("from=2024-03-01T03:00:00Z&to=2024-03-01T01:00:00Z", "is not before"),
    ("store=elsewhere", "store='elsewhere' is not served here"),
    ("filter=bandpass&fmin=5&fmax=2", "must be above fmin"),
])
def test_bad_parameters_show_a_message_not_a_traceback(server, page, params, message):
    open_page(page, server + "/waveforms?" + params)
    alert = page.get_by_text(message, exact=False)
    alert.first.wait_for(timeout=10000)
    assert alert.count() >= 1
    assert page.get_by_text("Traceback").count() == 0
    # The page still works: it falls back to a view of the data.
    assert colored_fraction(frame_pixels(page)) > 0.002
    if params.startswith("streams"):
        page.screenshot(path=f"{SHOTS}/bv_waveforms_bad.png", full_page=True)


def test_a_pasted_url_with_a_raw_question_mark_opens_its_view(server, page):
    # Browsers send a `?` inside a query value as it is; Panel alone fails on it (a 500).
    open_page(page, server + "/waveforms?streams=BV.ALPA.00.HH?&from=" + format_time(T0_NS))
    assert widget_value(page, "Streams") == ["BV.ALPA.00.HHN", "BV.ALPA.00.HHZ"]
    assert query(page)["streams"] == "BV.ALPA.00.HH?"
    assert colored_fraction(frame_pixels(page)) > 0.005
    assert page.get_by_text("Traceback").count() == 0


def test_server_keeps_serving_after_bad_requests(server, page):
    open_page(page, server + "/waveforms?from=nonsense&to=&streams=,,,")
    with urllib.request.urlopen(server + "/liveness", timeout=5) as r:
        assert r.status == 200
    open_page(page, server + "/waveforms")
    assert colored_fraction(frame_pixels(page)) > 0.005


def test_availability_page(server, page):
    open_page(page, server + "/availability")
    img = frame_pixels(page, "timeline", path=f"{SHOTS}/bv_availability_timeline.png")
    assert ink_fraction(img) > 0.3  # green bars fill most of the rows
    # The gap of ALPA HHZ is red in its row, the other rows have none.
    i = img.astype(np.int16)
    red = (i[..., 0] > 180) & (i[..., 1] < 200) & (i[..., 0] - i[..., 2] > 40)
    red_rows = np.flatnonzero(red.any(axis=1))
    assert len(red_rows) and red_rows.max() - red_rows.min() < img.shape[0] / 4
    assert page.get_by_text("2024-03-01T01:30:00Z").count() >= 1  # listed in the gap table
    assert page.get_by_text("30 min").count() >= 1
    cov = frame_pixels(page, "coverage")
    assert colored_fraction(cov) > 0.3
    page.screenshot(path=f"{SHOTS}/bv_availability.png", full_page=True)


def test_stations_page_and_link_to_waveforms(server, page):
    open_page(page, server + "/stations")
    img = frame_pixels(page, "map", path=f"{SHOTS}/bv_stations_map.png").astype(np.int16)
    blue = near_colour(img, (31, 78, 153), 40).sum()  # station triangles
    red = ((img[..., 0] > 200) & (img[..., 1] < 190) & (img[..., 2] < 190)).sum()  # epicentres
    assert blue > 3 * 60 and red > 2 * 30
    page.screenshot(path=f"{SHOTS}/bv_stations.png", full_page=True)
    page.get_by_role("link", name="BV.ALPA").click()
    page.wait_for_url("**/waveforms?streams=BV.ALPA.*")
    page.wait_for_selector("canvas")
    page.wait_for_function(
        "() => window.location.search.includes('from=')", timeout=15000)
    assert widget_value(page, "Streams") == ["BV.ALPA.00.HHN", "BV.ALPA.00.HHZ"]


def test_click_on_a_station_on_the_map_opens_its_waveforms(server, page):
    open_page(page, server + "/stations")
    pos = page.evaluate(f"""() => {{
      const m = ({JS_MODEL})('map'); const v = Bokeh.index.find_one(m);
      const c = v.canvas_view.el.getBoundingClientRect();
      return [c.left + v.frame.x_scale.compute(8.4), c.top + v.frame.y_scale.compute(46.2)];
    }}""")
    page.mouse.click(*pos)
    page.wait_for_url("**/waveforms?streams=BV.GAMA.*")
    page.wait_for_function("() => window.location.search.includes('from=')", timeout=15000)
    assert widget_value(page, "Streams") == ["BV.GAMA.00.BHZ"]


def test_overview_page(server, page):
    open_page(page, server + "/")
    page.screenshot(path=f"{SHOTS}/bv_overview.png", full_page=True)
    assert page.get_by_text("4 streams", exact=False).count() >= 1
    assert page.get_by_role("link", name="BV.GAMA.00.BHZ").count() == 1
    img = frame_pixels(page, "timeline")
    assert ink_fraction(img) > 0.3
    assert urlparse(page.url).path == "/"


def test_stations_map_draws_tiles_from_the_configured_url(tmp_path_factory, browser):
    """With --tile-url the browser (not the server) fetches map tiles from that URL."""
    requests: list[str] = []
    png = io.BytesIO()
    Image.new("RGB", (256, 256), (250, 200, 40)).save(png, format="PNG")
    tiles = static_http_server(png.getvalue(), "image/png",
                               {"Access-Control-Allow-Origin": "*"}, requests)
    url = f"http://127.0.0.1:{tiles.server_port}/{{Z}}/{{X}}/{{Y}}.png"
    store = build_store(str(tmp_path_factory.mktemp("tiles") / "demo.zarr"))
    try:
        with (served_dashboard([store], extra_args=("--tile-url", url)) as base,
              new_page(browser) as pg):
            open_page(pg, base + "/stations")
            pg.wait_for_timeout(1500)
            img = frame_pixels(pg, "map", path=f"{SHOTS}/bv_stations_tiles.png")
    finally:
        tiles.shutdown()
    assert requests and all(p.endswith(".png") for p in requests)
    yellow = near_colour(img, (250, 200, 40), 30).mean()
    assert yellow > 0.5, "the tiles are drawn under the stations"
