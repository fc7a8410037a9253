"""Earthquakes of the synthetic world: the catalogue of each day, ray paths and waveforms.

Random events follow Gutenberg-Richter per day (seeded by the day number), so any span sees the
same events; waveforms are Brune spectra shaped in time by P and S envelopes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from obspy import UTCDateTime
from scipy import fft as sfft

from pipelines.demo.network import (
    DAY_NS,
    FIXED_EVENTS,
    P_VELOCITY_KM_S,
    REF_NS,
    S_VELOCITY_KM_S,
    StationSpec,
    anti_alias,
)
from pipelines.demo.plan import StreamPlan, seeded_rng, stable_key

_EVENTS_PER_DAY = 3.5
MAX_EVENT_S = 2400.0
EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class Quake:
    """One earthquake of the synthetic world."""

    key: str
    key_int: int
    time_ns: int
    latitude: float
    longitude: float
    depth_km: float
    magnitude: float


@dataclass(frozen=True)
class RayPath:
    """Distances, azimuths, arrival times and amplitude from one event to one station."""

    epi_km: float
    hypo_km: float
    azimuth: float  # event -> station, degrees
    backazimuth: float  # station -> event, degrees
    p_ns: int
    s_ns: int
    amplitude: float  # counts, reference S amplitude on the horizontals


@lru_cache(maxsize=256)
def _events_of_day(seed: int, day: int) -> tuple[Quake, ...]:
    day_ns = REF_NS + day * DAY_NS
    events = []
    for i, (t, lat, lon, depth, mag) in enumerate(FIXED_EVENTS):
        t_ns = UTCDateTime(t).ns
        if day_ns <= t_ns < day_ns + DAY_NS:
            events.append(Quake(f"f{i:02d}", 10**9 + i, t_ns, lat, lon, depth, mag))
    rng = seeded_rng(seed, 0x5EED, day)
    stamp = UTCDateTime(ns=day_ns).strftime("%Y%m%d")
    for i in range(int(rng.poisson(_EVENTS_PER_DAY))):
        # Gutenberg-Richter with b = 1 between M1.2 and M4.0.
        mag = 1.2 - math.log10(1.0 - rng.random() * (1.0 - 10.0 ** -2.8))
        t_ns = day_ns + int(rng.random() * 8_640_000) * 10_000_000  # 10 ms resolution
        if rng.random() < 0.75:  # Alpine seismicity inside the network, shallow
            lat, lon, depth = rng.uniform(45.9, 47.6), rng.uniform(6.3, 9.8), rng.uniform(2, 15)
        else:  # regional events to the south, deeper
            lat, lon, depth = rng.uniform(44.8, 45.9), rng.uniform(6.5, 11.0), rng.uniform(5, 30)
        events.append(Quake(f"{stamp}{i:02d}", day * 1000 + i, t_ns, round(lat, 4),
                             round(lon, 4), round(depth, 1), round(mag, 1)))
    return tuple(sorted(events, key=lambda e: e.time_ns))


def events_between(seed: int, t0_ns: int, t1_ns: int) -> list[Quake]:
    """The world's earthquakes with origin times in [t0_ns, t1_ns)."""
    d0 = (t0_ns - REF_NS) // DAY_NS
    d1 = (t1_ns - 1 - REF_NS) // DAY_NS
    return [e for d in range(d0, d1 + 1) for e in _events_of_day(seed, d)
            if t0_ns <= e.time_ns < t1_ns]


def _distance_azimuth(lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    dist = 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
    az = math.atan2(math.sin(dl) * math.cos(p2),
                    math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl))
    return dist, math.degrees(az) % 360.0


