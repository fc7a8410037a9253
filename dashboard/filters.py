"""Filters of the waveform views: zero-phase filters applied on the fly to raw windows (never
to envelopes: min/max buckets cannot be filtered), and the stored filtered pyramids of the
standard bands (`pipelines.analysis.filtered`), read like a stream at any span (`BandSource`).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from pipelines.analysis import filtered as bands
from pipelines.store import Stream, Window, filtered_bands, open_filtered
from pipelines.timebase import NS

# At most this many raw samples per trace are read to filter a window: a constant, so a
# filtered frame costs the same on a day-long and on a year-long stream.
FILTER_MAX_SAMPLES = 2**18
ORDER = bands.ORDER
KINDS = ("none", "highpass", "bandpass", "lowpass")
BAND_RECHECK_S = 5.0  # a stream's list of stored bands is looked up again after this long


@dataclass(frozen=True)
class FilterSpec:
    """Which filter: `kind` in KINDS, corners in Hz (fmax only for band-pass; a low-pass'
    corner is `fmin`, the one corner of one-corner filters, as for a high-pass)."""

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
        if self.kind == "lowpass":
            return f"low-pass {self.fmin:g} Hz"
        return "no filter"

    @property
    def band(self) -> bands.Band | None:
        """The filter as a standard band (None: no filter)."""
        if self.kind == "none":
            return None
        corners = (self.fmin, self.fmax) if self.kind == "bandpass" else (self.fmin,)
        return bands.Band(self.kind, tuple(float(c) for c in corners))


def spec_of(band: bands.Band) -> FilterSpec:
    """The filter spec of a standard band."""
    if band.kind == "bandpass":
        return FilterSpec("bandpass", band.corners[0], band.corners[1])
    return FilterSpec(band.kind, band.corners[0])


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
    corners sit at or above Nyquist for that rate (the standard bands' own design)."""
    band = spec.band
    return None if band is None else bands.design(band, rate)


def filter_runs(values: np.ndarray, sos: np.ndarray, min_len: int = 0) -> np.ndarray:
    """Filter each run of present (non-NaN) values separately with sosfiltfilt; runs shorter
    than `min_len` (or than the filter's padding) become NaN rather than ringing."""
    return bands.filter_runs(values, sos, max(min_len, 3 * (2 * len(sos) + 1)))


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


# -- stored bands ---------------------------------------------------------------------------
class BandSource:
    """A stream's stored filtered pyramid in one band, read like the stream (`read_window`,
    `span_ns`...; the frame code takes it in place of the stream): levels from the stored
    pyramid, and the samples, where a view shows them, filtered on the fly with the band's
    filter and padding, so the trace is the same whether zoomed in or out."""

    def __init__(self, raw: Stream, band: bands.Band, pyramid):
        self.raw, self.band, self.pyramid = raw, band, pyramid
        self.name, self.store = raw.name, raw.store
        self.sampling_rate, self.period_ns = raw.sampling_rate, raw.period_ns
        self.attrs, self.segments, self.kind = raw.attrs, raw.segments, raw.kind

    @property
    def span_ns(self) -> tuple[int, int] | None:
        """The raw stream's span."""
        return self.raw.span_ns

    def describe(self) -> str:
        """'band-pass 0.5-2 Hz (stored band)'."""
        return f"{self.band.describe()} (stored band)"

    def read_window(self, t0_ns: int, t1_ns: int, max_points: int = 2000,
                    level: int | None = None) -> Window:
        """The filtered signal over [t0, t1) at screen resolution (as `Stream.read_window`)."""
        if level is None:
            level = self.raw.choose_level(t0_ns, t1_ns, max_points)
        if level >= 1:
            return self.pyramid.read_window(t0_ns, t1_ns, level)
        pad_ns = int(bands.padding_samples(self.band, self.sampling_rate) * self.period_ns)
        w = self.raw.read_window(t0_ns - pad_ns, t1_ns + pad_ns, level=0)
        y = bands.filtered(self.band, w.lo, self.sampling_rate)
        if y is None or not len(w.lo):
            return w
        a = max(int(math.floor((t0_ns - w.t0_ns) / w.step_ns)), 0)
        b = min(int(math.ceil((t1_ns - w.t0_ns) / w.step_ns)), len(y))
        cut = y[a:b]
        return replace(w, t0_ns=int(w.t0_ns + round(a * w.step_ns)), lo=cut, hi=cut)


_KEPT: dict[tuple, tuple[float, object]] = {}
_KEPT_LOCK = threading.Lock()


def stored_bands(stream: Stream) -> list[bands.Band]:
    """The bands a stream has a stored filtered pyramid of (looked up every few seconds)."""
    key = ("list", stream.store.url if hasattr(stream.store, "url") else id(stream.store),
           stream.name)
    now = time.monotonic()
    hit = _KEPT.get(key)
    if hit is None or now - hit[0] > BAND_RECHECK_S:
        found = []
        for name in filtered_bands(stream.store, stream.name):
            try:
                found.append(bands.parse_band(name))
            except ValueError:
                continue  # a group this version does not name: not a band it can read
        hit = (now, found)
        with _KEPT_LOCK:
            _KEPT[key] = hit
    return list(hit[1])


