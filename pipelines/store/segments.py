"""Segment lists: the sorted [start, end) int64 ns spans a stream actually holds."""

from __future__ import annotations

import numpy as np


def merge_segments(segments: np.ndarray, new: list[tuple[int, int]]) -> np.ndarray:
    """Union of [start, end) spans; touching spans join."""
    allseg = np.concatenate([segments.reshape(-1, 2), np.asarray(new, dtype=np.int64
                                                                  ).reshape(-1, 2)])
    if not len(allseg):
        return allseg
    allseg = allseg[np.argsort(allseg[:, 0], kind="stable")]
    out = [list(allseg[0])]
    for s, e in allseg[1:]:
        if s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return np.asarray(out, dtype=np.int64)


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """[a, b) index runs where mask is True."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.view(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(),
                    strict=True))



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
