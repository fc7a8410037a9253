"""What regular and irregular streams share: their group, span, gaps and summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import zarr

from pipelines.store.segments import gaps_between, load_segments, stored_span
from pipelines.timebase import NS, utc_iso

if TYPE_CHECKING:
    from pipelines.store.store import Store


class StreamBase:
    """What regular and irregular streams share: their group, its attributes (`_load_attrs`
    sets `segments`, `dtype`, `sampling_rate`, `levels` and `n_samples` comes from the
    kind), the span, the gaps and the summary.

    `kind` says which one a stream is ("regular": samples on a grid, `Stream`; "irregular":
    explicit timestamps, `IrregularStream`), so callers need not probe for methods.
    """

    kind: ClassVar[str]
    summary_kind: ClassVar[dict[str, str]] = {}  # first keys of `summary` after the name
    summary_keys: ClassVar[tuple[str, ...]] = ()  # attributes copied into `summary` if present

    def __init__(self, store: Store, name: str, group: zarr.Group):
        self.store = store
        self.name = name
        self.group = group
        self._load_attrs()

    def _load_attrs(self) -> None:
        raise NotImplementedError

    def _set_stored_segments(self, value: Any) -> None:
        """Note the stored `segments` attribute; a long list's array is read on first use."""
        self._segments_attr = value
        self._segments: np.ndarray | None = None
        self._segment_idx: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def segments(self) -> np.ndarray:
        """The (N, 2) int64 ns [start, end) spans of present samples, sorted."""
        if self._segments is None:
            self._segments = load_segments(self.group, self._segments_attr)
        return self._segments

    @segments.setter
    def segments(self, value: np.ndarray) -> None:
        self._segments = np.asarray(value, dtype=np.int64).reshape(-1, 2)
        self._segment_idx = None

    @property
    def span_ns(self) -> tuple[int, int] | None:
        """[first sample, one past the last sample) in ns, or None when empty."""
        if self._segments is None:
            return stored_span(self._segments_attr)
        if not len(self._segments):
            return None
        return int(self._segments[0, 0]), int(self._segments[-1, 1])

    def gaps(self) -> np.ndarray:
        """The gaps between segments as (N, 2) int64 ns [start, end)."""
        return gaps_between(self.segments)

    def nbytes_stored(self) -> int:
        """Bytes this stream occupies in the store (compressed data, time, pyramid, metadata)."""
        return self.store.nbytes(self.name)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description: span, samples, gaps, rate, metadata."""
        span = self.span_ns
        gaps = self.gaps()
        return {
            "stream": self.name,
            **self.summary_kind,
            "sampling_rate": self.sampling_rate,
            "dtype": str(self.dtype),
            "start": utc_iso(span[0]) if span else None,
            "end": utc_iso(span[1]) if span else None,
            "samples": self.n_samples,
            "segments": int(len(self.segments)),
            "gaps": int(len(gaps)),
            "gap_seconds": float((gaps[:, 1] - gaps[:, 0]).sum() / NS) if len(gaps) else 0.0,
            "pyramid_levels": self.levels,
            **{k: self.attrs[k] for k in self.summary_keys if k in self.attrs},
            "conflicts": len(self.attrs.get("conflicts", [])),
            "files": len(self.attrs.get("provenance", [])),
        }

