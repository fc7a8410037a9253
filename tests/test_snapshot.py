"""`belvedere snapshot`: the offline HTML (opened from file:// with every request refused,
drawn and zoomable to finer detail), PNG export at a requested size, snapshots of a served
URL, and clear failures for bad requests.

One server (for the URL cases) and one Chromium serve the module.
"""

from __future__ import annotations

import html
import io
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from browser import served_dashboard, skip_reason
from conftest import run_cli
from PIL import Image
from test_dashboard_store import QUAKE_NS, T0_NS, build_store

from dashboard.snapshot import SnapshotError, split_url, view_of_path
from pipelines.timebase import NS, format_time

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(skip_reason() is not None, reason=str(skip_reason()))]

FROM, TO = format_time(T0_NS), format_time(T0_NS + 4 * 3600 * NS)
SHOTS = "/tmp"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return build_store(str(tmp_path_factory.mktemp("snap") / "demo.zarr"))


@pytest.fixture(scope="module")
def server(store):
    with served_dashboard([store]) as base:
        yield base


@pytest.fixture(scope="module")
def snapshot_html(store, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("out") / "view.html"
    r = run_cli("snapshot", "--store", store, "--view", "waveforms", "--streams", "BV.*",
                "--from", FROM, "--to", TO, "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "MB" in r.stdout
    return str(out)


class Tags(HTMLParser):
    """The elements of a page (not the text inside scripts) and their src/href values."""

    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.names: set[str] = set()
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.names.add(tag)
        self.scripts += tag == "script"
        self.refs += [v or "" for k, v in attrs if k in ("src", "href")]


def meta_of(text: str) -> dict:
    """The JSON record a snapshot keeps of what it shows."""
    block = text.split('id="belvedere-snapshot">', 1)[1].split("</script>", 1)[0]
    return json.loads(html.unescape(block))


def open_offline(browser, path: str, viewport=(1200, 700)):
    """Open a file in a fresh page that refuses every request except file: and data:."""
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = ctx.new_page()
    page.refused, page.errors = [], []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            page.refused.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto("file://" + path)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                           "Bokeh.documents.every((d) => d.is_idle)", timeout=30000)
    page.wait_for_selector("canvas")
    page.wait_for_timeout(500)
    return page


def frame_pixels(page, path: str | None = None) -> np.ndarray:
    """The data frame of the snapshot's waveform plot as an (h, w, 3) array."""
    box = page.evaluate("""() => {
      const m = Bokeh.documents[0].get_model_by_name('waveforms');
      const v = Bokeh.index.find_one(m); const c = v.canvas_view.el.getBoundingClientRect();
      const b = v.frame.bbox;
      return {x: c.left + b.x0, y: c.top + b.y0, width: b.x1 - b.x0, height: b.y1 - b.y0}; }""")
    png = page.screenshot(clip=box, path=path)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), box


def ink(img: np.ndarray) -> np.ndarray:
    """Trace pixels: clearly coloured (not white, grey or black)."""
    i = img.astype(np.int16)
    return (i.max(-1) - i.min(-1)) > 60


# -- unit ---------------------------------------------------------------------------------
def test_urls_map_to_views():
    root, view, args = split_url("http://h:5006/bv/waveforms?streams=BV.*&from=now-6h&to=now")
    assert (root, view) == ("http://h:5006/bv/", "waveforms")
    assert args == {"streams": "BV.*", "from": "now-6h", "to": "now"}
    assert split_url("http://h:5006/")[:2] == ("http://h:5006/", "overview")
    assert view_of_path("/availability") == "availability"
    with pytest.raises(SnapshotError, match="unknown view 'nope'"):
        view_of_path("/nope")
    with pytest.raises(SnapshotError, match="not a dashboard URL"):
        split_url("file:///tmp/x.html")


# -- HTML ---------------------------------------------------------------------------------
def test_html_is_self_contained_and_records_what_it_shows(snapshot_html, store):
    text = open(snapshot_html).read()
    size = len(text.encode())
    assert size < 3e6, f"{size / 1e6:.2f} MB"
    # Nothing to fetch: no element with a src or href other than inline data, no <link>.
    tags = Tags()
    tags.feed(text)
    assert tags.scripts >= 2, "BokehJS is inline"
    assert all(r.startswith(("data:", "#")) for r in tags.refs), tags.refs
    assert "link" not in tags.names
    meta = meta_of(text)
    assert meta["view"] == "waveforms" and meta["store"] == "demo.zarr"
    assert meta["store_url"].endswith("demo.zarr")
    assert meta["streams"] == ["BV.ALPA.00.HHN", "BV.ALPA.00.HHZ", "BV.BETA.00.HHZ",
                               "BV.GAMA.00.BHZ"]
    assert meta["from"] == FROM and meta["to"] == TO
    assert meta["exported"].startswith("20") and meta["version"]
    assert len(meta["levels"]) == 3  # the whole range, then 4 and 16 finer tiles


