"""Filtered pyramids: the min/max pyramid of a stream filtered in standard bands.

A band is a Butterworth filter (4 corners, zero phase: `sosfiltfilt` forward and back, as the
waveform page filters on the fly) of one kind: high-pass, band-pass or low-pass. Each
contiguous run of samples is filtered on its own (a gap is never filled); a run shorter than
a period of the band's lowest corner stays absent (it says nothing about that band).

A (stream, UTC day) task reads the day plus `padding_s` at both edges, filters it, and
returns the level-1 min/max buckets (`PYRAMID_FACTOR` raw samples each, aligned on the raw
stream's grid like its own pyramid) of the buckets that meet the day; the engine writes them
with `pipelines.store.filtered` and builds the coarser levels there. The padding is where the
filter's impulse response (forward and back) has decayed to `TAIL` of its total: a value at
the day's edge then differs from that of the whole archive filtered in one piece by at most
`TAIL` times the largest amplitude nearby (under a thousandth of a count for amplitudes of
a million counts), so no step shows at a day or a chunk edge.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import signal

from pipelines.analysis.base import DayInput
from pipelines.store import PYRAMID_FACTOR, runs_of
from pipelines.store.pyramid import reduce_pow2

NAME = "filter"
ALGORITHM = "butterworth-sosfiltfilt/minmax-level1/1"
ORDER = 4
DEFAULT_BANDS = ("hp1", "bp0.5-2", "bp1-8", "bp2-10", "lp0.1")
DEFAULTS: dict[str, Any] = {"bands": list(DEFAULT_BANDS)}
KINDS = {"hp": "highpass", "bp": "bandpass", "lp": "lowpass"}
TAIL = 1e-9  # the impulse response left beyond the padding, relative to its total
MAX_PAD_S = 3600.0
BANDPASS_TOP = 0.95  # of Nyquist: a band-pass above it is a high-pass in effect


@dataclass(frozen=True)
class Band:
    """A standard filter band: `kind` (highpass, bandpass, lowpass) and its corners in Hz
    (one for high- and low-pass, two for band-pass)."""

    kind: str
    corners: tuple[float, ...]

    @property
    def name(self) -> str:
        """The band's name in configs, URLs and product paths: `bp0.5-2`, `hp1`, `lp0.1`."""
        short = {v: k for k, v in KINDS.items()}[self.kind]
        return short + "-".join(f"{c:g}" for c in self.corners)

    @property
    def fmin(self) -> float:
        """The lowest corner: the slowest the filter passes (a low-pass' only corner)."""
        return self.corners[0]

    def describe(self) -> str:
        """Text such as 'band-pass 0.5-2 Hz'."""
        word = {"highpass": "high-pass", "bandpass": "band-pass", "lowpass": "low-pass"}
        return f"{word[self.kind]} {'-'.join(f'{c:g}' for c in self.corners)} Hz"

    def as_attrs(self) -> dict[str, Any]:
        """The band as stored in its product's attributes."""
        return {"name": self.name, "kind": self.kind, "corners_hz": list(self.corners),
                "order": ORDER, "zero_phase": True, "design": "scipy.signal.butter sos",
                "apply": "scipy.signal.sosfiltfilt per contiguous run"}


_BAND = re.compile(r"^\s*(hp|bp|lp|highpass|bandpass|lowpass)?\s*([0-9.eE+]+)"
                   r"(?:\s*-\s*([0-9.eE+]+))?\s*(?:hz)?\s*$", re.IGNORECASE)


def parse_band(text: str) -> Band:
    """`"bp0.5-2"`, `"0.5-2"`, `"hp1"`, `"lp 0.1 Hz"` -> Band; ValueError naming the problem."""
    m = _BAND.match(str(text))
    if not m:
        raise ValueError(f"band {text!r}: expected hpF, lpF or bpLOW-HIGH in Hz "
                         "(e.g. hp1, lp0.1, bp0.5-2)")
    word, a, b = m.group(1), m.group(2), m.group(3)
    kind = KINDS.get((word or ("bp" if b else "")).lower()[:2], "")
    try:
        corners = (float(a),) if b is None else (float(a), float(b))
    except ValueError:
        raise ValueError(f"band {text!r}: {a!r} or {b!r} is not a number") from None
    if not kind:
        raise ValueError(f"band {text!r}: say hp, lp or bp before the corner (e.g. hp{a})")
    if (kind == "bandpass") != (len(corners) == 2):
        raise ValueError(f"band {text!r}: a band-pass has two corners (bp0.5-2), high- and "
                         "low-pass one (hp1, lp0.1)")
    if not all(math.isfinite(c) and c > 0 for c in corners) or sorted(corners) != list(corners) \
            or len(set(corners)) != len(corners):
        raise ValueError(f"band {text!r}: corners must be positive and increasing")
    return Band(kind, corners)


def bands_of(params: dict[str, Any]) -> list[Band]:
    """The bands of the analysis' parameters (names or [low, high] pairs)."""
    out = []
    for b in params["bands"]:
        if isinstance(b, list | tuple):  # [low, high] as RSAM's bands are given
            b = "bp" + "-".join(str(x) for x in b)
        out.append(parse_band(str(b)))
    return out


