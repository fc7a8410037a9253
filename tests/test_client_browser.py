"""A notebook view served by `panel serve` in headless Chromium: a mouse-wheel zoom makes the
DynamicMap read the pyramid at a finer level and the plot's pixels change."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from browser import (
    browser_marks,
    colored_fraction,
    free_port,
    new_page,
    png_array,
    wait_drawn,
    wait_until,
)
from test_dashboard_store import build_store

pytestmark = browser_marks()

APP = """
import holoviews as hv
import panel as pn
from belvedere import open_store

store = open_store({store!r})
dmap = store.view("BV.*.00.HHZ", width=900)
source = dmap.callback.callable
status = pn.pane.Str("no frame yet", name="status")

def show():
    if source.last is not None:
        status.object = "levels: " + " | ".join(t.label for t in source.last.traces)

pn.state.add_periodic_callback(show, period=200)
pn.Column(dmap, status).servable()
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("nbview")
    store = build_store(str(base / "test.zarr"))
    script = base / "app.py"
    script.write_text(APP.format(store=store))
    port = free_port()
    log = open(base / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "panel", "serve", str(script), "--port",
                             str(port), "--address", "127.0.0.1"], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        import urllib.request

        def up() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/app", timeout=30) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_until(up, 120, "panel serve did not answer")
        yield f"http://127.0.0.1:{port}/app"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_wheel_zoom_redraws_the_served_view_at_a_finer_level(served, browser):
    with new_page(browser) as page:
        page.goto(served)
        wait_drawn(page, idle=True, timeout_ms=60000)
        status = page.get_by_text("levels:")
        status.wait_for(timeout=30000)
        before_text = status.inner_text()
        canvas = page.locator("canvas").first
        before = png_array(canvas.screenshot())
        assert colored_fraction(before) > 0.005  # traces are drawn
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + 0.62 * box["width"], box["y"] + box["height"] / 2)
        for _ in range(6):
            page.mouse.wheel(0, -500)
            page.wait_for_timeout(150)
        for _ in range(150):  # the status is in Panel's shadow DOM: poll it from here
            if status.inner_text() != before_text:
                break
            page.wait_for_timeout(200)
        page.wait_for_timeout(800)  # the new frame arrives with the level; let it paint
        after_text = status.inner_text()
        after = png_array(canvas.screenshot())
        lv = [int(x.split("L")[-1]) if "envelope L" in x else 0
              for x in before_text.split("|")]
        lv2 = [int(x.split("L")[-1]) if "envelope L" in x else 0
               for x in after_text.split("|")]
        assert all(b < a for a, b in zip(lv, lv2, strict=True)), (before_text, after_text)
        diff = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(-1) > 40
        assert diff.mean() > 0.02, "the drawn pixels changed"
        assert not page.console_errors
