"""The counts of one stream: noise, earthquakes and digitizer limits summed on the grid."""

from __future__ import annotations

import numpy as np
from obspy import UTCDateTime

from pipelines.demo.network import DEAD_VALUE, REF_NS, spec_for
from pipelines.demo.noise import (
    MICRO_RATE,
    filtered_noise,
    hf_filter,
    micro_filter,
    modulations,
    upsample,
)
from pipelines.demo.plan import StreamPlan, plan_for, stream_plan, to_index
from pipelines.demo.quakes import MAX_EVENT_S, event_waveform, events_between

_DIGITIZER_MAX = 2**23 - 1  # a 24-bit digitizer saturates here


def signal_counts(seed: int, s: StreamPlan, n0: int, n1: int) -> np.ndarray:
    """int32 counts of stream s at global sample numbers [n0, n1), ignoring gaps."""
    if s.dead:
        return np.full(n1 - n0, DEAD_VALUE, dtype=np.int32)
    st = s.station
    r = s.sr // MICRO_RATE
    j0, j1 = n0 // r, -(-n1 // r)
    micro = filtered_noise(seed, s.key, 1, MICRO_RATE, micro_filter(seed, st.code, s.channel),
                      j0, j1 + 1).astype(np.float64)
    gain_m, gain_c = modulations(seed, st, np.arange(j0, j1 + 1, dtype=np.float64))
    lo, hi = n0 - j0 * r, n1 - j0 * r
    x = upsample(micro * gain_m, r)[lo:hi]
    x += upsample(gain_c, r)[lo:hi] * filtered_noise(
        seed, s.key, 2, s.sr, hf_filter(seed, st.code, s.channel, s.sr), n0, n1)
    t0_ns = REF_NS + n0 * s.period_ns
    t1_ns = REF_NS + n1 * s.period_ns
    for ev in events_between(seed, t0_ns - int(MAX_EVENT_S * 1e9) - 200 * 10**9, t1_ns):
        e0, wave = event_waveform(seed, ev, s)
        a, b = max(n0, e0), min(n1, e0 + wave.size)
        if a < b:
            x[a - n0:b - n0] += wave[a - e0:b - e0]
    np.rint(x, out=x)
    np.clip(x, -_DIGITIZER_MAX, _DIGITIZER_MAX, out=x)
    return x.astype(np.int32)


def synthesize_samples(stream_id: str, start: UTCDateTime, npts: int, seed: int = 0,
                       size: str = "full") -> np.ndarray:
    """Counts of one stream for npts samples from start, as the archive holds them minus gaps."""
    s = stream_plan(plan_for(spec_for(size), seed), stream_id)
    n0 = to_index(UTCDateTime(start).ns, s.period_ns, "start")
    return signal_counts(seed, s, n0, n0 + npts)
