"""The frame function: streams + time range + pixel size -> one RGBA image of stacked traces.

Everything a waveform view draws for one range comes from here, so the cost of a frame is what
this module reads (at most ~16 values per pixel column and trace) and paints (the pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from dashboard import amplitude, filters, raster
from pipelines.store import Stream, Window
from pipelines.timebase import NS, format_duration

# Pixels a frame may have along either side: more than any screen (8K is 7680 wide). A
# browser reports the plot's size and a client may report any number: 1e6 columns took 3 s and
# 650 MB, 1e8 would take the machine's memory.
MAX_FRAME_PX = 8192
PALETTE = ("#1f4e99", "#b0361f", "#1d7a46", "#6a3d9a", "#8c5a00", "#0f7c8c")
SCALES = ("robust", "trace", "shared")
UNITS = ("counts", "physical")


@dataclass(frozen=True)
class FrameOptions:
    """How traces are drawn: amplitude scale, units and filter."""

    # "robust": a high percentile of each trace's envelope fills its band (see `amplitude`);
    # "trace": each trace's maximum does; "shared": one true amplitude
    scale: str = "robust"
    units: str = "counts"  # "physical": divided by the StationXML sensitivity where known
    filter: filters.FilterSpec = field(default_factory=filters.FilterSpec)


@dataclass
class Trace:
    """One band of a frame: the window drawn and how it was scaled."""

    name: str
    window: Window | None
    units: str
    center: float = 0.0
    scale: float = 0.0
    filtered: bool = False
    present: bool = False  # any sample in the window
    scale_kind: str = "trace"  # which scale (`amplitude.KINDS`)
    clipped: float = 0.0  # fraction of buckets beyond the scale (robust)

    @property
    def label(self) -> str:
        """Amplitude text shown in the band, e.g. '±2.1e-06 m/s'."""
        if self.window is None or not self.present:
            return "no data here"
        level = "samples" if self.window.is_raw else f"envelope L{self.window.level}"
        if not self.scale:
            return f"flat at {self.center:.6g} {self.units} · {level}"
        clip = f", {100 * self.clipped:.2g} % clipped" if self.clipped else ""
        return (f"±{self.scale:.3g} {self.units} ({amplitude.KINDS[self.scale_kind]}{clip})"
                f" · {level}")


@dataclass
class Frame:
    """An image of stacked bands (row 0 at the top) with what each band shows."""

    index: np.ndarray  # (height, width) uint8: 0 background, k the colour PALETTE[k - 1]
    t0_ns: int
    t1_ns: int
    traces: list[Trace]
    notes: list[str]

    @property
    def image(self) -> np.ndarray:
        """(height, width) uint32 RGBA (Bokeh's image_rgba) in the light palette."""
        lut = np.array([0, *(raster.rgba(c) for c in PALETTE)], dtype=np.uint32)
        return lut[self.index]

    @property
    def band_height(self) -> int:
        """Rows per band."""
        return self.index.shape[0] // max(len(self.traces), 1)


def physical_units(stream: Stream) -> tuple[float, str] | None:
    """(sensitivity, units) when StationXML gave an overall sensitivity, else None."""
    sens = stream.attrs.get("sensitivity") or {}
    value = sens.get("value")
    if not value:
        return None
    units = str(sens.get("input_units") or stream.attrs.get("physical_units") or "?")
    return float(value), units.lower()


def clip_to_data(stream: Stream, t0_ns: int, t1_ns: int, width: int
                 ) -> tuple[int, int, int] | None:
    """(a, b, points): the part of [t0, t1) that holds the stream's data and the pixel columns
    it takes of `width`; None when the window holds none of it."""
    span = stream.span_ns
    if span is None or t1_ns <= t0_ns:
        return None
    a, b = max(t0_ns, span[0]), min(t1_ns, span[1])
    if b <= a:
        return None
    return a, b, max(int(np.ceil(width * (b - a) / (t1_ns - t0_ns))), 1)


def read_clipped(stream: Stream, t0_ns: int, t1_ns: int, width: int) -> Window | None:
    """`read_window` of the part of [t0, t1) that holds data, at the window's resolution:
    a window far longer than the stream costs what the stream's part of the screen shows
    (None when the window holds none of it)."""
    part = clip_to_data(stream, t0_ns, t1_ns, width)
    return None if part is None else stream.read_window(part[0], part[1], max_points=part[2])


def read_trace(stream: Stream, t0_ns: int, t1_ns: int, width: int, options: FrameOptions,
               notes: list[str]) -> Trace:
    """Read one stream for the frame: filtered raw samples when asked and possible, else the
    store's window at screen resolution; converted to physical units when asked."""
    spec = options.filter
    window = None
    filtered = False
    band = filters.stored_band(stream, spec) if spec.active else None
    if band is not None:  # a stored filtered pyramid: the same filter at every span
        window, filtered = read_clipped(band, t0_ns, t1_ns, width), True
    elif spec.active:
        sos = filters.design(spec, stream.sampling_rate)
        if sos is None:
            notes.append(f"{stream.name}: not filtered, {spec.fmin:g} Hz is above its Nyquist "
                         f"frequency ({stream.sampling_rate / 2:g} Hz)")
        elif not filters.filterable(stream, t0_ns, t1_ns):
            samples = (t1_ns - t0_ns) / NS * stream.sampling_rate
            notes.append(
                f"{stream.name}: window too long to filter ({samples:,.0f} samples; filters "
                f"apply on the fly up to {filters.FILTER_MAX_SAMPLES:,}): zoom in to under "
                f"{format_duration(filters.max_filter_span_ns(stream))}")
        else:
            window = filters.read_filtered(stream, t0_ns, t1_ns, sos, spec.fmin)
            filtered = True
    if window is None:
        window = read_clipped(stream, t0_ns, t1_ns, width)
    units = "counts"
    if options.units == "physical" and window is not None:
        phys = physical_units(stream)
        if phys is None:
            notes.append(f"{stream.name}: no sensitivity in its metadata, shown in counts")
        else:
            sens, units = phys
            window = replace(window, lo=window.lo / sens, hi=window.hi / sens)
    return Trace(stream.name, window, units, filtered=filtered)


def make_frame(streams: list[Stream], t0_ns: int, t1_ns: int, width: int, height: int,
               options: FrameOptions | None = None) -> Frame:
    """Render [t0, t1) of the streams as stacked bands in a (height, width) RGBA image."""
    options = options or FrameOptions()
    width = min(max(int(width), 16), MAX_FRAME_PX)
    n = max(len(streams), 1)
    band_h = min(max(int(height) // n, 8), MAX_FRAME_PX // n)
    notes: list[str] = []
    traces = [read_trace(s, t0_ns, t1_ns, width, options, notes) for s in streams]
    amplitude.scale_traces(traces, t0_ns, t1_ns, options.scale)
    index = np.zeros((band_h * n, width), dtype=np.uint8)
    for i, tr in enumerate(traces):
        if tr.window is None or not len(tr.window.lo):
            continue
        scale = tr.scale or 1.0  # a flat trace draws as a line through the middle
        mask = raster.band_mask(tr.window, t0_ns, t1_ns, width, band_h, tr.center, scale)
        index[i * band_h:(i + 1) * band_h][mask] = i % len(PALETTE) + 1
    return Frame(index, t0_ns, t1_ns, traces, notes)
