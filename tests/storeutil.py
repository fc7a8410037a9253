"""Helpers for comparing stores in tests."""

from __future__ import annotations

import numpy as np

from pipelines.store import open_store

VOLATILE = {"provenance", "conflicts", "belvedere"}


def store_content(path: str) -> dict:
    """Everything that defines a store's content: attrs (minus run details) and all arrays."""
    st = open_store(path)
    out = {}
    for s in st:
        attrs = {k: v for k, v in s.attrs.items() if k not in VOLATILE}
        n = s.length
        arrays = {"data": s.data[:n].tobytes()}
        for k in range(1, s.levels + 1):
            g = s.group[f"pyramid/{k}"]
            arrays[f"p{k}"] = g["min"][:].tobytes() + g["max"][:].tobytes()
        # The grid may be longer in one store (chunk rounding); compare the present samples.
        present = [(a, v.tobytes()) for a, v in s.read_segments()]
        out[s.name] = (attrs, present, arrays["p1"] if s.levels else b"")
    return out


def assert_same_store(a: str, b: str, same_grid: bool = True) -> None:
    """Two stores hold the same streams, segments and samples (and grid and pyramid)."""
    ca, cb = store_content(a), store_content(b)
    assert sorted(ca) == sorted(cb)
    grid_keys = {"start_ns", "start", "pyramid"}
    for name in ca:
        attrs_a, attrs_b = ca[name][0], cb[name][0]
        if not same_grid:
            attrs_a = {k: v for k, v in attrs_a.items() if k not in grid_keys}
            attrs_b = {k: v for k, v in attrs_b.items() if k not in grid_keys}
        assert attrs_a == attrs_b, name
        assert ca[name][1] == cb[name][1], name
        if same_grid:
            assert ca[name][2] == cb[name][2], name


def samples_at(path: str, name: str, t0_ns: int, n: int) -> np.ndarray:
    """n stored samples of a stream starting at t0."""
    s = open_store(path)[name]
    i0 = int(round(s.index_of(t0_ns)))
    return s.data[i0:i0 + n]
