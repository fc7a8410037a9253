"""HoloViews views of a store: DynamicMaps of the dashboard's frames that re-read the pyramid
at the plot's resolution on every RangeXY event, rendered to Bokeh models, composed with
other elements, and served by `panel serve`."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import holoviews as hv
import numpy as np
import pytest
from browser import free_port
from test_dashboard_store import GAP_NS, QUAKE_NS, T0_NS, build_store

from belvedere import Client, open_store
from pipelines.timebase import NS

hv.extension("bokeh")
RENDERER = hv.renderer("bokeh")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> str:
    return build_store(str(tmp_path_factory.mktemp("views") / "test.zarr"))


def _image_renderer(fig):
    from bokeh.models import GlyphRenderer, ImageRGBA

    found = [r for r in fig.renderers
             if isinstance(r, GlyphRenderer) and isinstance(r.glyph, ImageRGBA)]
    assert len(found) == 1
    return found[0]


def _levels(dmap) -> list[int]:
    return [tr.window.level for tr in dmap.callback.callable.last.traces]


def test_a_stream_view_renders_to_a_bokeh_figure_of_one_image_at_plot_resolution(store_path):
    dmap = open_store(store_path)["BV.ALPA.00.HHZ"].view(width=600, height=150)
    assert isinstance(dmap, hv.DynamicMap)
    assert any(isinstance(s, hv.streams.RangeXY) for s in dmap.streams)
    fig = RENDERER.get_plot(dmap).state
    image = _image_renderer(fig).data_source.data["image"][0]
    assert image.shape == (150, 600)  # one frame column per plot pixel
    assert np.count_nonzero(image) > 600  # a trace is drawn in most columns
    frame = dmap.callback.callable.last
    assert (frame.t0_ns, frame.t1_ns) == (T0_NS, T0_NS + 4 * 3600 * NS)


def test_a_range_event_rereads_the_pyramid_at_the_new_resolution(store_path):
    store = open_store(store_path)
    dmap = store.view("BV.*.00.HHZ", width=800)
    plot = RENDERER.get_plot(dmap)
    source = _image_renderer(plot.state).data_source
    whole = _levels(dmap)
    before = source.data["image"][0].copy()
    assert min(whole) >= 2  # 4 h at 100 Hz over 800 px: envelopes of 256 samples
    t0 = np.datetime64(QUAKE_NS - 300 * NS, "ns")
    dmap.event(x_range=(t0, t0 + np.timedelta64(600, "s")))
    zoomed = _levels(dmap)
    assert all(z < w for z, w in zip(zoomed, whole, strict=True))
    assert dmap.callback.callable.last.t0_ns == QUAKE_NS - 300 * NS
    assert not np.array_equal(source.data["image"][0], before)  # the plot was redrawn
    dmap.event(x_range=(t0, t0 + np.timedelta64(4, "s")))
    assert _levels(dmap) == [0, 0]  # zoomed in to the samples themselves


def test_a_window_inside_a_gap_draws_nothing_for_that_stream(store_path):
    dmap = open_store(store_path)["BV.ALPA.00.HHZ"].view(width=300)
    RENDERER.get_plot(dmap)
    g0 = np.datetime64(GAP_NS[0] + 60 * NS, "ns")
    dmap.event(x_range=(g0, g0 + np.timedelta64(60, "s")))
    frame = dmap.callback.callable.last
    assert not frame.traces[0].present and not frame.image.any()


def test_views_compose_with_overlays_of_catalogue_events_and_layouts(store_path):
    from bokeh.models import GridPlot

    store = open_store(store_path)
    names = store.select("BV.*.00.HHZ")
    view = store.view(names, width=500)
    overlay = view * store.events_overlay(bands=len(names))
    fig = RENDERER.get_plot(overlay).state
    _image_renderer(fig)
    glyphs = {type(r.glyph).__name__: r for r in fig.renderers}
    assert set(glyphs) == {"ImageRGBA", "VSpan", "Text"}  # frames, event lines, magnitudes
    lines = glyphs["VSpan"].data_source.data
    xs = next(v for k, v in lines.items() if len(v) == 2)
    assert sorted(np.asarray(xs).astype("datetime64[ns]").astype(np.int64)) == sorted(
        e["time_ns"] for e in store.events())
    layout = store["BV.ALPA.00.HHZ"].view(width=300) + store["BV.GAMA.00.BHZ"].view(width=300)
    assert isinstance(layout, hv.Layout)
    assert isinstance(RENDERER.get_plot(layout).state, GridPlot)


def test_physical_units_and_a_client_view(store_path):
    dmap = Client(store_path).view("BV.ALPA.00.HHZ", units="physical")
    RENDERER.get_plot(dmap)
    assert dmap.callback.callable.last.traces[0].units == "m/s"


def test_a_panel_serve_script_serves_the_view(store_path, tmp_path):
    script = tmp_path / "app.py"
    script.write_text(
        "import panel as pn\n"
        "from belvedere import open_store\n"
        f"store = open_store({store_path!r})\n"
        "pn.panel(store.view('BV.*.00.HHZ', width=700)).servable()\n")
    port = free_port()
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "panel", "serve", str(script), "--port",
                             str(port), "--address", "127.0.0.1"],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        body = ""
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/app", timeout=60) as r:
                    body = r.read().decode()
                    assert r.status == 200
                break
            except OSError:
                time.sleep(0.5)
        assert "bokeh" in body.lower()
        text = log.read_text()
        assert "Traceback" not in text and "ERROR" not in text, text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
