"""Ambient noise of the synthetic world: microseisms and cultural noise with their cycles.

White Gaussian noise is drawn in fixed 10-minute blocks (seeded by block number) and shaped by
linear-phase FIR filters: the microseism band at a 5 Hz working rate (then interpolated), the
cultural band at the channel rate. Because the white noise of a block never depends on which
day asked for it, the filtered noise across midnight is exactly what one continuous run gives.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy.signal import oaconvolve

from pipelines.demo.network import STATIONS, StationSpec, anti_alias
from pipelines.demo.plan import seeded_rng, stable_key

_UTC_OFFSET_S = 3600  # the network's civil time is CET (all spans are before DST)
MICRO_RATE = 5  # Hz; the microseism band is generated here and interpolated up
_BLOCK_S = 600
_MICRO_TAPS = 4096  # 819 s at 5 Hz: resolves the narrow primary peak
_HF_TAPS = 4096


def _station_params(seed: int, code: str) -> tuple[float, float]:
    u = seeded_rng(seed, 0x51, stable_key(code)).random(2)
    return 0.17 + 0.06 * u[0], 3.0 + 5.0 * u[1]  # secondary-microseism peak, cultural peak


def _fir(amplitude: np.ndarray, taps: int) -> np.ndarray:
    # Zero-phase design made causal by centring, Hann window against ripple.
    h = np.roll(sfft.irfft(amplitude, taps), taps // 2)
    return h * np.hanning(taps + 1)[:taps]


@lru_cache(maxsize=64)
def micro_filter(seed: int, code: str, channel: str) -> np.ndarray:
    """FIR filter (5 Hz) shaping white noise into the station's microseism band."""
    st = STATIONS[code]
    f2, _ = _station_params(seed, code)
    f = sfft.rfftfreq(_MICRO_TAPS, 1.0 / MICRO_RATE)
    lf = np.log(np.maximum(f, 1e-6))
    amp = (np.exp(-0.5 * ((lf - math.log(f2)) / 0.28) ** 2)  # secondary microseism
           + 0.22 * np.exp(-0.5 * ((lf - math.log(0.07)) / 0.18) ** 2)  # primary microseism
           + 0.03 * np.exp(-0.5 * ((lf - math.log(0.5)) / 0.9) ** 2))  # broad background
    amp *= (f / 0.01) ** 2 / (1.0 + (f / 0.01) ** 2) / np.sqrt(1.0 + (f / 1.2) ** 16)
    h = _fir(amp, _MICRO_TAPS)
    std = st.microseism_std * (1.0 if channel.endswith("Z") else 1.15)
    return (h * std / np.sqrt(np.sum(h**2))).astype(np.float32)


def _cultural_shape(f: np.ndarray, f_peak: float) -> np.ndarray:
    lf = np.log(np.maximum(f, 1e-6))
    hp = f**4 / (1.0 + f**4)  # cultural noise lives above ~1 Hz
    return hp * (1.0 + 1.2 * np.exp(-0.5 * ((lf - math.log(f_peak)) / 0.45) ** 2)) / np.sqrt(
        1.0 + f / 20.0)


@lru_cache(maxsize=64)
def hf_filter(seed: int, code: str, channel: str, sr: int) -> np.ndarray:
    """FIR filter (channel rate) shaping white noise into the station's cultural band."""
    st = STATIONS[code]
    _, f_peak = _station_params(seed, code)
    # Normalised as a physical PSD on a 100 Hz reference, so a 20 Hz channel of the same
    # ground simply misses the energy above its Nyquist.
    fr = np.linspace(0.0, 50.0, 200_001)
    var_ref = np.trapezoid((_cultural_shape(fr, f_peak) * anti_alias(fr, 100)) ** 2, fr)
    f = sfft.rfftfreq(_HF_TAPS, 1.0 / sr)
    amp = _cultural_shape(f, f_peak) * anti_alias(f, sr) * math.sqrt(sr / 2.0 / var_ref)
    return (_fir(amp * st.cultural_std, _HF_TAPS)).astype(np.float32)


def _white(seed: int, key: int, kind: int, block: int, i0: int, i1: int) -> np.ndarray:
    """Unit white noise for global sample numbers [i0, i1), drawn in seeded blocks."""
    k0, k1 = i0 // block, (i1 - 1) // block
    parts = [seeded_rng(seed, key, kind, k + 2**40).standard_normal(block, dtype=np.float32)
             for k in range(k0, k1 + 1)]
    return np.concatenate(parts)[i0 - k0 * block:i1 - k0 * block]


def filtered_noise(seed: int, key: int, kind: int, rate: int, h: np.ndarray, i0: int,
              i1: int) -> np.ndarray:
    """Noise filtered by h (centred) at global sample numbers [i0, i1)."""
    taps = h.size
    c = taps // 2
    w = _white(seed, key, kind, _BLOCK_S * rate, i0 + c - taps + 1, i1 + c)
    return oaconvolve(w, h, mode="valid")


def upsample(v: np.ndarray, r: int) -> np.ndarray:
    """Linear interpolation by an integer factor: len(v) - 1 intervals of r samples."""
    frac = np.arange(r) / r
    return (v[:-1, None] * (1.0 - frac) + v[1:, None] * frac).ravel()


def _ramp(h: np.ndarray, a: float, b: float) -> np.ndarray:
    x = np.clip((h - a) / (b - a), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def modulations(seed: int, st: StationSpec, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Microseism gain (ocean weather) and cultural gain (local clock) at 5 Hz sample numbers."""
    t = j / MICRO_RATE  # seconds since the Monday-midnight reference
    ph = seeded_rng(seed, 0x3C).uniform(0.0, 2 * np.pi, 2)
    micro = (1.0 + 0.30 * np.sin(2 * np.pi * t / (4.7 * 86400) + ph[0])
             + 0.12 * np.sin(2 * np.pi * t / (1.9 * 86400) + ph[1]))
    local = t + _UTC_OFFSET_S
    hour = (local % 86400) / 3600.0
    weekday = (local // 86400) % 7
    # Daytime activity ramps are zero around midnight, so the weekend switch leaves no step.
    active = (_ramp(hour, 5.5, 8.0) - _ramp(hour, 17.5, 22.0)) * (
        1.0 - 0.15 * (_ramp(hour, 11.8, 12.2) - _ramp(hour, 13.0, 13.5)))
    active *= np.where(weekday >= 5, 0.55, 1.0)
    return micro, st.night_level + (1.0 - st.night_level) * active