@lru_cache(maxsize=4096)
def ray_path(seed: int, ev: Quake, st: StationSpec) -> RayPath:
    """The path from an event to a station (cached)."""
    epi, az = _distance_azimuth(ev.latitude, ev.longitude, st.latitude, st.longitude)
    _, baz = _distance_azimuth(st.latitude, st.longitude, ev.latitude, ev.longitude)
    hypo = math.hypot(epi, ev.depth_km + st.elevation / 1000.0)
    # Theoretical times are kept to the microsecond so the QuakeML holds them exactly.
    p_ns = ev.time_ns + round(hypo / P_VELOCITY_KM_S * 1e6) * 1000
    s_ns = ev.time_ns + round(hypo / S_VELOCITY_KM_S * 1e6) * 1000
    scatter = float(seeded_rng(seed, 0xA3, ev.key_int, stable_key(st.code)).normal(0.0, 0.15))
    # Local-magnitude-like attenuation, tuned so M4.5 at 20 km peaks at a few 1e6 counts.
    log_a = (ev.magnitude - 1.6 * math.log10(hypo) - 0.0015 * hypo + 3.6
             + math.log10(st.site_amplification) + scatter)
    return RayPath(epi, hypo, az, baz, p_ns, s_ns, 10.0**log_a)


def _source_spectrum(f: np.ndarray, fc: float, travel_s: float, sr: int) -> np.ndarray:
    # Brune velocity spectrum, whole-path Q and site kappa, digitizer anti-alias.
    return ((f / fc) / (1.0 + (f / fc) ** 2) * np.exp(-np.pi * f * (0.025 + travel_s / 400.0))
            * anti_alias(f, sr))


def event_waveform(seed: int, ev: Quake, s: StreamPlan) -> tuple[int, np.ndarray]:
    """Float counts of one event on one stream, and the global sample number of element 0."""
    pth = ray_path(seed, ev, s.station)
    m = ev.magnitude
    amp = pth.amplitude
    t_dur = max(5.0, 10.0 ** ((m + 0.87 - 0.0035 * pth.epi_km) / 2.0))  # duration magnitude
    tau = max(1.0, t_dur / math.log(max(amp / 150.0, math.e)))
    length_s = min(MAX_EVENT_S, (pth.s_ns - pth.p_ns) / 1e9 + tau * math.log(max(8 * amp, 2.0))
                   + 5.0)
    period = s.period_ns
    e0 = -(-(pth.p_ns - 5 * 10**9 - REF_NS) // period)
    n = int(length_s * s.sr)
    t_ns = (e0 + np.arange(n, dtype=np.int64)) * period + REF_NS
    tp = (t_ns - pth.p_ns) / 1e9
    ts = (t_ns - pth.s_ns) / 1e9

    fc = min(15.0, max(0.3, 10.0 * 10.0 ** (-0.45 * (m - 2.0))))
    nfft = sfft.next_fast_len(n, real=True)
    f = sfft.rfftfreq(nfft, 1.0 / s.sr)
    rng = seeded_rng(seed, s.key, 3, ev.key_int)
    shaped = []
    for fcx, travel in ((1.6 * fc, pth.hypo_km / P_VELOCITY_KM_S),
                        (fc, pth.hypo_km / S_VELOCITY_KM_S)):
        g = sfft.irfft(sfft.rfft(rng.standard_normal(n), nfft)
                       * _source_spectrum(f, fcx, travel, s.sr), nfft)[:n]
        shaped.append(g / (g.std() or 1.0))
    g_p, g_s = shaped

    def onset(t: np.ndarray, rise: float) -> np.ndarray:
        return np.where(t > 0, -np.expm1(-np.maximum(t, 0.0) / rise), 0.0)

    d_p = 0.3 + 0.2 * m
    d_s = 0.6 + 0.4 * m + 0.01 * pth.epi_km
    env_p = onset(tp, 0.05) * (0.7 * np.exp(-np.maximum(tp, 0) / d_p)
                               + 0.3 * np.exp(-np.maximum(tp, 0) / tau))
    env_s = onset(ts, 0.25) * (0.65 * np.exp(-np.maximum(ts, 0) / d_s)
                               + 0.35 * np.exp(-np.maximum(ts, 0) / tau))
    baz = math.radians(pth.backazimuth)
    comp = s.channel[-1]
    # Vertical: mostly P; horizontals: mostly S, split by back-azimuth.
    if comp == "Z":
        w_p, w_s = 1.0, 0.45
    elif comp == "N":
        w_p, w_s = 0.1 + 0.35 * abs(math.cos(baz)), 0.6 + 0.4 * abs(math.sin(baz))
    else:
        w_p, w_s = 0.1 + 0.35 * abs(math.sin(baz)), 0.6 + 0.4 * abs(math.cos(baz))
    return e0, 0.3 * amp * w_p * env_p * g_p + amp * w_s * env_s * g_s
