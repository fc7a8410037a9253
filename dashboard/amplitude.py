"""Per-trace amplitude scales: the robust one (a high percentile of the envelope, the rest
clipped, as ObsPy's dayplot scales with 99.5 %) and the maximum of the window.

On a day with one earthquake the maximum is the earthquake's: the noise of the other 23 hours
becomes a flat line. A high percentile of the envelope (bucket by bucket, |value - level|) is
set by what most of the window holds, so the noise fills the band and the earthquake runs
past its edges, clipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dashboard import raster

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


def scale_traces(traces: list[Any], t0_ns: int, t1_ns: int, kind: str) -> None:
    """Set each trace's level (`center`), `scale`, `scale_kind`, `clipped` and `present` from
    its window over [t0, t1) with the scale `kind` ('robust', 'trace' or 'shared'): the one
    place the page's frames and the snapshots decide how tall a trace is drawn."""
    for tr in traces:
        if tr.window is None:
            continue
        lo, hi = raster.visible(tr.window, t0_ns, t1_ns)
        if np.isnan(lo).all():
            continue
        tr.present = True
        # Median of the bucket mid-points: the trace's level, not pulled by an earthquake.
        tr.center = float(np.nanmedian((lo + hi) / 2))
        tr.scale = float(np.nanmax(envelope(lo, hi, tr.center)))
        tr.scale_kind = kind
        if kind == "robust":
            tr.scale, tr.clipped = robust_scale(lo, hi, tr.center)
    if kind == "shared":
        # True amplitude: one scale for every band (per unit: counts and m/s do not compare).
        by_unit: dict[str, float] = {}
        for tr in traces:
            by_unit[tr.units] = max(by_unit.get(tr.units, 0.0), tr.scale)
        for tr in traces:
            if tr.scale:
                tr.scale = by_unit[tr.units]
