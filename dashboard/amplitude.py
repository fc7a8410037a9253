"""Per-trace amplitude scales: the robust one (a high percentile of the envelope, the rest
clipped, as ObsPy's dayplot scales with 99.5 %) and the maximum of the window.

On a day with one earthquake the maximum is the earthquake's: the noise of the other 23 hours
becomes a flat line. A high percentile of the envelope (bucket by bucket, |value - level|) is
set by what most of the window holds, so the noise fills the band and the earthquake runs
past its edges, clipped.
"""

from __future__ import annotations

import numpy as np

ROBUST_PERCENTILE = 99.5
# The percentile reaches this fraction of the half band: the noise takes the middle of the
# band and an earthquake stands out above it, running to the edges (clipped) past 2.5x.
ROBUST_FILL = 0.4
KINDS = {"robust": f"robust: {ROBUST_PERCENTILE:g}th percentile at {100 * ROBUST_FILL:.0f} %",
         "trace": "max", "shared": "shared max"}


def envelope(lo: np.ndarray, hi: np.ndarray, center: float) -> np.ndarray:
    """|value - center| of each bucket's farther edge (NaN where absent)."""
    return np.maximum(hi - center, center - lo)


def robust_scale(lo: np.ndarray, hi: np.ndarray, center: float,
                 percentile: float = ROBUST_PERCENTILE) -> tuple[float, float]:
    """(scale, clipped): the band's half height, so that the `percentile` of the envelope
    reaches `ROBUST_FILL` of it, and the fraction of buckets that reach beyond the band
    (drawn clipped at its edges). The maximum when the percentile is zero (a flat trace
    with a few spikes)."""
    env = envelope(np.asarray(lo, np.float64), np.asarray(hi, np.float64), center)
    env = env[~np.isnan(env)]
    if not len(env):
        return 0.0, 0.0
    scale = float(np.percentile(env, percentile)) / ROBUST_FILL
    if scale <= 0:
        return float(env.max()), 0.0
    return scale, float(np.count_nonzero(env > scale)) / len(env)
