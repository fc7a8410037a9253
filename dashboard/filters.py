"""Zero-phase filters applied on the fly to raw windows (never to envelopes: min/max buckets
cannot be filtered)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import signal

from pipelines.store import Stream, Window
from pipelines.timebase import NS

# At most this many raw samples per trace are read to filter a window: a constant, so a
# filtered frame costs the same on a day-long and on a year-long stream.
FILTER_MAX_SAMPLES = 2**18
ORDER = 4
KINDS = ("none", "highpass", "bandpass")


@dataclass(frozen=True)
class FilterSpec:
    """Which filter: `kind` in KINDS, corners in Hz (fmax only for band-pass)."""

    kind: str = "none"
    fmin: float = 1.0
    fmax: float = 10.0

    @property
    def active(self) -> bool:
        """True when a filter is asked for."""
        return self.kind != "none"

    def describe(self) -> str:
        """Short text such as 'high-pass 1 Hz'."""
        if self.kind == "highpass":
            return f"high-pass {self.fmin:g} Hz"
        if self.kind == "bandpass":
            return f"band-pass {self.fmin:g}-{self.fmax:g} Hz"
        return "no filter"


def check_spec(spec: FilterSpec) -> None:
    """Raise ValueError with a clear message when the corners cannot make a filter."""
    if spec.kind not in KINDS:
        raise ValueError(f"filter={spec.kind!r} is not one of {', '.join(KINDS)}")
    if spec.kind == "none":
        return
    if not (spec.fmin > 0 and math.isfinite(spec.fmin)):
        raise ValueError(f"fmin={spec.fmin:g} Hz: the low corner must be a positive frequency")
    if spec.kind == "bandpass" and not spec.fmax > spec.fmin:
        raise ValueError(f"fmax={spec.fmax:g} Hz must be above fmin={spec.fmin:g} Hz")


def design(spec: FilterSpec, rate: float) -> np.ndarray | None:
    """Second-order sections of the Butterworth filter for a sampling rate, or None if the
    corners sit at or above Nyquist for that rate."""
    nyq = rate / 2
    if spec.fmin >= nyq:
        return None
    if spec.kind == "highpass":
        return signal.butter(ORDER, spec.fmin, "highpass", fs=rate, output="sos")
    fmax = min(spec.fmax, 0.95 * nyq)  # a band-pass above Nyquist is a high-pass in effect
    return signal.butter(ORDER, [spec.fmin, fmax], "bandpass", fs=rate, output="sos")


def filter_runs(values: np.ndarray, sos: np.ndarray, min_len: int = 0) -> np.ndarray:
    """Filter each run of present (non-NaN) values separately with sosfiltfilt; runs shorter
    than `min_len` (or than the filter's padding) become NaN rather than ringing."""
    out = np.full(len(values), np.nan)
    present = ~np.isnan(values)
    if not present.any():
        return out
    edges = np.flatnonzero(np.diff(np.concatenate([[0], present.astype(np.int8), [0]])))
    padlen = 3 * (2 * len(sos) + 1)
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if b - a > max(padlen, min_len):
            run = values[a:b] - values[a:b].mean()
            out[a:b] = signal.sosfiltfilt(sos, run, padlen=padlen)
    return out


def filterable(stream: Stream, t0_ns: int, t1_ns: int) -> bool:
    """True when [t0, t1) holds few enough samples to be filtered on the fly."""
    return (t1_ns - t0_ns) / NS * stream.sampling_rate <= FILTER_MAX_SAMPLES


def max_filter_span_ns(stream: Stream) -> float:
    """The longest window of this stream that is filtered on the fly."""
    return FILTER_MAX_SAMPLES / stream.sampling_rate * NS


def read_filtered(stream: Stream, t0_ns: int, t1_ns: int, sos: np.ndarray, fmin: float
                  ) -> Window:
    """Raw samples of [t0, t1) filtered with margins read on both sides against edge effects."""
    n = (t1_ns - t0_ns) / NS * stream.sampling_rate
    # Margins of a few periods of the low corner, within the constant sample budget.
    pad = min(5.0 / fmin * stream.sampling_rate, max((FILTER_MAX_SAMPLES - n) / 2, 0))
    pad_ns = int(pad * stream.period_ns)
    w = stream.read_window(t0_ns - pad_ns, t1_ns + pad_ns, level=0)
    # A run shorter than a period of the low corner has nothing to say about that band.
    filtered = filter_runs(w.lo, sos, min_len=int(stream.sampling_rate / fmin))
    a = max(int(math.floor((t0_ns - w.t0_ns) / w.step_ns)), 0)
    b = min(int(math.ceil((t1_ns - w.t0_ns) / w.step_ns)), len(filtered))
    cut = filtered[a:b]
    return replace(w, t0_ns=int(w.t0_ns + round(a * w.step_ns)), lo=cut, hi=cut)
