"""What every analysis provides to the engine, and the samples a day task hands it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass
class DayInput:
    """A day's samples plus padding: float64 values on the stream's grid, NaN where absent."""

    stream: str
    day_ns: int
    t0_ns: int  # time of values[0]
    sampling_rate: float
    values: np.ndarray
    present: np.ndarray  # bool per value
    context: dict[str, Any]

    def time_of(self, i: int | np.ndarray) -> Any:
        """Time (ns) of value index i."""
        return self.t0_ns + np.round(np.asarray(i) * (1e9 / self.sampling_rate)).astype(np.int64)

    def index_at(self, t_ns: int) -> int:
        """The first value index at or after time t."""
        return int(np.ceil((t_ns - self.t0_ns) * self.sampling_rate / 1e9 - 1e-6))


class Analysis(Protocol):
    """One analysis: its parameters, its padding, its computation and its writer."""

    name: str
    algorithm: str

    def padding_s(self, params: dict[str, Any], sampling_rate: float) -> tuple[float, float]:
        """Seconds read before and after each day."""

    def compute(self, day: DayInput, params: dict[str, Any]) -> Any:
        """The day's result (small: returned from a worker to the writer)."""
