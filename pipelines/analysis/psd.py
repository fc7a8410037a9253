"""Hourly PSDs as ObsPy's PPSD computes them (McNamara & Buland 2004), vectorised over segments.

One PSD per hour-long segment starting every 30 min on UTC (00:00, 00:30, ...): 13+ sub-segments
of nfft = the power of two below a quarter hour's samples, 75 % overlap, each detrended
(linear) and tapered (10 % cosine at each end), Welch-averaged, the response (from the store's
StationXML) removed as acceleration, then averaged in dB over one octave around each period of
a fixed 1/8-octave grid (`2 ** (k / 8)` s). Only complete segments are used (ObsPy's
`skip_on_gaps=True`; its default fills gaps with zeros).

Why not ObsPy's own PPSD.add: it loops in Python per segment and per period bin; here one
batch of sub-segments per FFT call, the detrending lines from one matrix product and removed
in the frequency domain (the FFT is linear), float32 transforms after the hour's mean is
removed in float64, and cumulative sums for the octave means (measured: tests/bench/
bench_analysis.py prints the ratio).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft

from pipelines.analysis.base import DayInput

NAME = "psd"
ALGORITHM = "mcnamara-buland-2004/obspy-ppsd-equivalent/1"
SEGMENT_S = 3600.0
STEP_S = 1800.0
ROWS_PER_DAY = 48
DTINY = np.finfo(0.0).tiny
BATCH_BYTES = 8 * 2**20  # sub-segments per FFT call: small batches stay in cache (64 MiB: slower)

DEFAULTS: dict[str, Any] = {}


def padding_s(params: dict[str, Any], sampling_rate: float) -> tuple[float, float]:
    """The last segment of a day (23:30) runs 30 min into the next day."""
    return 0.0, SEGMENT_S - STEP_S


def nfft_for(sampling_rate: float) -> int:
    """McNamara's FFT length: the power of two at or below a quarter segment's samples."""
    n = SEGMENT_S * sampling_rate / 4.0
    return int(2 ** math.floor(math.log2(n)))


def period_grid(sampling_rate: float) -> tuple[int, np.ndarray]:
    """The fixed 1/8-octave grid for a rate: exponent of the first period, and the periods."""
    nfft = nfft_for(sampling_rate)
    k0 = math.ceil(8 * math.log2(2.0 / sampling_rate) - 1e-9)
    k1 = math.floor(8 * math.log2(nfft / sampling_rate) + 1e-9)
    return k0, 2.0 ** (np.arange(k0, k1 + 1) / 8.0)


def _octave_edges(periods: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left and right edges of the octave around each period, stepped as PPSD steps them
    (multiplied up from the first, in float64): edges that fall on a frequency of the FFT
    then include or leave it exactly as ObsPy does (exact powers of two differ by 1-4 dB)."""
    left, right = [], []
    per_left = periods[0] / 2**0.5
    for _ in periods:
        left.append(per_left)
        right.append(per_left * 2.0)
        per_left *= 2**0.125
    return np.asarray(left), np.asarray(right)