def test_offline_snapshot_draws_and_zoom_shows_finer_detail(snapshot_html, browser):
    page = open_offline(browser, snapshot_html)
    before, box = frame_pixels(page, f"{SHOTS}/bv_snapshot_offline.png")
    assert ink(before).mean() > 0.005, "traces drawn"
    rows = ink(before).any(axis=1)
    assert all(b.any() for b in np.array_split(rows, 4)), "four bands"
    assert page.get_by_text("Belvedere snapshot").count() == 1
    level = "() => Bokeh.documents[0].get_model_by_name('snapshot-status').tags[0] ?? 0"
    assert page.evaluate(level) == 0
    # Zoom in around the earthquake with the wheel: the finest tiles replace the whole-range
    # image, and the earthquake's coda is resolved in far more columns.
    x = box["x"] + (QUAKE_NS - T0_NS) / (4 * 3600 * NS) * box["width"]
    page.mouse.move(x, box["y"] + box["height"] / 2)
    for _ in range(8):
        page.mouse.wheel(0, -500)
        page.wait_for_timeout(120)
    page.wait_for_function(f"() => ({level})() == 2", timeout=10000)
    page.wait_for_timeout(800)
    after, _ = frame_pixels(page, f"{SHOTS}/bv_snapshot_offline_zoomed.png")
    page.screenshot(path=f"{SHOTS}/bv_snapshot_offline_page.png", full_page=True)
    start, end = page.evaluate("""() => { const m = Bokeh.documents[0]
      .get_model_by_name('waveforms'); return [m.x_range.start, m.x_range.end]; }""")
    assert end - start < 4 * 3600e3 / 20, "zoomed in more than 20x"
    assert ink(after).mean() > 0.005, "traces still drawn"
    # At this zoom the whole-range image would have ~1/20 of the columns it now has inked in
    # the earthquake's bands: finer detail is really there.
    tall = (ink(after).sum(axis=0) > 0.3 * after.shape[0] / 4)
    assert tall.sum() > 30, "the coda spans many resolved columns"
    detail = page.evaluate("() => Bokeh.documents[0].get_model_by_name('detail').data.url.length")
    assert 1 <= detail <= 3
    assert page.refused == [] and page.errors == []
    page.context.close()


def test_offline_snapshot_of_other_views(store, browser, tmp_path):
    for view, name in (("availability", "timeline"), ("stations", "map")):
        out = tmp_path / f"{view}.html"
        r = run_cli("snapshot", "--store", store, "--view", view, "-o", str(out))
        assert r.returncode == 0, r.stderr
        page = open_offline(browser, str(out))
        assert page.evaluate(f"() => Bokeh.documents[0].get_model_by_name('{name}') != null")
        shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))
        assert ink(shot).mean() > 0.0005 and page.refused == []
        page.context.close()


# -- PNG ----------------------------------------------------------------------------------
def test_png_from_the_store_has_the_requested_size(store, tmp_path):
    out = tmp_path / "view.png"
    r = run_cli("snapshot", "--store", store, "--view", "waveforms", "--streams", "BV.ALPA.*",
                "--from", FROM, "--to", TO, "-o", str(out), "--width", "800", "--height",
                "500", "--scale", "2", "--theme", "dark")
    assert r.returncode == 0, r.stderr
    img = np.asarray(Image.open(out).convert("RGB"))
    Image.fromarray(img).save(f"{SHOTS}/bv_snapshot_dark.png")
    assert img.shape == (1000, 1600, 3)
    assert np.median(img) < 60, "dark theme"
    bright = ink(img) & (img.max(-1) > 150)
    assert bright.mean() > 0.003, "light trace colours on the dark plot"


def test_png_of_a_served_url_matches_the_page(server, tmp_path):
    out = tmp_path / "served.png"
    url = f"{server}/waveforms?streams=BV.ALPA.00.HHZ&from={FROM}&to={TO}"
    r = run_cli("snapshot", url, "-o", str(out), "--width", "900", "--height", "400")
    assert r.returncode == 0, r.stderr
    img = np.asarray(Image.open(out).convert("RGB"))
    Image.fromarray(img).save(f"{SHOTS}/bv_snapshot_served.png")
    assert img.shape == (400, 900, 3)
    cols = ink(img).any(axis=0)
    # One trace across the plot, with the 30 min gap (1:30-2:00) left open.
    assert cols[150:880].mean() > 0.7
    blue_or_red = ink(img)
    gap = slice(int(110 + 0.375 * 770) + 8, int(110 + 0.5 * 770) - 8)
    assert blue_or_red[:, gap].sum() < blue_or_red[:, 150:250].sum() / 5


def test_html_of_a_served_url_comes_from_the_server(server, tmp_path):
    out = tmp_path / "served.html"
    url = f"{server}/waveforms?streams=BV.GAMA.*&from={FROM}&to={TO}"
    r = run_cli("snapshot", url, "-o", str(out))
    assert r.returncode == 0, r.stderr
    meta = meta_of(out.read_text())
    assert meta["streams"] == ["BV.GAMA.00.BHZ"] and meta["from"] == FROM


# -- bad requests -------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["http://127.0.0.1:9/nope?x=1", "-o", "{tmp}/a.html"], "unknown view 'nope'"),
    (["--store", "{tmp}/missing.zarr", "-o", "{tmp}/a.html"], "cannot open the store"),
    (["--store", "{store}", "-o", "{tmp}/no/such/folder/a.html"], "does not exist"),
    (["--store", "{store}", "-o", "{tmp}/a.pdf"], "give a file ending in .html or .png"),
    (["--store", "{store}", "-o", "/proc/a.html"], "not writable"),
    (["--store", "{store}", "--view", "spectra", "-o", "{tmp}/a.html"], "unknown view"),
    (["--store", "{store}", "--streams", "XX.*", "-o", "{tmp}/a.html"],
     "no stream matches 'XX.*'"),
    (["http://127.0.0.1:9/waveforms", "-o", "{tmp}/a.html"], "cannot reach the dashboard"),
])
def test_bad_requests_fail_with_a_clear_message(store, tmp_path, args, message):
    args = [a.format(tmp=tmp_path, store=store) for a in args]
    r = run_cli("snapshot", *args)
    assert r.returncode == 2
    assert message in " ".join(r.stderr.split()), r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "a.html").exists()
