"""The seismic example notebook, executed headless with nbclient on a small store: its outputs
hold an ObsPy Stream, an Inventory, a Catalog, a DataTree and a rendered DynamicMap."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
from test_dashboard_store import build_store

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def _execute_module():
    spec = importlib.util.spec_from_file_location("examples_execute", EXAMPLES / "execute.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _texts(nb) -> list[str]:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                raise AssertionError(f"{o['ename']}: {o['evalue']}")
            out.append(str(o.get("text") or o.get("data", {}).get("text/plain", "")))
    return out


@pytest.mark.slow
def test_the_seismic_notebook_runs_under_nbclient_and_holds_the_expected_objects(
        tmp_path, monkeypatch):
    store = build_store(str(tmp_path / "test.zarr"))
    nb_path = tmp_path / "seismic.ipynb"
    shutil.copyfile(EXAMPLES / "seismic.ipynb", nb_path)
    monkeypatch.setenv("BELVEDERE_STORE", store)
    # The kernel is a new process: it finds this checkout the way the tests do.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")]))
    nb = _execute_module().execute(nb_path, timeout=240)
    texts = _texts(nb)
    joined = "\n".join(texts)
    assert "Trace(s) in Stream:\nBV.ALPA.00.HHN" in joined
    assert "Inventory created at" in joined and "BV.ALPA" in joined
    assert "1 Event(s) in Catalog" in joined  # minmagnitude=2: the M4.2, not the M1.1
    assert "<xarray.DataArray 'data'" in joined
    assert "['BV.ALPA.00.HHN', 'BV.ALPA.00.HHZ']" in joined  # the DataTree's nodes
    rendered = [o for c in nb.cells for o in c.get("outputs", [])
                if "application/vnd.holoviews_exec.v0+json" in o.get("data", {})]
    assert rendered  # the DynamicMap was rendered to a Bokeh document
    levels = next(t for t in texts if "envelope L" in t)
    assert "BV.ALPA.00.HHZ" in levels
    # the noise section: ObsPy's IU.ANMO day ingested, its PSDs computed by the commands,
    # and the spectrogram read at its 30-minute rows (48 in the day)
    assert "psd: 1 tasks computed" in joined
    assert ":Image   [time,period]" in joined
    assert "step_ns=1800000000000, rows=48" in texts[-1]


@pytest.mark.slow
def test_the_usage_notebook_draws_its_dynamicmaps_from_the_store(tmp_path, monkeypatch):
    from pipelines.demo.usage import generate_usage
    from pipelines.timebase import parse_time
    from pipelines.usage.costs import usage_run_hook

    demo = tmp_path / "demo"
    usage = generate_usage(str(demo / "usage-small.zarr"), parse_time("2024-03-01"), days=10,
                           n_jobs=500, nodes=4)
    monkeypatch.setenv("BELVEDERE_USAGE_STORE", usage)
    usage_run_hook("seismic", "an archive")(1000, 4000, False)  # as an ingest records itself
    nb_path = tmp_path / "usage.ipynb"
    shutil.copyfile(EXAMPLES / "usage.ipynb", nb_path)
    monkeypatch.setenv("BELVEDERE_DEMO_DIR", str(demo))
    monkeypatch.setenv("BELVEDERE_DEMO_SIZE", "small")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")]))
    nb = _execute_module().execute(nb_path, timeout=240)
    joined = "\n".join(_texts(nb))
    assert "bin_name='6 hours'" in joined  # ten days of jobs: bars of 6 hours
    assert "MetricFrame(" in joined and "level=1" in joined  # 14,400 minutes: means of 16
    assert ":Rectangles   [time,y0,x1,y1]" in joined
    assert ":Scatter   [started]   (seconds)" in joined  # the recorded run
