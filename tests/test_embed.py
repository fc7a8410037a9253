"""Views in wiki iframes, light and dark, behind a path prefix; the Share control.

One server (`belvedere serve --prefix /bv`) and one Chromium serve the module. A plain "wiki"
page on another port embeds two views in iframes, as a wiki would.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest
from browser import (
    SHOTS,
    browser_marks,
    colored_mask,
    free_port,
    near_colour,
    new_page,
    open_page,
    png_array,
    serve_process,
    static_http_server,
    wait_drawn,
)
from PIL import Image
from test_dashboard_store import T0_NS, build_store

from pipelines.timebase import NS, format_time

pytestmark = browser_marks()

PREFIX = "/bv"
VIEWPORT = {"width": 1300, "height": 950}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`belvedere serve --prefix /bv` on the test store; yields http://127.0.0.1:PORT/bv."""
    store = build_store(str(tmp_path_factory.mktemp("embed") / "demo.zarr"))
    with serve_process(["--store", store, "--prefix", PREFIX], free_port(), PREFIX) as base:
        yield base


@pytest.fixture
def page(browser):
    with new_page(browser, VIEWPORT, accept_downloads=True) as pg:
        yield pg


def wiki_server(body: str):
    """A plain static web server on another port that serves `body` as /wiki.html."""
    return static_http_server(body.encode(), "text/html; charset=utf-8")


# -- tests --------------------------------------------------------------------------------
def test_wiki_page_shows_two_views_in_iframes(server, page):
    wave = (f"{server}/waveforms?streams=BV.ALPA.*&from={format_time(T0_NS)}"
            f"&to={format_time(T0_NS + 4 * 3600 * NS)}&embed=1")
    avail = f"{server}/availability?embed=1&theme=dark"
    body = f"""<!doctype html><html><head><title>Team wiki</title></head><body>
<h1>Station report</h1><p>Waveforms of ALPA:</p>
<iframe id="w" src="{wave}" width="900" height="420" style="border:0"></iframe>
<p>Availability:</p>
<iframe id="a" src="{avail}" width="900" height="420" style="border:0"></iframe>
</body></html>"""
    wiki = wiki_server(body)
    try:
        page.goto(f"http://127.0.0.1:{wiki.server_port}/wiki.html")
        # the wiki's own iframes (BokehJS may add an about:srcdoc frame inside one of them)
        frames = {f.name or f.url: f for f in page.frames if f.parent_frame == page.main_frame}
        assert len(frames) == 2
        for f in frames.values():
            wait_drawn(f, idle=True)
        page.wait_for_timeout(1200)  # the first frame at the iframe's real size arrives
        page.screenshot(path=f"{SHOTS}/bv_wiki.png", full_page=True)
        w = png_array(page.locator("#w").screenshot())
        a = png_array(page.locator("#a").screenshot())
    finally:
        wiki.shutdown()
    for f in frames.values():  # just the view: no page header inside the iframes
        assert f.locator(".bv-header").count() == 0
    # Waveforms (light): trace ink in both bands of the plot, filling the iframe's width.
    assert abs(w.shape[0] - 420) <= 1 and abs(w.shape[1] - 900) <= 1
    ink = colored_mask(w)
    rows = ink[:, 120:880].any(axis=1)
    assert rows[60:200].any() and rows[200:360].any(), "both bands drawn"
    assert ink[:, 120:880].any(axis=0).mean() > 0.9, "traces across the whole width"
    # Availability (dark): a dark frame with green data bars and the red gap.
    assert np.median(a) < 70, "dark background"
    green = (a[..., 1] > 100) & (a[..., 1] > a[..., 0] + 40)
    red = (a[..., 0] > 90) & (a[..., 0] > a[..., 1] + 30)
    assert green.mean() > 0.05 and red.sum() > 200
    assert not page.console_errors


def test_embed_themes_light_and_dark(server, page):
    url = f"{server}/waveforms?streams=BV.ALPA.00.HHZ,BV.BETA.00.HHZ&embed=1"
    shots = {}
    for theme in ("light", "dark"):
        page.set_viewport_size({"width": 900, "height": 450})
        open_page(page, f"{url}&theme={theme}", idle=True, settle_ms=1200)
        shots[theme] = png_array(page.screenshot(path=f"{SHOTS}/bv_embed_{theme}.png"))
        assert page.locator(".bv-header").count() == 0
        assert page.get_by_role("button", name="Share", exact=True).count() == 0
    light, dark = shots["light"], shots["dark"]
    assert np.median(light) > 230 and np.median(dark) < 50
    # The trace colours on dark are light tints, readable: bright and saturated pixels.
    d = dark.astype(np.int16)
    bright_colour = (d.max(-1) > 150) & colored_mask(dark)
    assert bright_colour.mean() > 0.003
    # ...and the light view's traces are dark-toned colours (the standard palette).
    assert (colored_mask(light) & (light.max(-1) < 200)).mean() > 0.003
    # The plot fills the iframe: ink reaches near its bottom (axis) and right edge.
    ink = np.abs(d - d[5, 5]).max(-1) > 40
    assert ink[380:, :].any() and ink[:, 850:].any()


