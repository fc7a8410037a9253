"""How mission files are read (simulation epoch, table prefix) and written (spectra, snapping)."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.mission import spectra
from pipelines.mission.series import SIM_EPOCH
from pipelines.store import DEFAULT_SNAP_TOLERANCE


@dataclass
class MissionOptions:
    """How mission files are read and written (the `options` of every mission reader)."""

    sim_epoch: str = SIM_EPOCH
    prefix: str | None = None
    spectra_block_s: float = spectra.DEFAULT_BLOCK_S
    snap_tolerance: float = DEFAULT_SNAP_TOLERANCE
