"""Immutable Bokeh defaults kept per class (dashboard.model_defaults) build the same pages."""

from __future__ import annotations

import json
import re

import panel as pn
import pytest
from bokeh.document import Document
from bokeh.models import GlyphRenderer, Plot, Range1d
from bokeh.protocol import Protocol
from panel.io.state import set_curdoc
from test_dashboard_store import build_store

from dashboard import model_defaults
from dashboard.server import build_app
from pipelines.store import open_store


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    store = open_store(build_store(str(tmp_path_factory.mktemp("defaults") / "s.zarr")))
    return build_app([store.url])


def document_json(factory) -> str:
    """The page's whole document as the browser receives it, model ids numbered in order of
    appearance (they count up across builds)."""
    doc = Document()
    with set_curdoc(doc):
        pn.panel(factory()).server_doc(doc, title="t")
    msg = Protocol().create("PULL-DOC-REPLY", "1", doc)
    text = json.dumps(json.loads(msg.content_json), sort_keys=True)
    text += "".join(bytes(b.data).hex() for b in msg.buffers)
    ids: dict[str, str] = {}
    # ids as values ("p12") and inside Panel's references ("__ref:p12")
    text = re.sub(r'(?<=[":])p\d+(?=")', lambda m: ids.setdefault(m.group(), f"id{len(ids)}"),
                  text)
    text = re.sub(r'"([A-Z][A-Za-z]+)\d{5}"', r'"\1"', text)  # Panel's names count up too
    return re.sub(r"\b\d{12,}\b", "id()", text)  # and it sends Python's id() of objects


@pytest.mark.parametrize("route", ["/", "/waveforms", "/helicorder", "/stations"])
def test_pages_serialise_the_same_with_kept_defaults(app, route):
    model_defaults.uninstall()
    try:
        bokeh_own = document_json(app[route])
        model_defaults.install()
        kept = document_json(app[route])
        again = document_json(app[route])  # read from what was kept this time
    finally:
        model_defaults.uninstall()
    assert len(bokeh_own) > 10_000
    assert kept == bokeh_own
    assert again == bokeh_own


def test_kept_defaults_are_per_class_and_only_immutable():
    model_defaults.install()
    try:
        a, b = Range1d(), Range1d(start=5)
        assert a.start == 0 and b.start == 5  # a value set wins over the kept default
        # Containers stay each model's own: changing one does not change another's.
        p, q = Plot(), Plot()
        p.renderers.append(GlyphRenderer())
        assert q.renderers == []
        kept = model_defaults._KEPT
        assert (Range1d, "start") in kept
        assert all(model_defaults._immutable(v) for v in kept.values())
        assert (Plot, "renderers") not in kept
    finally:
        model_defaults.uninstall()
    assert not model_defaults._KEPT
