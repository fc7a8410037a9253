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


# -- noise: the PSD spectrogram -----------------------------------------------------------
DAYS = 3


@pytest.fixture(scope="module")
def noise_stores(tmp_path_factory):
    """Three days of real Steim2 white noise with a flat StationXML, ingested and analysed by
    `belvedere ingest seismic` and `belvedere analyse psd`, which record their runs in a
    usage store of synthetic jobs and node metrics: (store, usage store)."""
    import os
    from pathlib import Path

    from analysis_archive import DAY0, flat_inventory, write_archive

    from pipelines.demo.usage import generate_usage

    base = tmp_path_factory.mktemp("noise")
    # ten days of jobs: hours per 6 hours when whole, per hour zoomed in
    usage = generate_usage(str(base / "usage.zarr"), DAY0.ns, days=10, n_jobs=600, nodes=6)
    write_archive(base / "sds", channels=("XX.WHT.00.HHZ",), rate=10.0, days=DAYS,
                  bursts_s=())
    xml = flat_inventory(base / "flat.xml", ["XX.WHT.00.HHZ"], 10.0)
    store = str(base / "noise.zarr")
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "BELVEDERE_USAGE_STORE": usage,
           "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    for args in (["ingest", "seismic", str(base / "sds"), "--inventory", str(xml)],
                 ["analyse", "psd"]):
        done = subprocess.run([sys.executable, "-m", "belvedere", *args, "--store", store],
                              cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    assert f"{DAYS} tasks computed" in done.stdout + done.stderr
    return store, usage


def _glyph(fig, name: str):
    found = [r for r in fig.renderers if type(r.glyph).__name__ == name]
    assert len(found) == 1, [type(r.glyph).__name__ for r in fig.renderers]
    return found[0]


def test_the_psd_view_reads_the_daily_level_wide_and_the_30_minute_rows_zoomed_in(
        noise_stores):
    from pipelines.store import PSD_STEP_NS, open_psd

    store = open_store(noise_stores[0])
    dmap = store.psd_view("XX.WHT.00.HHZ", width=100)  # 144 rows would not fit: daily
    fig = RENDERER.get_plot(dmap).state
    source = _glyph(fig, "Image").data_source
    frame = dmap.callback.callable.last
    assert frame.level == "daily" and frame.rows == DAYS
    wide = source.data["image"][0]
    assert wide.shape == (frame.periods, DAYS) and np.isfinite(wide).mean() > 0.9
    day1 = frame.t0_ns + 86400 * NS
    dmap.event(x_range=(np.datetime64(day1, "ns"), np.datetime64(day1 + 86400 * NS, "ns")))
    frame = dmap.callback.callable.last
    assert frame.level == "hourly" and frame.rows == 48
    zoomed = source.data["image"][0]
    assert zoomed.shape == (frame.periods, 48)  # the plot was redrawn at the finer level
    # the pixels are the stored PSDs (Bokeh's image rows go bottom up: shortest period first)
    _t, _p, db, step = open_psd(store, "XX.WHT.00.HHZ").read(day1, day1 + 86400 * NS)
    assert step == PSD_STEP_NS
    np.testing.assert_allclose(zoomed.T, db, equal_nan=True)


def test_the_psd_view_shares_its_time_axis_with_the_waveform_view_in_a_layout(noise_stores):
    from bokeh.models import GridPlot

    store = open_store(noise_stores[0])
    layout = store["XX.WHT.00.HHZ"].view(width=400) + store.psd_view("XX.WHT.00.HHZ",
                                                                      width=400)
    grid = RENDERER.get_plot(layout.cols(1)).state
    assert isinstance(grid, GridPlot)
    figs = [child[0] for child in grid.children]
    assert {type(r.glyph).__name__ for f in figs for r in f.renderers} == {"ImageRGBA",
                                                                          "Image"}
    assert figs[0].x_range is figs[1].x_range  # a zoom in one zooms the other


def test_a_stream_without_psds_says_how_to_compute_them(store_path):
    with pytest.raises(ValueError, match="belvedere analyse psd BV.ALPA.00.HHZ"):
        open_store(store_path).psd_view("BV.ALPA.00.HHZ")


# -- usage: metric heatmap, jobs per bin, queue, runs -------------------------------------
def test_the_metric_view_reads_the_pyramid_at_the_plot_resolution(noise_stores):
    from belvedere import open_usage

    usage = open_usage(noise_stores[1])
    metric = usage.metric("node_cpu")
    dmap = usage.view("node_cpu", width=300)
    fig = RENDERER.get_plot(dmap).state
    source = _glyph(fig, "Image").data_source
    frame = dmap.callback.callable.last
    n = len(metric.series)
    assert source.data["image"][0].shape == (n, 300)
    assert frame.level == 1  # 10 days of minutes (14,400) over 300 px: means of 16
    t0 = int(metric.times()[600])
    dmap.event(x_range=(np.datetime64(t0, "ns"), np.datetime64(t0 + 3 * 3600 * NS, "ns")))
    frame = dmap.callback.callable.last
    assert frame.level == 0 and frame.buckets == 180  # the raw minutes
    grid = source.data["image"][0]  # Bokeh's rows go bottom up: row 0 is the first series
    raw = metric.values(t0, t0 + 3 * 3600 * NS)
    np.testing.assert_allclose(np.nanmean(grid, axis=1), np.nanmean(raw, axis=1), rtol=0.02)
    with pytest.raises(ValueError, match="it holds node_cpu"):
        usage.view("gpu_power")


def test_the_jobs_view_rebins_on_zoom_and_sums_as_the_resources_page(noise_stores):
    from belvedere import open_usage
    from dashboard.notebook_usage import bin_edges
    from dashboard.pages.resources import JOB_COLUMNS
    from pipelines.usage import aggregate

    usage = open_usage(noise_stores[1])
    dmap = usage.jobs_view("user", top=3, width=500)
    plot = RENDERER.get_plot(dmap)
    wide = dmap.callback.callable.last
    legend = [item.label["value"] for item in plot.state.legend[0].items]
    assert len(legend) == 4 and legend[-1] == "other"
    t0 = wide.t0_ns + 86400 * NS
    dmap.event(x_range=(np.datetime64(t0, "ns"), np.datetime64(t0 + 12 * 3600 * NS, "ns")))
    zoomed = dmap.callback.callable.last
    assert zoomed.bin_ns < wide.bin_ns and zoomed.bin_name == "hour"
    assert [item.label["value"] for item in plot.state.legend[0].items] == legend
    tops = [r.data_source.data for r in plot.state.renderers
            if type(r.glyph).__name__ == "Quad"]
    drawn = sum(float(np.sum(np.asarray(d["top"]) - np.asarray(d["bottom"]))) for d in tops)
    a, b = bin_edges(t0, t0 + 12 * 3600 * NS, zoomed.bin_ns)
    assert (b - a) // zoomed.bin_ns == 13  # the hours the half day touches
    jobs = usage.jobs(JOB_COLUMNS, a, b)
    want = aggregate.usage_over_time(jobs, a, b - zoomed.bin_ns, zoomed.bin_ns, by="user",
                                     top=99, now_ns=b).to_numpy().sum()
    assert want > 0 and drawn == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="choose one of"):
        usage.jobs_view("colour")


def test_queue_and_runs_views_render_and_compose(noise_stores):
    from bokeh.models import GridPlot

    from belvedere import open_usage

    usage = open_usage(noise_stores[1])
    layout = usage.jobs_view(width=400) + usage.queue_view(width=400)
    grid = RENDERER.get_plot(layout.cols(1)).state
    assert isinstance(grid, GridPlot)
    figs = [child[0] for child in grid.children]
    assert figs[0].x_range is figs[1].x_range
    steps = [r for r in figs[1].renderers if type(r.glyph).__name__ == "Step"
             or type(r.glyph).__name__ == "Line"]
    assert len(steps) == 2 and max(steps[0].data_source.data["jobs"]) > 0
    runs = RENDERER.get_plot(usage.runs_view()).state
    kinds = {item.label["value"] for item in runs.legend[0].items}
    assert {"seismic", "analyse-psd"} <= kinds  # the ingest and the analysis recorded their cost
