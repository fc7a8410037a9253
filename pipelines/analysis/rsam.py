"""RSAM (mean absolute amplitude) and RMS of band-passed samples per fixed interval.

Each band is a zero-phase Butterworth band-pass (`sosfiltfilt`) over each contiguous run of
the day plus padding; each interval bin is aligned on UTC (minutes, 10 minutes) and gets a
value when at least half of its samples are present. The padding (10 min, many times the
filters' impulse response at 0.5 Hz) makes the values of a day independent of where it ends.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.signal import butter, sosfiltfilt

from pipelines.analysis.bands import DEFAULT_BANDS, band_name, usable
from pipelines.analysis.base import DayInput
from pipelines.store import runs_of

NAME = "rsam"
ALGORITHM = "butterworth-sosfiltfilt/mean-abs-rms/1"
DEFAULTS: dict[str, Any] = {"bands": [list(b) for b in DEFAULT_BANDS], "intervals_s": [60, 600],
                            "metrics": ["mean_abs", "rms"], "corners": 4, "pad_s": 600}
MIN_PRESENT = 0.5


def padding_s(params: dict[str, Any], sampling_rate: float) -> tuple[float, float]:
    """Filter run-in at both ends."""
    return float(params["pad_s"]), float(params["pad_s"])


def series_of(params: dict[str, Any], sampling_rate: float) -> list[tuple[str, tuple, int, str]]:
    """(series name, band, interval s, metric) of each series this stream gets."""
    return [(f"{band_name(tuple(b))}_{iv}s_{m}", tuple(b), int(iv), m)
            for b in params["bands"] if usable(tuple(b), sampling_rate)
            for iv in params["intervals_s"] for m in params["metrics"]]


def compute(day: DayInput, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per series: the day's values (float32, NaN where too few samples), bins from 00:00."""
    rate = day.sampling_rate
    out: dict[str, np.ndarray] = {}
    series = series_of(params, rate)
    bands = sorted({s[1] for s in series})
    filtered = {b: np.full(len(day.values), np.nan) for b in bands}
    for a, b in runs_of(day.present):
        x = day.values[a:b] - day.values[a:b].mean()
        for band in bands:
            sos = butter(params["corners"], band, btype="bandpass", fs=rate, output="sos")
            if b - a > 3 * (2 * params["corners"] + 1) * 2:  # sosfiltfilt's default padding
                filtered[band][a:b] = sosfiltfilt(sos, x)
    for name, band, iv, metric in series:
        nbins = 86400 // iv
        i0, i1 = day.index_at(day.day_ns), day.index_at(day.day_ns + 86400 * 10**9)
        y = filtered[band][i0:i1]
        t = (day.time_of(np.arange(i0, i1)) - day.day_ns) // (iv * 10**9)
        ok = np.isfinite(y)
        idx = t[ok].astype(np.int64)
        count = np.bincount(idx, minlength=nbins)[:nbins]
        vals = np.abs(y[ok]) if metric == "mean_abs" else y[ok] ** 2
        total = np.bincount(idx, weights=vals, minlength=nbins)[:nbins]
        with np.errstate(invalid="ignore", divide="ignore"):
            v = total / count
        if metric == "rms":
            v = np.sqrt(v)
        v[count < MIN_PRESENT * iv * rate] = np.nan
        out[name] = v.astype(np.float32)
    return out
