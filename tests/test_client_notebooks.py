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
    levels = texts[-1]
    assert "BV.ALPA.00.HHZ" in levels and "envelope L" in levels
