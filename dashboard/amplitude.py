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
KINDS = {"robust": f"{ROBUST_PERCENTILE:g} % of envelope", "trace": "max",
         "shared": "shared max"}


def envelope(lo: np.ndarray, hi: np.ndarray, center: float) -> np.ndarray:
    """|value - center| of each bucket's farther edge (NaN where absent)."""
    return np.maximum(hi - center, center - lo)


def robust_scale(lo: np.ndarray, hi: np.ndarray, center: float,
                 percentile: float = ROBUST_PERCENTILE) -> tuple[float, float]:
    """(scale, clipped): the `percentile` of the envelope, and the fraction of buckets that
    reach beyond it (drawn clipped at the band's edges). The maximum when the percentile is
    zero (a flat trace with a few spikes)."""
    env = envelope(np.asarray(lo, np.float64), np.asarray(hi, np.float64), center)
    env = env[~np.isnan(env)]
    if not len(env):
        return 0.0, 0.0
    scale = float(np.percentile(env, percentile))
    if scale <= 0:
        return float(env.max()), 0.0
    return scale, float(np.count_nonzero(env > scale)) / len(env)