def band_source(stream: Stream, band: bands.Band) -> BandSource | None:
    """The stored filtered pyramid of `band` as a source, or None when the stream has none."""
    if getattr(stream, "kind", "") != "regular" or band not in stored_bands(stream):
        return None
    key = ("band", id(stream), stream.name, band)
    now = time.monotonic()
    hit = _KEPT.get(key)
    if hit is None or now - hit[0] > BAND_RECHECK_S or hit[1].raw is not stream:
        pyramid = open_filtered(stream.store, stream, band.name)
        if pyramid is None:
            return None
        hit = (now, BandSource(stream, band, pyramid))
        with _KEPT_LOCK:
            if len(_KEPT) > 4096:
                _KEPT.clear()
            _KEPT[key] = hit
    return hit[1]


def stored_band(stream: Stream, spec: FilterSpec) -> BandSource | None:
    """The stored band that is exactly `spec` (kind and corners), as a source; else None."""
    band = spec.band
    return None if band is None else band_source(stream, band)


def band_choice(state, streams: list[Stream]):
    """A select of the stored bands of `streams` that sets `state`'s filter (kind, fmin,
    fmax) to one of them: those draw at every span; '—' when the filter is none of them."""
    import panel as pn

    found: dict[str, bands.Band] = {}
    for s in streams:
        for b in stored_bands(s) if getattr(s, "kind", "") == "regular" else []:
            found.setdefault(b.describe(), b)
    options = {"—": "", **{k: b.name for k, b in sorted(found.items())}}

    def current() -> str:
        spec = FilterSpec(state.filter_kind, float(state.fmin or 1.0), float(state.fmax or 10.0))
        band = spec.band
        return band.name if band is not None and band.describe() in found else ""

    widget = pn.widgets.Select(name="Stored band (any span)", options=options, value=current(),
                               width=170, disabled=len(options) == 1)

    def chosen(event) -> None:
        if event.new:
            spec = spec_of(bands.parse_band(event.new))
            state.param.update(filter_kind=spec.kind, fmin=spec.fmin, fmax=spec.fmax)

    widget.param.watch(chosen, "value")
    state.param.watch(lambda e: setattr(widget, "value", current()),
                      ["filter_kind", "fmin", "fmax"])
    return widget


MISSING_MAX_DAYS = 3660  # a longer span is not checked for missing band days (bounded work)


def missing_days(src: BandSource, t0_ns: int, t1_ns: int) -> list[int]:
    """Starts of the UTC days in [t0, t1) where the raw stream has data that its stored band
    lacks (a day not filtered yet, or filtered before more of its data came): compared hour
    by hour at one coarse pyramid level of both, so the cost is that of a few buckets a day."""
    from pipelines.timebase import DAY_NS

    d0, d1 = t0_ns // DAY_NS * DAY_NS, -(-t1_ns // DAY_NS) * DAY_NS
    days = (d1 - d0) // DAY_NS
    if days <= 0 or days > MISSING_MAX_DAYS:
        return []
    # Kept a few seconds: a page asks again at every repaint, the answer changes with commits.
    key = ("missing", id(src.pyramid), src.name, src.raw.span_ns, d0, d1)
    hit = _KEPT.get(key)
    if hit is not None and time.monotonic() - hit[0] <= BAND_RECHECK_S:
        return list(hit[1])
    hour = 3600 * NS
    level = max(src.raw.choose_level(d0, d1, days * 24 * 4), 1)

    def hours_with_data(w: Window) -> np.ndarray:
        have = np.zeros(days * 24, bool)
        if len(w.lo):
            t = w.t0_ns + np.arange(len(w.lo)) * float(w.step_ns)
            cell = ((t - d0) // hour).astype(np.int64)
            ok = np.isfinite(w.lo) & (cell >= 0) & (cell < len(have))
            have[cell[ok]] = True
        return have

    raw = hours_with_data(src.raw.read_window(d0, d1, level=level))
    band = hours_with_data(src.pyramid.read_window(d0, d1, level))
    lacking = (raw & ~band).reshape(days, 24).any(axis=1)
    found = [int(d0 + i * DAY_NS) for i in np.flatnonzero(lacking)]
    with _KEPT_LOCK:
        if len(_KEPT) > 4096:
            _KEPT.clear()
        _KEPT[key] = (time.monotonic(), found)
    return list(found)


def missing_note(src: BandSource, t0_ns: int, t1_ns: int, max_points: int) -> str | None:
    """'band bp1-8 not computed for XX.STA.00.HHZ on 2024-03-05; run `belvedere analyse
    filter`' when a view of `max_points` reads the stored levels (samples are filtered on
    the fly, whole) and some day of the span lacks the band where the raw data is there."""
    from pipelines.timebase import format_time

    if src.raw.choose_level(t0_ns, t1_ns, max_points) < 1:
        return None
    days = missing_days(src, t0_ns, t1_ns)
    if not days:
        return None
    names = [format_time(d)[:10] for d in days]
    when = ", ".join(names) if len(names) <= 3 else \
        f"{len(names)} days from {names[0]} to {names[-1]}"
    return (f"band {src.band.name} not computed for {src.name} on {when} (drawn as gaps "
            f"there); run `belvedere analyse filter`")


def missing_notes(streams: list[Stream], spec: FilterSpec, t0_ns: int, t1_ns: int,
                  max_points: int) -> list[str]:
    """The `missing_note` of every stream shown through its stored band of `spec`."""
    if not spec.active:
        return []
    notes = []
    for s in streams:
        src = stored_band(s, spec)
        note = src and missing_note(src, t0_ns, t1_ns, max_points)
        if note:
            notes.append(note)
    return notes
