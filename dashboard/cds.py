"""Column data sources changed only when their columns change.

Every assignment to `ColumnDataSource.data` is a message to the browser, which then
recomputes the glyphs and repaints the plot, even when the columns are the same (a frame's
marks and badges mostly are: the same picks, no badges). `set_data` compares first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # lists holding arrays: compare as different
        return False


def same_columns(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """True when two column mappings hold the same columns with equal values."""
    return old.keys() == new.keys() and all(_same(old[k], new[k]) for k in new)


def set_data(src: Any, data: Mapping[str, Any]) -> bool:
    """Give `src` these columns unless it holds them already; True when it changed."""
    if same_columns(src.data, data):
        return False
    src.data = dict(data)
    return True