def check(params: dict[str, Any]) -> None:
    """ValueError naming the band that cannot be read (the engine checks before planning)."""
    if not isinstance(params.get("bands"), list) or not params["bands"]:
        raise ValueError("bands must be a non-empty list such as [\"hp1\", \"bp0.5-2\"]")
    names = [b.name for b in bands_of(params)]
    if len(set(names)) != len(names):
        raise ValueError(f"bands {names} name a band twice")


def usable(params: dict[str, Any], rate: float) -> list[Band]:
    """The bands a stream of this rate gets (lowest corner under Nyquist)."""
    return [b for b in bands_of(params) if design(b, rate) is not None]


def design(band: Band, rate: float) -> np.ndarray | None:
    """Second-order sections of the band's filter at a sampling rate; None when its lowest
    corner sits at or above Nyquist there (the band says nothing of that stream)."""
    nyq = rate / 2
    if band.fmin >= nyq:
        return None
    if band.kind == "highpass":
        return signal.butter(ORDER, band.corners[0], "highpass", fs=rate, output="sos")
    if band.kind == "lowpass":
        return signal.butter(ORDER, band.corners[0], "lowpass", fs=rate, output="sos")
    top = min(band.corners[1], BANDPASS_TOP * nyq)
    return signal.butter(ORDER, [band.corners[0], top], "bandpass", fs=rate, output="sos")


@lru_cache(maxsize=256)
def padding_samples(band: Band, rate: float) -> int:
    """Samples read beyond each edge: where the forward-backward impulse response has decayed
    to `TAIL` of its total (the error a truncated run makes at that distance)."""
    sos = design(band, rate)
    if sos is None:
        return 0
    n = int(min(MAX_PAD_S, 200.0 / band.fmin) * rate) + 1
    imp = np.zeros(n)
    imp[0] = 1.0
    h = np.abs(signal.sosfilt(sos, imp))
    # The backward pass sees the forward pass' tail: the response of both is that of one
    # pass convolved with itself, whose tail beyond t is bounded by the tail of one pass
    # beyond t/2 times its total: twice the one-pass distance is safe.
    tail = np.cumsum(h[::-1])[::-1]
    below = np.flatnonzero(tail <= TAIL * tail[0])
    one = int(below[0]) if len(below) else n
    return min(2 * one + 16, int(MAX_PAD_S * rate))


def padding_s(params: dict[str, Any], sampling_rate: float) -> tuple[float, float]:
    """The widest padding of the stream's bands, at both edges."""
    pads = [padding_samples(b, float(sampling_rate)) for b in bands_of(params)]
    s = (max(pads) if pads else 0) / sampling_rate
    return s, s


def min_run(band: Band, rate: float) -> int:
    """The shortest run filtered: a period of the lowest corner (and sosfiltfilt's own edge)."""
    return max(int(rate / band.fmin), 3 * (2 * 2 * ORDER + 1))


def filter_runs(values: np.ndarray, sos: np.ndarray, min_len: int,
                runs: list[tuple[int, int]] | None = None) -> np.ndarray:
    """Each run of present (non-NaN) values filtered on its own (float64, NaN elsewhere and on
    runs of `min_len` values or fewer); `runs`: those runs when already known."""
    out = np.full(len(values), np.nan)
    for a, b in runs_of(~np.isnan(values)) if runs is None else runs:
        if b - a > min_len:
            out[a:b] = signal.sosfiltfilt(sos, values[a:b])
    return out


def filtered(band: Band, values: np.ndarray, rate: float,
             runs: list[tuple[int, int]] | None = None) -> np.ndarray | None:
    """`values` (float64, NaN absent) filtered in `band`, or None when it is above Nyquist."""
    sos = design(band, rate)
    if sos is None:
        return None
    return filter_runs(values, sos, min_run(band, rate), runs)


def level1(y: np.ndarray, index0: int, a: int, b: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(first bucket, min, max) of the level-1 buckets that meet values [a, b) of `y`, whose
    value 0 is raw index `index0` (float32, NaN where a bucket holds no value)."""
    f = PYRAMID_FACTOR
    b0, b1 = (index0 + a) // f, -(-(index0 + b) // f)
    lo, hi = b0 * f - index0, b1 * f - index0
    seg = np.full(hi - lo, np.nan)
    src0, src1 = max(lo, 0), min(hi, len(y))
    seg[src0 - lo:src1 - lo] = y[src0:src1]
    # fmin/fmax ignore NaN (absent values) and give NaN for empty buckets, without warnings;
    # pairwise halving is several times faster than a reduction along a short axis.
    mn, mx = reduce_pow2(seg, f, np.fmin), reduce_pow2(seg, f, np.fmax)
    return int(b0), mn.astype(np.float32), mx.astype(np.float32)


def compute(day: DayInput, params: dict[str, Any]) -> dict[str, tuple[int, np.ndarray, np.ndarray]]:
    """Per band name: the level-1 (first bucket, min, max) of the buckets meeting the day."""
    rate = day.sampling_rate
    index0 = int(day.context["index0"])
    a, b = day.index_at(day.day_ns), day.index_at(day.day_ns + 86400 * 10**9)
    a, b = max(a, 0), min(b, len(day.values))
    out = {}
    runs = runs_of(day.present & ~np.isnan(day.values))
    for band in bands_of(params):
        y = filtered(band, day.values, rate, runs)
        if y is not None and b > a:
            out[band.name] = level1(y, index0, a, b)
    return out
