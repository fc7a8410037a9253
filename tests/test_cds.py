"""Column data sources are sent to the browser only when their columns change."""

from __future__ import annotations

import numpy as np
from bokeh.document import Document
from bokeh.models import ColumnDataSource

from dashboard.cds import same_columns, set_data


def test_set_data_sends_nothing_for_the_same_columns():
    doc = Document()
    src = ColumnDataSource({"x": [1.0, 2.0], "text": ["a", "b"]})
    doc.add_root(src)
    sent = []
    doc.on_change(lambda event: sent.append(event))
    assert not set_data(src, {"x": [1.0, 2.0], "text": ["a", "b"]})
    assert not sent
    assert set_data(src, {"x": [1.0, 2.5], "text": ["a", "b"]})
    assert len(sent) == 1 and src.data["x"] == [1.0, 2.5]
    assert set_data(src, {"x": [1.0, 2.5]})  # a column less is a change
    assert set_data(src, {"x": [], "y": []}) and not set_data(src, {"x": [], "y": []})


def test_same_columns_compares_arrays_by_value_shape_and_type():
    a = np.arange(5, dtype=float)
    assert same_columns({"x": a}, {"x": a.copy()})
    assert not same_columns({"x": a}, {"x": a[:4]})
    assert not same_columns({"x": a}, {"x": a.astype(np.float32)})
    assert not same_columns({"x": a}, {"x": a + 1})
    assert same_columns({"x": [1, 2]}, {"x": [1, 2]}) and not same_columns({"x": [1]}, {"y": [1]})
    # lists of arrays (image columns) cannot be compared with ==: a change, never an error
    assert not same_columns({"image": [a]}, {"image": [a.copy()]})
