"""Spectra precomputed at ingest: a Welch ASD per fixed block of a regular stream.

In the stream group, `spectra/asd` is a (block x frequency) float32 array: row b is the
amplitude spectral density (Welch, Hann window, 50 % overlap, `nperseg` = a quarter of a
block) of grid samples [b * block_n, (b + 1) * block_n), averaged over the runs of present
samples at least `nperseg` long (NaN where there is none); `spectra/coverage` is the
fraction of each block present. The `spectra` group's attributes give the block length,
`fs`, `nperseg`, the frequency grid (`df`, `nf`) and the stream state they were computed
from. A view of a window too long to transform on the fly averages the rows it covers
(`read_asd`). Streams shorter than two blocks, or with blocks under 64 samples, get none.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipelines.ingest.digest import identity
from pipelines.store import Stream, StreamWriter
from pipelines.store.layout import spectra_array
from pipelines.timebase import NS

GROUP = "spectra"
DEFAULT_BLOCK_S = 3600.0
MIN_BLOCK_SAMPLES = 64
BATCH_BLOCKS = 256


def params(rate: float, block_s: float) -> dict[str, Any] | None:
    """Block and Welch parameters for a stream of `rate` Hz, or None when too slow."""
    block_n = int(round(block_s * rate))
    if block_n < MIN_BLOCK_SAMPLES:
        return None
    nperseg = max(block_n // 4, 16)
    return {"kind": "welch-asd", "block_n": block_n, "block_ns": block_n * NS / rate,
            "fs": float(rate), "nperseg": nperseg, "noverlap": nperseg // 2, "window": "hann",
            "df": float(rate) / nperseg, "nf": nperseg // 2 + 1}


def welch_asd(values: np.ndarray, fs: float, nperseg: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, ASD) of contiguous samples by Welch's method (Hann, 50 % overlap)."""
    from scipy.signal import welch

    n = len(values)
    nperseg = int(min(nperseg or n, n))
    f, p = welch(np.asarray(values, dtype=np.float64), fs=fs, nperseg=nperseg,
                 noverlap=nperseg // 2, detrend="constant", axis=-1)
    return f, np.sqrt(p)


def welch_psd(x: np.ndarray, fs: float, nperseg: int) -> np.ndarray:
    """One-sided Welch PSD along the last axis (Hann, 50 % overlap, mean removed per segment),
    as scipy.signal.welch computes it, without its per-segment overhead."""
    from scipy import fft
    from scipy.signal import get_window

    x = np.asarray(x, dtype=np.float64)
    step = nperseg - nperseg // 2
    nseg = (x.shape[-1] - nperseg) // step + 1
    win = get_window("hann", nperseg)
    acc = np.zeros(x.shape[:-1] + (nperseg // 2 + 1,))
    for j in range(nseg):  # one segment per block at a time: bounded memory, few calls
        seg = x[..., j * step:j * step + nperseg]
        seg = (seg - seg.mean(axis=-1, keepdims=True)) * win
        spec = fft.rfft(seg, axis=-1, workers=-1)
        acc += spec.real**2 + spec.imag**2
    psd = acc / (nseg * fs * (win**2).sum())
    psd[..., 1:-1 if nperseg % 2 == 0 else None] *= 2
    return psd


def _block_psd(vals: np.ndarray, mask: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """Mean PSD over the present runs of one block (NaN when no run is long enough)."""
    nper, nov = p["nperseg"], p["noverlap"]
    d = np.diff(np.concatenate([[0], mask.view(np.int8), [0]]))
    acc = np.zeros(p["nf"])
    weight = 0
    for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True):
        if b - a < nper:
            continue
        segs = (b - a - nper) // (nper - nov) + 1
        acc += welch_psd(vals[a:b], p["fs"], nper) * segs
        weight += segs
    return acc / weight if weight else np.full(p["nf"], np.nan)


def update_spectra(w: StreamWriter, i0: int, i1: int, block_s: float = DEFAULT_BLOCK_S,
                   new_files: frozenset[str] = frozenset()) -> int:
    """Recompute the blocks over grid samples [i0, i1), which `new_files` (checksums) just
    filled; all blocks when the stored spectra miss other files (an interrupted run) or do
    not match the stream. Returns the number of blocks computed."""
    p = params(w.sampling_rate, block_s)
    n = w.length
    if p is None or n < 2 * p["block_n"]:
        return 0
    bn = p["block_n"]
    nb = math.ceil(n / bn)
    grp = w.group.get(GROUP)
    attrs = dict(grp.attrs) if grp is not None else {}
    same = grp is not None and all(attrs.get(k) == v for k, v in p.items()) \
        and attrs.get("origin_ns") == w.start_ns
    if not same:
        if grp is not None:
            del w.group[GROUP]
        grp = w.group.create_group(GROUP)
        i0, i1 = 0, n
        asd = grp.create_array("asd", shape=(nb, p["nf"]), **spectra_array("asd", p["nf"]))
        cov = grp.create_array("coverage", shape=(nb,), **spectra_array("coverage", p["nf"]))
    else:
        asd, cov = grp["asd"], grp["coverage"]
        if asd.shape[0] < nb:
            asd.resize((nb, p["nf"]))
            cov.resize((nb,))
        if not (_files(w) - set(new_files)) <= set(attrs.get("files", [])):
            i0, i1 = 0, n  # an interrupted run left blocks behind: redo them all
    b0, b1 = max(i0, 0) // bn, min(math.ceil(i1 / bn), nb)
    if b1 <= b0:
        return 0  # up to date: nothing written
    done = 0
    for c0 in range(b0, b1, BATCH_BLOCKS):
        c1 = min(c0 + BATCH_BLOCKS, b1)
        vals, mask = w.read_raw(c0 * bn, c1 * bn)
        rows = np.full((c1 - c0, p["nf"]), np.nan)
        frac = np.zeros(c1 - c0)
        full_len = (len(vals) // bn) * bn
        if full_len:
            m2 = mask[:full_len].reshape(-1, bn)
            whole = m2.all(axis=1)
            frac[:len(whole)] = m2.mean(axis=1)
            if whole.any():
                v2 = vals[:full_len].reshape(-1, bn)[whole]
                rows[np.flatnonzero(whole)] = welch_psd(v2, p["fs"], p["nperseg"])
            for j in np.flatnonzero(~whole & m2.any(axis=1)):
                rows[j] = _block_psd(vals[j * bn:(j + 1) * bn], m2[j], p)
        if len(vals) > full_len:  # the last, partial block
            j = full_len // bn
            tail_m = mask[full_len:]
            frac[j] = tail_m.sum() / bn
            if tail_m.any():
                rows[j] = _block_psd(vals[full_len:], tail_m, p)
        asd[c0:c1] = np.sqrt(rows).astype(np.float32)
        cov[c0:c1] = frac.astype(np.float32)
        done += c1 - c0
    grp.attrs.put({**p, "origin_ns": int(w.start_ns), "files": sorted(_files(w)),
                   "units": f"{w.attrs.get('units') or 'units'}/sqrt(Hz)"})
    return done


def _files(w: Stream) -> set[str]:
    return {str(identity(p)) for p in w.attrs.get("provenance", [])}


def has_spectra(stream: Stream) -> bool:
    """True when the stream carries precomputed spectra."""
    return GROUP in getattr(stream, "group", {}) and "asd" in stream.group[GROUP]


def read_asd(stream: Stream, t0_ns: int, t1_ns: int
             ) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(frequencies, mean ASD, blocks used) over the blocks inside [t0, t1), weighted by
    coverage (PSDs averaged, then the square root); None when there are none."""
    if not has_spectra(stream):
        return None
    grp = stream.group[GROUP]
    a = dict(grp.attrs)
    bn = int(a["block_n"])
    i0 = max(int(math.floor(stream.index_of(t0_ns) / bn)), 0)
    i1 = min(int(math.ceil(stream.index_of(t1_ns) / bn)), grp["asd"].shape[0])
    if i1 <= i0:
        return None
    rows = grp["asd"][i0:i1].astype(np.float64)
    cov = grp["coverage"][i0:i1].astype(np.float64)
    ok = np.isfinite(rows).all(axis=1) & (cov > 0)
    if not ok.any():
        return None
    psd = np.average(rows[ok] ** 2, axis=0, weights=cov[ok])
    freq = np.arange(int(a["nf"])) * float(a["df"])
    return freq, np.sqrt(psd), int(ok.sum())