def test_share_panel_links_snippet_and_downloads(server, page, tmp_path):
    open_page(page, f"{server}/waveforms?streams=BV.ALPA.*&from=now-7d&to=now", idle=True,
              settle_ms=0)
    page.get_by_role("button", name="Share", exact=True).click()
    link = page.get_by_label("Link (times as typed")
    link.wait_for(timeout=10000)
    page.wait_for_function("""() => { for (const d of Bokeh.documents) for (const m of d.all_models)
      if (m.title === 'Iframe for a wiki page (embed=1)') return m.value.length > 0;
      return false; }""", timeout=10000)
    values = page.evaluate("""() => { const out = {};
      for (const d of Bokeh.documents) for (const m of d.all_models)
        if (typeof m.title === 'string' && typeof m.value === 'string') out[m.title] = m.value;
      return out; }""")
    page.screenshot(path=f"{SHOTS}/bv_share.png", full_page=True)
    rel = values["Link (times as typed: now-6h stays relative)"]
    locked = values["Link locked to these absolute times"]
    snippet = values["Iframe for a wiki page (embed=1)"]
    assert rel.startswith(server + "/waveforms?") and "from=now-7d" in rel and "to=now" in rel
    assert locked.startswith(server + "/waveforms?") and "now" not in locked.split("?")[1]
    assert "from=20" in locked
    assert snippet.startswith("<iframe src=\"" + server + "/waveforms?")
    assert "embed=1" in snippet and "</iframe>" in snippet
    # Dark iframe snippet on request.
    page.get_by_role("button", name="dark", exact=True).click()
    page.wait_for_function("""() => { for (const d of Bokeh.documents) for (const m of d.all_models)
      if (m.title === 'Iframe for a wiki page (embed=1)') return m.value.includes('theme=dark');
      return false; }""", timeout=10000)
    # PNG of the plot, drawn by the browser.
    with page.expect_download() as dl:
        page.get_by_role("button", name="PNG of the plot").click()
    png = tmp_path / "plot.png"
    dl.value.save_as(png)
    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape[1] > 800 and img.shape[0] > 150
    # The HTML snapshot link: a self-contained file from the server's snapshot route.
    with page.expect_download(timeout=60000) as dl:
        page.get_by_text("Snapshot (HTML").click()
    html_path = tmp_path / "snap.html"
    dl.value.save_as(html_path)
    text = html_path.read_text()
    assert dl.value.suggested_filename.startswith("belvedere-waveforms")
    meta = json.loads(text.split('id="belvedere-snapshot">', 1)[1].split("</script>", 1)[0]
                      .replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    assert meta["streams"] == ["BV.ALPA.00.HHN", "BV.ALPA.00.HHZ"] and meta["store"] == "demo.zarr"
    assert not page.console_errors


def test_prefix_routes_and_snapshot_route_errors(server):
    with urllib.request.urlopen(server + "/liveness", timeout=5) as r:
        assert r.status == 200
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(server + "/snapshot/waveforms.html?streams=XX.*", timeout=30)
    assert exc.value.code == 400
    assert "no stream matches 'XX.*'" in exc.value.read().decode()
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(server + "/snapshot/nope.html", timeout=30)
    assert exc.value.code == 400 and "unknown view 'nope'" in exc.value.read().decode()
    # Without the prefix nothing is served: the proxy maps /bv/ to this server.
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(server.replace(PREFIX, "") + "/waveforms", timeout=5)
    assert exc.value.code == 404


def test_every_page_has_a_share_control_and_an_embed_mode(server, page):
    for path, name in (("/", "timeline"), ("/availability", "timeline"),
                       ("/stations", "map")):
        open_page(page, server + path, idle=True, settle_ms=0)
        assert page.get_by_role("button", name="Share", exact=True).count() == 1
        assert page.locator(".bv-header").count() == 1
        open_page(page, server + path + "?embed=1", idle=True, settle_ms=0)
        assert page.get_by_role("button", name="Share", exact=True).count() == 0
        assert page.locator(".bv-header").count() == 0
        found = page.evaluate(f"""() => Bokeh.documents.some(
            (d) => d.get_model_by_name('{name}') != null)""")
        assert found, f"{path}: the view's plot is in the embedded page"
    page.wait_for_timeout(500)
    img = png_array(page.screenshot())  # the stations map, embedded
    blue = near_colour(img, (31, 78, 153), 40).sum()  # station triangles
    assert blue > 3 * 60
