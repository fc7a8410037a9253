"""The state of a waveform view as it lives in the URL: parsing it, checking it, writing it back.

Every bad value becomes a message and a sensible fallback, never an exception: a shared URL
with a typo still opens a page that says what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboard import filters
from dashboard.frames import SCALES, UNITS, FrameOptions
from pipelines.store import Store, UnknownStreamError
from pipelines.timebase import NS, format_time, parse_range

DEFAULT_STREAMS = 6  # streams shown when the URL names none
MAX_STREAMS = 40  # more bands than this are unreadable at any screen height
REFRESH_CHOICES = {"off": 0, "10s": 10, "30s": 30, "1m": 60, "5m": 300}
EVENT_BEFORE_NS = 60 * NS  # a jump to an event shows it from a minute before...
EVENT_AFTER_NS = 240 * NS  # ...to four minutes after (the waves across a regional network)


@dataclass
class WaveformState:
    """What the waveform page shows; `to_query` writes it back as URL parameters."""

    store: str
    streams: list[str]
    pattern: str  # what the user typed (wildcards), kept in the URL while it still applies
    t0_ns: int
    t1_ns: int
    from_text: str
    to_text: str
    scale: str = "trace"
    units: str = "counts"
    filter: filters.FilterSpec = field(default_factory=filters.FilterSpec)
    refresh: str = "off"

    @property
    def options(self) -> FrameOptions:
        """The drawing options of a frame."""
        return FrameOptions(scale=self.scale, units=self.units, filter=self.filter)

    def set_range(self, t0_ns: int, t1_ns: int) -> None:
        """An absolute range (after a zoom or a jump): the URL then holds ISO times."""
        self.t0_ns, self.t1_ns = int(t0_ns), int(t1_ns)
        self.from_text, self.to_text = format_time(t0_ns), format_time(t1_ns)

    def to_query(self, store_is_default: bool = False) -> dict[str, str]:
        """URL parameters that restore this view; options at their defaults are left out."""
        q: dict[str, str] = {}
        if not store_is_default:
            q["store"] = self.store
        q["streams"] = self.pattern or ",".join(self.streams)
        q["from"], q["to"] = self.from_text, self.to_text
        if self.scale != "trace":
            q["scale"] = self.scale
        if self.units != "counts":
            q["units"] = self.units
        if self.filter.active:
            q["filter"] = self.filter.kind
            q["fmin"] = f"{self.filter.fmin:g}"
            if self.filter.kind == "bandpass":
                q["fmax"] = f"{self.filter.fmax:g}"
        if self.refresh != "off":
            q["refresh"] = self.refresh
        return q


def select_streams(store: Store, pattern: str, limit: int = MAX_STREAMS,
                   example: str = "BV.*.00.HH?") -> list[str]:
    """Names matching comma-separated wildcards; UnknownStreamError/ValueError when none do."""
    if not pattern.strip():
        raise ValueError(f"streams= is empty: give names or wildcards such as {example}")
    names = store.select(pattern)
    if len(names) > limit:
        raise ValueError(f"streams={pattern!r} matches {len(names)} streams; at most "
                         f"{limit} are shown at once, narrow the wildcard")
    return names


def data_span(store: Store, names: list[str]) -> tuple[int, int] | None:
    """[first, end) ns covering the data of the streams, or None when all are empty."""
    spans = [s for s in (store[n].span_ns for n in names) if s is not None]
    if not spans:
        return None
    return min(s[0] for s in spans), max(s[1] for s in spans)


def main_span(store: Store, names: list[str]) -> tuple[int, int] | None:
    """The span where most of the data is: the biggest stream's span, widened to the streams
    that overlap it (a store that also holds a few old test files is not shown over decades)."""
    spans = [(store[n].span_ns, store[n].n_samples) for n in names]
    spans = [(s, k) for s, k in spans if s is not None]
    if not spans:
        return None
    (b0, b1), _ = max(spans, key=lambda sk: sk[1])
    near = [s for s, _ in spans if s[0] < b1 + (b1 - b0) and s[1] > b0 - (b1 - b0)]
    return min(s[0] for s in near), max(s[1] for s in near)


def _choice(args: dict[str, str], key: str, choices, default: str, errors: list[str]) -> str:
    value = args.get(key, default).strip().lower() or default
    if value not in choices:
        errors.append(f"{key}={value!r} is not one of {', '.join(choices)}; using {default}")
        return default
    return value


def _float(args: dict[str, str], key: str, default: float, errors: list[str]) -> float:
    text = args.get(key)
    if text is None or not text.strip():
        return default
    try:
        return float(text)
    except ValueError:
        errors.append(f"{key}={text!r} is not a number; using {default:g}")
        return default


def parse_waveform_args(store: Store, label: str, args: dict[str, str], now_ns: int
                        ) -> tuple[WaveformState, list[str]]:
    """The view a URL asks for, plus a message for every parameter that could not be used."""
    errors: list[str] = []
    all_names = store.streams()
    pattern = args.get("streams", "").strip()
    names: list[str] = []
    if pattern:
        try:
            names = select_streams(store, pattern)
        except (UnknownStreamError, ValueError) as exc:
            errors.append(f"streams={pattern!r}: {exc}")
            pattern = ""
    if not names:
        names = all_names[:DEFAULT_STREAMS]
    span = data_span(store, names) if names else None
    fallback = span or (now_ns - 3600 * NS, now_ns)
    from_text, to_text = args.get("from", "").strip(), args.get("to", "").strip()
    t0, t1 = fallback
    if from_text or to_text:
        try:
            t0, t1 = parse_range(from_text or format_time(fallback[0]),
                                 to_text or format_time(fallback[1]), now_ns)
        except ValueError as exc:
            errors.append(f"{exc}; showing the whole span of the streams instead")
            from_text = to_text = ""
            t0, t1 = fallback
    if not from_text:
        from_text = format_time(t0)
    if not to_text:
        to_text = format_time(t1)
    state = WaveformState(label, names, pattern, t0, t1, from_text, to_text)
    state.scale = _choice(args, "scale", SCALES, "trace", errors)
    state.units = _choice(args, "units", UNITS, "counts", errors)
    kind = _choice(args, "filter", filters.KINDS, "none", errors)
    spec = filters.FilterSpec(kind, _float(args, "fmin", 1.0, errors),
                              _float(args, "fmax", 10.0, errors))
    try:
        filters.check_spec(spec)
        state.filter = spec
    except ValueError as exc:
        errors.append(f"{exc}; the filter is off")
    state.refresh = _choice(args, "refresh", REFRESH_CHOICES, "off", errors)
    event = args.get("event", "").strip()
    if event:
        match = [e for e in store.events() if str(e.get("id")) == event]
        if match:
            t = int(match[0]["time_ns"])
            state.set_range(t - EVENT_BEFORE_NS, t + EVENT_AFTER_NS)
        else:
            errors.append(f"event={event!r} is not in the store's catalogue")
    return state, errors
