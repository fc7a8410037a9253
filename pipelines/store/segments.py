"""Segment lists: the sorted [start, end) int64 ns spans a stream actually holds, computed
(merged, extended, cut into gaps) and stored (inline in the stream's `segments` attribute, or
as an array of the stream group when long: see layout.py, "Segment lists")."""

from __future__ import annotations

from typing import Any

import numpy as np
import zarr

from pipelines.store.layout import (
    SEGMENTS_GROUP,
    SEGMENTS_INLINE,
    SEGMENTS_LAYOUT_VERSION,
    segments_array,
)

EMPTY = np.zeros((0, 2), dtype=np.int64)


def merge_segments(segments: np.ndarray, new: list[tuple[int, int]] | np.ndarray) -> np.ndarray:
    """Union of [start, end) spans; touching spans join (vectorised: a write after 1e5
    segments costs a few ms, where a Python loop over them took ~0.1 s)."""
    seg = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    add = np.asarray(new, dtype=np.int64).reshape(-1, 2)
    if len(add) == 1 and len(seg) and add[0, 0] > seg[-1, 1]:
        return np.concatenate([seg, add])  # the usual append after the last sample
    allseg = np.concatenate([seg, add])
    if not len(allseg):
        return allseg
    allseg = allseg[np.argsort(allseg[:, 0], kind="stable")]
    ends = np.maximum.accumulate(allseg[:, 1])
    # A span starts a new segment when it begins after every earlier span has ended.
    cut = np.flatnonzero(allseg[1:, 0] > ends[:-1]) + 1
    first = np.concatenate([[0], cut])
    last = np.concatenate([cut - 1, [len(allseg) - 1]])
    return np.stack([allseg[first, 0], ends[last]], axis=1)


def cut_out(segments: np.ndarray, t0: int, t1: int) -> np.ndarray:
    """The segments with [t0, t1) removed (the parts before and after kept)."""
    seg = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    hit = (seg[:, 1] > t0) & (seg[:, 0] < t1)
    if not hit.any():
        return seg
    h = seg[hit]
    before = h[h[:, 0] < t0].copy()
    before[:, 1] = t0
    after = h[h[:, 1] > t1].copy()
    after[:, 0] = t1
    out = np.concatenate([seg[~hit], before, after])
    return out[np.argsort(out[:, 0], kind="stable")]


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """[a, b) index runs where mask is True."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.view(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(),
                    strict=True))


def mask_of(seg_idx: np.ndarray, i0: int, i1: int) -> np.ndarray:
    """Boolean mask of [i0, i1) covered by sorted, disjoint [a, b) index segments."""
    n = max(i1 - i0, 0)
    if not n or not len(seg_idx):
        return np.zeros(n, dtype=bool)
    lo = np.searchsorted(seg_idx[:, 1], i0, side="right")
    hi = np.searchsorted(seg_idx[:, 0], i1, side="left")
    part = np.clip(seg_idx[lo:hi], i0, i1) - i0
    if len(part) <= 64:  # a few runs: slices, no pass over the mask per run
        mask = np.zeros(n, dtype=bool)
        for a, b in part.tolist():
            mask[a:b] = True
        return mask
    edges = np.zeros(n + 1, dtype=np.int32)
    np.add.at(edges, part[:, 0], 1)
    np.add.at(edges, part[:, 1], -1)
    return np.cumsum(edges[:-1]) > 0


def extend_segments(segments: np.ndarray, times: np.ndarray, prev_last: int | None,
                     gap_ns: int) -> np.ndarray:
    """Segments after appending sorted `times` after the stored last time `prev_last`."""
    cuts = np.flatnonzero(np.diff(times) > gap_ns)
    starts = np.concatenate([[times[0]], times[cuts + 1]])
    ends = np.concatenate([times[cuts], [times[-1]]]) + 1
    new = np.stack([starts, ends], axis=1).astype(np.int64)
    seg = segments.reshape(-1, 2).copy()
    if len(seg) and prev_last is not None and times[0] - prev_last <= gap_ns:
        seg[-1, 1] = new[0, 1]
        new = new[1:]
    return np.concatenate([seg, new]) if len(new) else seg


def gaps_between(segments: np.ndarray) -> np.ndarray:
    """The gaps between segments as (N, 2) int64 ns [start, end)."""
    if len(segments) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    return np.stack([segments[:-1, 1], segments[1:, 0]], axis=1)


# -- stored form ------------------------------------------------------------------------------
def stored_span(value: Any) -> tuple[int, int] | None:
    """[first, last) ns of a stored `segments` attribute without reading its array."""
    if isinstance(value, dict):
        return (int(value["first_ns"]), int(value["end_ns"])) if value.get("count") else None
    if not value:
        return None
    return int(value[0][0]), int(value[-1][1])


def stored_count(value: Any) -> int:
    """How many segments a stored `segments` attribute holds."""
    return int(value.get("count", 0)) if isinstance(value, dict) else len(value or [])


def load_segments(group: Any, value: Any) -> np.ndarray:
    """The (N, 2) int64 segments a stream group's `segments` attribute names: the inline list
    (every stream of layout version 1) or its array (one read)."""
    if isinstance(value, dict):
        if not value.get("count"):
            return EMPTY.copy()
        try:
            arr = group[value["array"]]
        except KeyError:
            # Two commits since this reader opened the stream dropped its list: the current one.
            fresh = zarr.open_group(store=group.store, path=group.path, mode="r")
            current = dict(fresh.attrs).get("segments")
            if current == value:
                raise
            return load_segments(fresh, current)
        return np.asarray(arr[: int(value["count"])], dtype=np.int64).reshape(-1, 2)
    return np.asarray(value or [], dtype=np.int64).reshape(-1, 2)


def store_segments(group: Any, attrs: dict[str, Any], segments: np.ndarray) -> str | None:
    """Put `segments` into `attrs` (to be written by the caller's one attribute write, the
    commit point): inline when short, else first written to a new array of `group` (a new
    name each time, so a reader holding the previous attributes still reads a whole list).
    Returns the array's path (None when inline) for `prune_segment_arrays` after the commit."""
    seg = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    if len(seg) <= SEGMENTS_INLINE:
        attrs["segments"] = seg.tolist()
        return None
    prev = attrs.get("segments")
    gen = int(prev.get("generation", 0)) + 1 if isinstance(prev, dict) else 1
    path = f"{SEGMENTS_GROUP}/{gen}"
    arr = group.create_array(path, shape=seg.shape, overwrite=True, **segments_array(len(seg)))
    arr[...] = seg
    attrs["segments"] = {"array": path, "generation": gen, "count": int(len(seg)),
                         "first_ns": int(seg[0, 0]), "end_ns": int(seg[-1, 1])}
    marker = dict(attrs.get("belvedere") or {})
    if int(marker.get("layout_version", 0)) < SEGMENTS_LAYOUT_VERSION:
        marker["layout_version"] = SEGMENTS_LAYOUT_VERSION  # older readers refuse it, clearly
        attrs["belvedere"] = marker
    return path


def prune_segment_arrays(group: Any, attrs: dict[str, Any], previous: Any) -> None:
    """After a commit, drop the segment arrays older than the one before the current one (a
    reader that opened the stream just before the commit still finds its list)."""
    keep = {v["array"] for v in (attrs.get("segments"), previous) if isinstance(v, dict)}
    if SEGMENTS_GROUP not in group:
        return
    sub = group[SEGMENTS_GROUP]
    for name in list(sub.array_keys()):
        if f"{SEGMENTS_GROUP}/{name}" not in keep:
            del sub[name]
