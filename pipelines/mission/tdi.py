"""Mission science on stored streams: TDI A/E/T from Michelson X/Y/Z and the Welch ASD of a
window (on the fly from raw samples when short enough, else from the blocks precomputed at
ingest). Pure numpy/scipy: views draw what these return.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipelines.mission import spectra

RAW_MAX = 2**22  # samples per stream read raw for an on-the-fly spectrum or TDI
SQ2, SQ3, SQ6 = math.sqrt(2), math.sqrt(3), math.sqrt(6)
TDI_NAMES = ("A", "E", "T")


@dataclass
class Spectrum:
    """One ASD line: where it came from and its values."""

    name: str
    freq: np.ndarray
    asd: np.ndarray
    source: str  # "window" (on the fly) or "precomputed (N blocks)"


def tdi_aet(x: np.ndarray, y: np.ndarray, z: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The quasi-orthogonal TDI combinations A, E, T of Michelson X, Y, Z.

    Parameters
    ----------
    x, y, z : numpy.ndarray
        The Michelson combinations on one time grid (NaN where absent).

    Returns
    -------
    tuple of numpy.ndarray
        A = (Z - X)/√2, E = (X - 2Y + Z)/√6, T = (X + Y + Z)/√3.
    """
    return (z - x) / SQ2, (x - 2 * y + z) / SQ6, (x + y + z) / SQ3


def _is_irregular(stream) -> bool:
    return stream.kind == "irregular"


def _present_runs(stream, t0_ns: int, t1_ns: int) -> list[np.ndarray]:
    if _is_irregular(stream):
        return []
    i0, i1 = stream.index_of(t0_ns), stream.index_of(t1_ns)
    if i1 - i0 > RAW_MAX:
        return []
    return [v.astype(np.float64) for _, v in stream.read_segments(t0_ns, t1_ns) if len(v) > 16]


def window_asd(stream, t0_ns: int, t1_ns: int) -> Spectrum | None:
    """ASD of a stream over [t0, t1): Welch on the fly when it is short enough, else the
    precomputed blocks it covers.

    Parameters
    ----------
    stream : pipelines.store.Stream or IrregularStream
        The stream; irregular streams have no ASD.
    t0_ns, t1_ns : int
        The window, ns since the epoch.

    Returns
    -------
    Spectrum or None
        None when neither way gives one (see `no_asd_reason`).
    """
    runs = _present_runs(stream, t0_ns, t1_ns)
    if runs:
        fs = stream.sampling_rate
        longest = max(len(r) for r in runs)
        nper = int(min(longest, max(256, 2 ** int(math.log2(max(longest // 4, 1))))))
        acc, weight = None, 0
        for r in runs:
            if len(r) < nper:
                continue
            psd = spectra.welch_psd(r, fs, nper)
            segs = (len(r) - nper) // (nper - nper // 2) + 1
            acc = psd * segs if acc is None else acc + psd * segs
            weight += segs
        if acc is not None:
            freq = np.arange(len(acc)) * fs / nper
            return Spectrum(stream.name, freq, np.sqrt(acc / weight), "window")
    pre = None if _is_irregular(stream) else spectra.read_asd(stream, t0_ns, t1_ns)
    if pre is None:
        return None
    freq, asd, used = pre
    return Spectrum(stream.name, freq, asd, f"precomputed ({used} blocks)")


def no_asd_reason(stream, t0_ns: int, t1_ns: int) -> str:
    """Why `window_asd` gave no spectrum for this stream and window ('NAME: reason')."""
    if _is_irregular(stream):
        return f"{stream.name}: no ASD, irregular timestamps (Welch needs a regular grid)"
    n = stream.index_of(t1_ns) - stream.index_of(t0_ns)
    if n > RAW_MAX:
        return (f"{stream.name}: no ASD, the window holds {n:,.0f} samples (on the fly up to "
                f"{RAW_MAX:,}) and the store has no precomputed spectra for it: zoom in")
    return f"{stream.name}: no ASD, too few samples in the window"


def xyz_triplets(store, names: list[str]) -> list[str]:
    """Prefixes P with P.X, P.Y and P.Z in the store, for the streams named."""
    have = set(store.streams())
    out = []
    for n in names:
        p, _, last = n.rpartition(".")
        if last in ("X", "Y", "Z") and all(f"{p}.{c}" in have for c in "XYZ") and p not in out:
            out.append(p)
    return out


def aligned_xyz(store, prefix: str, t0_ns: int, t1_ns: int
                ) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """Raw X, Y, Z of `prefix` over [t0, t1) on their common grid (NaN where absent).

    Returns
    -------
    (times_ns, [x, y, z]) or None
        None when the three are not on one grid or the window holds over RAW_MAX samples.
    """
    xs = [store[f"{prefix}.{c}"] for c in "XYZ"]
    s0 = xs[0]
    if any(_is_irregular(s) for s in xs):
        return None
    if any(s.sampling_rate != s0.sampling_rate or s.start_ns != s0.start_ns for s in xs):
        return None
    i0 = max(int(math.floor(s0.index_of(t0_ns))), 0)
    i1 = min(int(math.ceil(s0.index_of(t1_ns))), min(s.length for s in xs))
    if i1 <= i0 or i1 - i0 > RAW_MAX:
        return None
    cols = []
    for s in xs:
        v, m = s.read_raw(i0, i1)
        v = v.astype(np.float64)
        v[~m] = np.nan
        cols.append(v)
    return s0.time_of(np.arange(i0, i1)), cols


def series_asd(name: str, values: np.ndarray, fs: float) -> Spectrum | None:
    """Welch ASD of a computed series (its finite samples), or None when under 65 samples."""
    ok = values[np.isfinite(values)]
    if len(ok) <= 64:
        return None
    nper = int(min(len(ok), 2 ** int(math.log2(max(len(ok) // 4, 64)))))
    psd = spectra.welch_psd(ok, fs, nper)
    return Spectrum(name, np.arange(len(psd)) * fs / nper, np.sqrt(psd),
                    "window (TDI on the fly)")
