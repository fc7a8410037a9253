"""The store the waveform tests look at: a day with one big earthquake (picks close together,
detections from the real STA/LTA analysis), an hour crowded with small catalogue events, and
three short streams that ended 20 s, 40 min and 6 h ago (latency badges)."""

from __future__ import annotations

import numpy as np

from pipelines.store import open_store
from pipelines.timebase import NS, now_ns

DAY0_NS = 1714521600 * NS  # 2024-05-01T00:00:00Z
RATE = 20.0
N = int(86400 * RATE)
QUAKE_NS = DAY0_NS + 12 * 3600 * NS
P_NS, S_NS = QUAKE_NS + 10 * NS, QUAKE_NS + 10 * NS + NS // 2  # half a second apart
NOISE = 100.0
PEAK = 60000.0
TONE_HZ = 2.5  # in the quiet station's noise: its dominant frequency
DAY_STREAMS = ("XW.QUAK.00.HHE", "XW.QUAK.00.HHZ", "XW.CALM.00.HHZ")
LIVE = {"XW.LIVE.00.HHZ": 20, "XW.LATE.00.HHZ": 2400, "XW.DEAD.00.HHZ": 6 * 3600}  # s since
AMBER_S, RED_S = 900, 3 * 3600  # the thresholds the tests serve with (latency.* config keys)
CROWD = 40  # small events between 03:00 and 04:00


def day_samples(name: str) -> np.ndarray:
    """The int32 samples of a day stream (deterministic)."""
    rng = np.random.default_rng(DAY_STREAMS.index(name))
    t = np.arange(N) / RATE
    x = rng.normal(0, NOISE, N)
    if name == "XW.CALM.00.HHZ":
        x += 0.8 * NOISE * np.sin(2 * np.pi * TONE_HZ * t)
    k = int((QUAKE_NS - DAY0_NS) / NS * RATE)
    m = int(120 * RATE)
    amp = PEAK * (0.3 if name == "XW.CALM.00.HHZ" else 1.0)
    burst = amp * np.exp(-np.arange(m) / (25 * RATE)) * np.sin(2 * np.pi * 1.5 * t[:m])
    x[k + int(10 * RATE):k + int(10 * RATE) + m] += burst
    return np.round(x).astype(np.int32)


def build(path: str) -> str:
    """Write the store at `path` (a few seconds, detections included); returns the path."""
    st = open_store(path, "a")
    for name in DAY_STREAMS:
        w = st.create_stream(name, RATE, DAY0_NS, np.int32, {"units": "counts"})
        values = day_samples(name)
        i0 = round(w.index_of(DAY0_NS))
        w.write(i0, values)
        w.update_pyramid(i0, i0 + len(values))
        w.commit()
    now = now_ns()
    rng = np.random.default_rng(7)
    for name, ago in LIVE.items():
        n = int(600 * RATE)
        first = (now - ago * NS - int(n / RATE * NS)) // NS * NS
        w = st.create_stream(name, RATE, first, np.int32, {"units": "counts"})
        i0 = round(w.index_of(first))  # the grid may start before the first sample
        w.write(i0, np.round(rng.normal(0, NOISE, n)).astype(np.int32))
        w.update_pyramid(i0, i0 + n)
        w.commit()
    events = [{"id": "big", "time_ns": QUAKE_NS, "latitude": 45.0, "longitude": 6.0,
               "depth_m": 8000.0, "magnitude": 5.1, "picks": [
                   {"stream": "XW.QUAK.00.HHZ", "phase": "P", "time_ns": P_NS},
                   {"stream": "XW.QUAK.00.HHZ", "phase": "S", "time_ns": S_NS},
                   {"stream": "XW.QUAK.00.HHE", "phase": "S", "time_ns": S_NS}]}]
    for i in range(CROWD):
        t = DAY0_NS + 3 * 3600 * NS + i * 90 * NS
        events.append({"id": f"small{i}", "time_ns": t, "latitude": 45.0, "longitude": 6.0,
                       "depth_m": 2000.0, "magnitude": 1.0 + (i % 7) * 0.3, "picks": []})
    st.set_events(events)
    from pipelines.analysis.engine import analyse

    analyse(path, "detect", ["XW.QUAK.*", "XW.CALM.*"])
    return path
