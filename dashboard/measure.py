"""Measurements on a selected window: peak-to-peak, RMS, mean and dominant frequency of the
raw samples in it (never of the envelope drawn), at most `MAX_SAMPLES` samples per trace."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from pipelines.store import Stream
from pipelines.timebase import NS, format_duration, format_time

MAX_SAMPLES = 2**20  # ~3 h at 100 Hz: a bounded read however long the selection


@dataclass
class Measurement:
    """What the samples of one stream in [t0, t1) say; `why` is set when there are none."""

    stream: str
    units: str
    samples: int = 0
    first_ns: int = 0  # time of the first sample measured
    mean: float = float("nan")
    rms: float = float("nan")  # root mean square about the mean
    peak_to_peak: float = float("nan")
    dominant_hz: float = float("nan")  # of the longest gap-free run (demeaned, Hann window)
    why: str = ""


def samples_in(stream: Stream, t0_ns: int, t1_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """(times ns, values) of the stored samples with t0 <= time < t1 (NaN where absent)."""
    w = stream.read_window(t0_ns, t1_ns, level=0)
    t = w.times_ns
    keep = (t >= t0_ns) & (t < t1_ns)
    return t[keep], np.asarray(w.lo, dtype=np.float64)[keep]


def dominant_frequency(values: np.ndarray, rate: float) -> float:
    """The frequency (Hz) of the largest peak of the amplitude spectrum (DC left out) of the
    demeaned, Hann-windowed samples; NaN for fewer than 4."""
    if len(values) < 4:
        return float("nan")
    x = (values - values.mean()) * np.hanning(len(values))
    spec = np.abs(np.fft.rfft(x))
    k = 1 + int(np.argmax(spec[1:]))
    return float(np.fft.rfftfreq(len(values), 1.0 / rate)[k])


def longest_run(present: np.ndarray) -> tuple[int, int]:
    """[a, b) of the longest run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], present.astype(np.int8), [0]])))
    if not len(edges):
        return 0, 0
    lengths = edges[1::2] - edges[::2]
    i = int(np.argmax(lengths))
    return int(edges[2 * i]), int(edges[2 * i + 1])


def measure(stream: Stream, t0_ns: int, t1_ns: int, sensitivity: float | None = None,
            units: str = "counts") -> Measurement:
    """Measure the raw samples of [t0, t1) (divided by `sensitivity` when given)."""
    m = Measurement(stream.name, units)
    expected = (t1_ns - t0_ns) / NS * stream.sampling_rate
    if expected > MAX_SAMPLES:
        limit = format_duration(MAX_SAMPLES / stream.sampling_rate * NS)
        m.why = (f"{expected:,.0f} samples selected; measurements read at most "
                 f"{MAX_SAMPLES:,} raw samples ({limit} at {stream.sampling_rate:g} Hz): "
                 "select a shorter window")
        return m
    t, v = samples_in(stream, t0_ns, t1_ns)
    present = ~np.isnan(v)
    if not present.any():
        m.why = "no sample in the selection"
        return m
    if sensitivity:
        v = v / sensitivity
    x = v[present]
    m.samples = int(len(x))
    m.first_ns = int(t[present][0])
    m.mean = float(np.mean(x))
    m.rms = float(np.sqrt(np.mean((x - m.mean) ** 2)))
    m.peak_to_peak = float(np.ptp(x))
    a, b = longest_run(present)
    m.dominant_hz = dominant_frequency(v[a:b], stream.sampling_rate)
    return m


def table_html(found: list[Measurement], t0_ns: int, t1_ns: int) -> str:
    """The measurements as an HTML table (values to 7 significant digits)."""
    head = ("<tr><th>stream</th><th>samples</th><th>first sample</th><th>peak-to-peak</th>"
            "<th>RMS (about the mean)</th><th>mean</th><th>dominant frequency</th></tr>")
    rows = []
    for m in found:
        name = html.escape(m.stream)
        if m.why:
            rows.append(f"<tr><td>{name}</td><td colspan='6'>{html.escape(m.why)}</td></tr>")
            continue
        u = html.escape(m.units)
        rows.append(
            f"<tr class='bv-measure' data-stream='{name}'><td>{name}</td>"
            f"<td class='n'>{m.samples}</td><td>{format_time(m.first_ns)}</td>"
            f"<td class='p2p'>{m.peak_to_peak:.7g} {u}</td><td class='rms'>{m.rms:.7g} {u}</td>"
            f"<td class='mean'>{m.mean:.7g} {u}</td>"
            f"<td class='fdom'>{m.dominant_hz:.7g} Hz</td></tr>")
    title = (f"Selection {format_time(t0_ns)} → {format_time(t1_ns)} "
             f"({format_duration(t1_ns - t0_ns)}), raw samples")
    return (f"<div class='bv-measure-title'>{html.escape(title)}</div>"
            f"<table class='bv-table bv-measurements'><thead>{head}</thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
