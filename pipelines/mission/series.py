"""What every mission reader gives the ingest: series of samples with their stream names.

A reader turns one file into `Series`: regular ones yield `Piece`s (NaN-free runs on a
regular grid, handed to `pipelines.ingest.append.ChannelAppender` like seismic traces), irregular
ones carry explicit int64 ns timestamps (written by `pipelines.store.irregular`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from pipelines.ingest.append import Piece
from pipelines.timebase import NS

# Simulated missions count seconds of a coordinate time (TCB-like for LISA) from an arbitrary
# origin. They are laid out on the UTC axis as SIM_EPOCH + t, with no leap seconds and no
# rate conversion (a simulation has no UTC); the attributes keep t0, dt and the epoch used.
SIM_EPOCH = "2000-01-01T12:00:00"  # J2000's calendar instant, read as UTC; --sim-epoch
REGULAR_TOLERANCE = 1e-3  # timestamps within this fraction of a period of a regular grid
MISSION_CHUNK = 2**22  # samples read from a file at a time (bounded memory)


class LayoutError(Exception):
    """A file that is in none of the known layouts, or whose header is broken."""


@dataclass
class Series:
    """One stream's worth of samples from one file."""

    name: str
    attrs: dict[str, Any]
    n: int  # samples in the file
    sampling_rate: float | None = None  # regular series: Hz
    pieces: Callable[[], Iterator[Piece]] | None = None  # regular series
    times: np.ndarray | None = None  # irregular series: int64 ns, with `values`
    values: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def regular(self) -> bool:
        """True for a series on a regular grid."""
        return self.pieces is not None


@dataclass
class FileSeries:
    """What a mission reader's `read` gives: the file's layout and its series."""

    layout: str  # recorded in each commit's provenance: "lisa", "ldc", "ogip", "csv", ...
    series: list[Series]
    # Report lines for a file that is still ingested whole: a header keyword that disagrees
    # with the data and the assumption made, datasets kept as attributes rather than streams.
    warnings: list[str] = field(default_factory=list)


def epoch_ns(text: str) -> int:
    """Integer ns since 1970 of an ISO-8601 UTC time (no zone: UTC)."""
    t = text.strip().removesuffix("Z")
    dt = datetime.fromisoformat(t)
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    whole = datetime(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, tzinfo=UTC)
    return int(whole.timestamp()) * NS + dt.microsecond * 1000


def clean_name(text: str) -> str:
    """A stream-name component: letters, digits, `_`, `+` and `-` only."""
    out = re.sub(r"[^A-Za-z0-9_+\-]+", "_", str(text).strip()).strip("_")
    return out or "X"


def finite_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """[a, b) runs of non-NaN values (everything for integer data)."""
    if values.dtype.kind != "f":
        return [(0, len(values))] if len(values) else []
    bad = np.isnan(values)
    if not bad.any():
        return [(0, len(values))] if len(values) else []
    d = np.diff(np.concatenate([[1], bad.view(np.int8), [1]]))
    return list(zip(np.flatnonzero(d == -1).tolist(), np.flatnonzero(d == 1).tolist(),
                    strict=True))


def grid_pieces(values: np.ndarray, start_ns: int, rate: float, source: str,
                index0: int = 0) -> Iterator[Piece]:
    """Pieces of the NaN-free runs of `values`, sample i at start_ns + (index0 + i) / rate."""
    period = NS / rate
    values = np.ascontiguousarray(values).astype(values.dtype.newbyteorder("="), copy=False)
    for a, b in finite_runs(values):
        yield Piece(int(start_ns) + int(round((index0 + a) * period)), float(rate),
                    values[a:b], source)


def regular_grid(times: np.ndarray, step_ns: float | None = None,
                 tolerance: float = REGULAR_TOLERANCE) -> float | None:
    """The period (ns) of a regular grid through every timestamp (gaps allowed), or None."""
    if len(times) < 2:
        return None
    d = np.diff(times)
    if (d <= 0).any():
        return None
    step = float(step_ns) if step_ns else float(np.median(d))
    if step <= 0:
        return None
    rel = (times - times[0]).astype(np.float64) / step
    off = np.abs(rel - np.round(rel)) * step
    return step if float(off.max()) <= tolerance * step + 2 else None


def pieces_from_times(times: np.ndarray, values: np.ndarray, step_ns: float, source: str
                      ) -> Callable[[], Iterator[Piece]]:
    """Pieces (runs of consecutive grid points, NaN split) of timestamps on a regular grid."""
    rate = NS / step_ns

    def gen() -> Iterator[Piece]:
        idx = np.round((times - times[0]).astype(np.float64) / step_ns).astype(np.int64)
        cuts = np.flatnonzero(np.diff(idx) != 1) + 1
        bounds = np.concatenate([[0], cuts, [len(idx)]])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            start = int(times[0]) + int(round(idx[a] * step_ns))
            yield from grid_pieces(values[a:b], start, rate, source)

    return gen


def series_from_times(name: str, times: np.ndarray, values: np.ndarray, attrs: dict[str, Any],
                      source: str, step_ns: float | None = None) -> Series:
    """A regular series when the timestamps sit on a grid (within tolerance), else irregular
    (NaN values are absent samples either way)."""
    values = np.asarray(values)
    values = values.astype(values.dtype.newbyteorder("="), copy=False)
    times = np.asarray(times, dtype=np.int64)
    step = regular_grid(times, step_ns) if len(times) > 1 else None
    if step is None and step_ns and len(times) == 1:
        step = float(step_ns)
    if step is not None:
        return Series(name, {**attrs, "timestamps": "regular"}, len(values), NS / step,
                      pieces_from_times(times, values, step, source))
    keep = ~np.isnan(values) if values.dtype.kind == "f" else np.ones(len(values), bool)
    return Series(name, {**attrs, "timestamps": "irregular"}, len(values), None, None,
                  times[keep], values[keep])