@lru_cache(maxsize=16)
def _plan(sampling_rate: float) -> dict[str, Any]:
    nfft = nfft_for(sampling_rate)
    from obspy.signal.invsim import cosine_taper

    win = cosine_taper(nfft, 0.2)
    t = np.arange(nfft, dtype=np.float64)
    freq = np.fft.rfftfreq(nfft, d=1.0 / sampling_rate)
    _, periods = period_grid(sampling_rate)
    psd_periods = 1.0 / freq[1:][::-1]
    left, right = _octave_edges(periods)
    lo = np.searchsorted(psd_periods, left, "left")
    hi = np.searchsorted(psd_periods, right, "right")
    scale = np.full(nfft // 2 + 1, 2.0)
    scale[0] = 1.0
    if nfft % 2 == 0:
        scale[-1] = 1.0
    scale /= sampling_rate * (win**2).sum()
    return {"nfft": nfft, "nlap": int(0.75 * nfft), "win32": win.astype(np.float32), "t": t,
            "W": np.fft.rfft(win).astype(np.complex64),
            "TW": np.fft.rfft(t * win).astype(np.complex64),
            "tt": ((t - t.mean())**2).sum(),
            "freq": freq, "lo": lo, "hi": hi, "scale": scale,
            "w2": (2 * np.pi * freq[1:][::-1]) ** 2}


def welch(values: np.ndarray, starts: list[int], length: int, sampling_rate: float
          ) -> np.ndarray:
    """mlab.psd (detrend_linear, fft_taper, 75 % overlap, density, one-sided) of each
    segment `values[s:s + length]`, as ObsPy's PPSD calls it; rows in `starts` order."""
    p = _plan(sampling_rate)
    nfft, step = p["nfft"], p["nfft"] - p["nlap"]
    nsub = (length - p["nlap"]) // step
    out = np.empty((len(starts), nfft // 2 + 1))
    tmean, tt = (nfft - 1) / 2.0, p["tt"]
    sub0 = np.arange(nsub) * step
    per_batch = max(1, BATCH_BYTES // (nsub * nfft * 4))
    lines = np.stack([np.ones(nfft), p["t"]], axis=1).astype(np.float32)
    for b0 in range(0, len(starts), per_batch):
        rows = np.stack([values[s:s + length] for s in starts[b0:b0 + per_batch]])
        # The hour's mean goes in float64; what is left is safe in float32 (its rounding
        # stays ~120 dB below the spectrum), whose transforms are ~1.5x faster.
        rows = (rows - rows.mean(axis=1, keepdims=True)).astype(np.float32)
        sub = np.lib.stride_tricks.sliding_window_view(rows, nfft, axis=1)[:, sub0]
        # Each sub-segment's least-squares line from two sums (one BLAS call: measured ~10x
        # faster than running sums of the hour), removed in the frequency domain:
        # FFT(w (x - a - b t)) = FFT(w x) - a FFT(w) - b FFT(w t).
        sums = (sub @ lines).astype(np.float64)
        slope = (sums[..., 1] - tmean * sums[..., 0]) / tt
        a = sums[..., 0] / nfft - slope * tmean
        tapered = sub * p["win32"]
        spec = scipy.fft.rfft(tapered, axis=-1, workers=1, overwrite_x=True)
        spec -= a.astype(np.float32)[..., None] * p["W"] + \
            slope.astype(np.float32)[..., None] * p["TW"]
        # |spec|^2 summed over sub-segments: square the interleaved re/im floats in place,
        # sum over the sub-segments, then add each pair (two passes, no complex temporaries)
        flat = spec.view(np.float32)
        np.square(flat, out=flat)
        summed = flat.sum(axis=1, dtype=np.float64)
        power = summed[..., 0::2] + summed[..., 1::2]
        out[b0:b0 + len(rows)] = power * (p["scale"] / nsub)
    return out


def smooth_db(spec: np.ndarray, response: np.ndarray | None, sampling_rate: float
              ) -> np.ndarray:
    """Welch spectra (rows) -> acceleration dB averaged over an octave per grid period."""
    p = _plan(sampling_rate)
    spec = spec[:, 1:][:, ::-1]
    if response is not None:
        resp = response[1:][::-1]
        spec = p["w2"] * spec / (resp.real**2 + resp.imag**2)
    db = 10.0 * np.log10(np.maximum(spec, DTINY))
    c = np.concatenate([np.zeros((len(db), 1)), np.cumsum(db, axis=1)], axis=1)
    lo, hi = p["lo"], p["hi"]
    n = (hi - lo).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (c[:, hi] - c[:, lo]) / n
    out[:, n == 0] = np.nan
    return out.astype(np.float32)


def response_curve(response: Any, sampling_rate: float) -> np.ndarray:
    """The velocity response at the FFT's frequencies (as PPSD evaluates it, with evalresp)."""
    return response.get_evalresp_response(t_samp=1.0 / sampling_rate,
                                          nfft=nfft_for(sampling_rate), output="VEL")[0]


def compute(day: DayInput, params: dict[str, Any]) -> np.ndarray:
    """The day's PSD rows (48 x grid periods, dB; NaN rows where a segment is incomplete)."""
    rate = day.sampling_rate
    _, periods = period_grid(rate)
    length = int(round(SEGMENT_S * rate))
    out = np.full((ROWS_PER_DAY, len(periods)), np.nan, dtype=np.float32)
    starts, rows = [], []
    for k in range(ROWS_PER_DAY):
        i0 = day.index_at(day.day_ns + int(k * STEP_S * 1e9))
        if i0 < 0 or i0 + length > len(day.values) or not day.present[i0:i0 + length].all():
            continue
        starts.append(k)
        rows.append(i0)
    if not rows:
        return out
    spec = welch(day.values, rows, length, rate)
    out[starts] = smooth_db(spec, day.context.get("response"), rate)
    return out
