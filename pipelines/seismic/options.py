"""What a seismic waveform reader is asked to decode."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReadOptions:
    """The `options` of a waveform reader's `read`."""

    channel: str  # NET.STA.LOC.CHA: only this channel's traces
    data: np.ndarray | None = None  # the file's bytes already read (int8), else read `path`
