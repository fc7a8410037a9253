"""Page state as parameters, and the one URL codec that maps them to the query string and back.

Every page's state is a `param.Parameterized` class below. `from_query` reads a URL query into
one, turning every bad value into a message and a sensible fallback, never an exception: a
shared URL with a typo still opens a page that says what was wrong. `to_query` writes the state
back (options at their defaults left out), and `address.QuerySync` keeps the browser's address
bar saying it. Wildcards, commas and colons stay readable in the query string
(`streams=BV.*.00.HH?`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlencode

import panel as pn
import param

from dashboard import filters
from dashboard.frames import SCALES, UNITS, FrameOptions
from pipelines.store import Store, UnknownStreamError
from pipelines.timebase import DAY_NS, NS, format_time, parse_range

DEFAULT_STREAMS = 6  # streams shown when the URL names none
MAX_STREAMS = 40  # more bands than this are unreadable at any screen height
MISSION_MAX_STREAMS = 24
AVAILABILITY_MAX_STREAMS = 100  # rows of the availability timeline
REFRESH_CHOICES = {"off": 0, "2s": 2, "5s": 5, "10s": 10, "30s": 30, "1m": 60, "5m": 300}
EVENT_BEFORE_NS = 60 * NS  # a jump to an event shows it from a minute before...
EVENT_AFTER_NS = 240 * NS  # ...to four minutes after (the waves across a regional network)
SAFE = "*,?:/"  # kept readable in query strings (legal there)
EMBED_VALUES = ("", "0", "1", "true", "false", "yes", "no")
THEME_VALUES = ("", "light", "dark")


# -- the query string ---------------------------------------------------------------------
def query_args() -> dict[str, str]:
    """The page's URL query as {name: last value} (empty outside a server session)."""
    args = getattr(pn.state, "session_args", None) or {}
    out = {}
    for key, values in args.items():
        if values:
            v = values[-1]
            out[key] = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    return out


def query_string(params: dict[str, str]) -> str:
    """'?a=b&c=d' for the non-empty params ('' when there are none), wildcards readable."""
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return ("?" + urlencode(clean, safe=SAFE)) if clean else ""


def normalise_uri(uri: str) -> str:
    """A request URI whose query holds no raw `?` (a pasted `streams=BV.*.00.HH?`): those
    become %3F, which every parser reads back as `?`."""
    path, sep, query = uri.partition("?")
    return path + sep + query.replace("?", "%3F") if sep else uri


def normalise_request() -> None:
    """Normalise this session's request before Panel reads it: Panel's Location splits the
    URI on every `?` and fails the page on a second one, and Panel decodes some values (such
    as `theme`) as strict UTF-8, failing every page on bytes that are not (`theme=%e2%82`):
    those values are read with U+FFFD in place of the bad bytes (and then refused by name)."""
    ctx = getattr(pn.state.curdoc, "session_context", None)
    proxy = getattr(ctx, "request", None)
    request = getattr(proxy, "_request", None)
    uri = getattr(request, "uri", None)
    if isinstance(uri, str) and uri.count("?") > 1:
        request.uri = normalise_uri(uri)
    for holder in (proxy, request):
        args = getattr(holder, "arguments", None)
        if isinstance(args, dict):
            for key, values in args.items():
                args[key] = [clean_bytes(v) for v in values]


def clean_bytes(value):
    """A query value's bytes, valid UTF-8 (U+FFFD for bytes that are not)."""
    if isinstance(value, bytes):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("utf-8", "replace").encode("utf-8")
    return value


def is_embed(args: dict[str, str]) -> bool:
    """True when the URL asks for the chrome-less iframe view (`embed=1`)."""
    return args.get("embed", "").lower() in ("1", "true", "yes")


# -- streams and spans --------------------------------------------------------------------
def select_streams(store: Store, pattern: str, limit: int | None = MAX_STREAMS,
                   example: str = "BV.*.00.HH?", page: int = 1) -> list[str]:
    """Names matching comma-separated wildcards, page `page` of them when more than `limit`
    match; UnknownStreamError/ValueError when none do."""
    if not pattern.strip():
        raise ValueError(f"streams= is empty: give names or wildcards such as {example}")
    names = store.select(pattern)
    if limit is None or len(names) <= limit:
        return names
    first = (clamp_page(page, len(names), limit) - 1) * limit
    return names[first:first + limit]


def page_count(total: int, limit: int) -> int:
    """Pages of `limit` streams that `total` streams fill."""
    return max(-(-total // max(limit, 1)), 1)


def clamp_page(page: int, total: int, limit: int) -> int:
    """`page` within 1..the last page."""
    return min(max(int(page), 1), page_count(total, limit))


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


def default_mission_streams(store: Store) -> list[str]:
    """Mission streams to show first: one family (LDC, else LISA, else light-curve rates,
    else the first group of names), at most six."""
    names = [n for n in store.streams() if not n.startswith("_")]
    for pick in ([n for n in names if n.startswith("LDC.")],
                 [n for n in names if n.startswith("LISA.")],
                 [n for n in names if n.endswith(".RATE")]):
        if pick:
            return pick[:6]
    if not names:
        return []
    first = names[0].rpartition(".")[0]
    return [n for n in names if n.rpartition(".")[0] == first][:6] or names[:6]


# -- the codec ----------------------------------------------------------------------------
def _decode_option(p: param.Parameter, key: str, text: str, errors: list[str]) -> Any:
    """The value a URL text gives a simple parameter, or its default with a message."""
    if isinstance(p, param.Selector):
        choices = list(p.objects)
        if text in choices:
            return text
        folded = [c for c in choices if str(c).lower() == text.lower()]
        if folded:
            return folded[0]
        errors.append(f"{key}={text!r} is not one of {', '.join(map(str, choices))}; "
                      f"using {p.default}")
        return p.default
    if isinstance(p, param.Number):
        try:
            return float(text)
        except ValueError:
            errors.append(f"{key}={text!r} is not a number; using {p.default:g}")
            return p.default
    return text


def _encode_option(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class ViewState(param.Parameterized):
    """What every page's URL holds: the store shown, and simple options.

    `url_options` maps parameter names to their URL keys; each is decoded by its parameter's type
    (a Selector's choices, a Number) and left out of the URL at its default.
    """

    store = param.String(default="", doc="label of the store shown")
    url_options: ClassVar[dict[str, str]] = {}

    def __eq__(self, other: object) -> bool:
        """Two states are equal when they hold the same values (the name aside)."""
        if type(other) is not type(self):
            return NotImplemented
        mine = {k: v for k, v in self.param.values().items() if k != "name"}
        return mine == {k: v for k, v in other.param.values().items() if k != "name"}

    __hash__ = param.Parameterized.__hash__  # a page's state is one object among watchers

    def decode_options(self, args: dict[str, str], errors: list[str]) -> None:
        """Set the simple options from the URL; a message per bad value."""
        values = {}
        for name, key in self.url_options.items():
            text = args.get(key, "").strip()
            if text:
                values[name] = _decode_option(self.param[name], key, text, errors)
        self.param.update(**values)

    def encode_options(self) -> dict[str, str]:
        """The simple options that differ from their defaults, by URL key."""
        return {key: _encode_option(getattr(self, name)) for name, key in self.url_options.items()
                if getattr(self, name) != self.param[name].default}

    @staticmethod
    def check_view_keys(args: dict[str, str], errors: list[str]) -> None:
        """A message for an `embed` or `theme` value that means nothing (it is ignored)."""
        for key, allowed in (("embed", EMBED_VALUES), ("theme", THEME_VALUES)):
            value = args.get(key, "").strip().lower()
            if value not in allowed:
                errors.append(f"{key}={args[key]!r} is not one of "
                              f"{', '.join(a for a in allowed if a)}; ignored")


class TimeWindow(ViewState):
    """A time range as typed (`from_text`, `to_text`: ISO or now-6h) and as resolved (ns)."""

    from_text = param.String(default="", label="From (UTC, ISO or now-6h)")
    to_text = param.String(default="", label="To")
    t0_ns = param.Integer(default=0, precedence=-1)
    t1_ns = param.Integer(default=0, precedence=-1)

    def set_range(self, t0_ns: int, t1_ns: int) -> None:
        """An absolute range (after a zoom or a jump): the URL then holds ISO times."""
        self.param.update(t0_ns=int(t0_ns), t1_ns=int(t1_ns), from_text=format_time(t0_ns),
                          to_text=format_time(t1_ns))

    def resolve(self, now: int) -> None:
        """(Re)compute t0/t1 from the texts (relative ones follow `now`); ValueError if bad."""
        t0, t1 = parse_range(self.from_text, self.to_text, now)
        if not self.shows(t0, t1):
            self.param.update(t0_ns=t0, t1_ns=t1)

    def shows(self, t0_ns: int, t1_ns: int) -> bool:
        """True when [t0, t1) is the range held, to the microsecond (ranges round-trip through
        float milliseconds and ISO texts)."""
        return abs(t0_ns - self.t0_ns) <= 1000 and abs(t1_ns - self.t1_ns) <= 1000

    def decode_window(self, args: dict[str, str], now: int, errors: list[str],
                      fallback: tuple[int, int], fill: tuple[int, int] | None = None,
                      instead: str = "showing the whole span of the streams instead") -> None:
        """The range of `from`/`to`: `fallback` when neither is given or one is bad (with a
        message ending in `instead`); a missing end is taken from `fill` (default fallback)."""
        fill = fill or fallback
        from_text, to_text = args.get("from", "").strip(), args.get("to", "").strip()
        t0, t1 = fallback
        if from_text or to_text:
            try:
                t0, t1 = parse_range(from_text or format_time(fill[0]),
                                     to_text or format_time(fill[1]), now)
            except ValueError as exc:
                errors.append(f"{exc}; {instead}")
                from_text = to_text = ""
                t0, t1 = fallback
        self.param.update(t0_ns=int(t0), t1_ns=int(t1), from_text=from_text or format_time(t0),
                          to_text=to_text or format_time(t1))

    def window_query(self) -> dict[str, str]:
        """`from` and `to` as typed (as the times shown while the typed ones cannot be read)."""
        try:
            parse_range(self.from_text, self.to_text)
        except ValueError:
            return self.locked_query()
        return {"from": self.from_text, "to": self.to_text}

    def locked_query(self) -> dict[str, str]:
        """`from` and `to` as the absolute times shown."""
        return {"from": format_time(self.t0_ns), "to": format_time(self.t1_ns)}


class StreamWindow(TimeWindow):
    """Streams of a store (as typed wildcards and as names) over a time range."""

    streams = param.List(default=[], item_type=str, label="Streams")
    pattern = param.String(default="", label="Streams (wildcards, comma separated)")
    page = param.Integer(default=1, bounds=(1, None), precedence=-1,
                         doc="which `limit` of the matching streams are shown")
    matched = param.Integer(default=0, precedence=-1, doc="streams the wildcards match")
    notes = param.List(default=[], item_type=str, precedence=-1,
                       doc="what the view chose by itself (not errors)")
    limit: ClassVar[int | None] = MAX_STREAMS
    example: ClassVar[str] = "BV.*.00.HH?"

    def __init__(self, data: Store | None = None, **params):
        super().__init__(**params)
        self._data = data  # the store the names come from (pattern -> names)

    def select(self, pattern: str) -> list[str]:
        """Names of the store matching `pattern` (the state's page of them when more than
        `limit` match); UnknownStreamError/ValueError if none do."""
        if not pattern.strip():
            raise ValueError(f"streams= is empty: give names or wildcards such as "
                             f"{self.example}")
        self.matched = len(self._data.select(pattern))
        return select_streams(self._data, pattern, self.limit, self.example, self.page)

    @property
    def pages(self) -> int:
        """Pages the matching streams fill (1 when they all fit)."""
        return 1 if self.limit is None else page_count(self.matched, self.limit)

    def paging_note(self) -> str:
        """What a paged view shows ('' when every matching stream is shown)."""
        if self.pages <= 1:
            return ""
        first = (self.page - 1) * self.limit + 1
        return (f"streams={self.pattern!r} matches {self.matched} streams; at most "
                f"{self.limit} are drawn at once: showing {first}-{first + len(self.streams) - 1}"
                f" (page {self.page} of {self.pages}). Use the page links, or narrow the "
                "wildcard.")

    def decode_page(self, args: dict[str, str], errors: list[str]) -> None:
        """`page=` (a positive whole number; 1 when absent or bad, with a message)."""
        text = args.get("page", "").strip()
        if not text:
            return
        try:
            page = int(text)
            if page < 1:
                raise ValueError
        except ValueError:
            errors.append(f"page={text!r} is not a page number (1, 2, ...); showing page 1")
            return
        self.page = min(page, 10**9)

    def pattern_applies(self) -> bool:
        """True when the typed wildcards select exactly the streams shown."""
        if not self.pattern or self._data is None:
            return False
        try:
            return self.select(self.pattern) == list(self.streams)
        except (UnknownStreamError, ValueError):
            return False

    def decode_streams(self, args: dict[str, str], errors: list[str],
                       default: Callable[[], list[str]], instead: str = "",
                       asked_when_present: bool = False) -> None:
        """The streams of `streams=` (or `default()`, with a message when they match nothing).

        `asked_when_present`: an empty `streams=` is an error too, not the default."""
        pattern = args.get("streams", "").strip()
        names: list[str] = []
        self.decode_page(args, errors)
        if pattern or (asked_when_present and "streams" in args):
            try:
                names = self.select(pattern)
            except (UnknownStreamError, ValueError) as exc:
                errors.append(f"streams={pattern!r}: {exc}{instead}")
                pattern = ""
            else:
                if self.limit is not None and self.page > self.pages:
                    errors.append(f"page={self.page} is past the last page ({self.pages}); "
                                  "showing the last")
                    self.page = self.pages
                    names = self.select(pattern)
        if not names:
            self.param.update(page=1, matched=0, pattern="")
            names = default()
            pattern = self.pattern  # a default may page through every stream ("*")
        self.param.update(streams=list(names), pattern=pattern)

    def clip_to_data(self, span: tuple[int, int] | None) -> None:
        """Keep the range within the streams' data plus a margin (a tenth of their span, at
        least an hour), with a note: `from=2010&to=2020` over an hour of data shows that hour,
        not ten years of nothing. A range that holds none of the data is kept (and drawn
        empty, at no cost)."""
        if span is None:
            return
        margin = max((span[1] - span[0]) // 10, 3600 * NS)
        lo, hi = span[0] - margin, span[1] + margin
        t0, t1 = self.t0_ns, self.t1_ns
        if t1 <= span[0] or t0 >= span[1] or (t0 >= lo and t1 <= hi):
            return
        a, b = max(t0, lo), min(t1, hi)
        self.notes = [*self.notes, f"{format_time(t0)} to {format_time(t1)} reaches far beyond "
                      f"the data of these streams ({format_time(span[0])} to "
                      f"{format_time(span[1])}): showing {format_time(a)} to {format_time(b)}."]
        self.set_range(a, b)

    def streams_query(self) -> dict[str, str]:
        """`streams`: the wildcards while they still select what is shown (and `page` when
        they fill more than one), else the names."""
        if self.pattern_applies():
            q = {"streams": self.pattern}
            if self.pages > 1:
                q["page"] = str(self.page)
            return q
        return {"streams": ",".join(self.streams)}


class WaveformState(StreamWindow):
    """What /waveforms shows: streams, range, amplitude scale, units, filter, refresh."""

    scale = param.Selector(default="robust", objects=list(SCALES), label="Amplitude")
    units = param.Selector(default="counts", objects=list(UNITS), label="Units")
    filter_kind = param.Selector(default="none", objects=list(filters.KINDS), label="Filter")
    fmin = param.Number(default=1.0, allow_None=True, label="fmin (Hz)")  # None: a box emptied
    fmax = param.Number(default=10.0, allow_None=True, label="fmax (Hz)")
    refresh = param.Selector(default="off", objects=list(REFRESH_CHOICES), label="Auto-refresh")
    url_options: ClassVar[dict[str, str]] = {
        "scale": "scale", "units": "units", "filter_kind": "filter", "fmin": "fmin",
        "fmax": "fmax", "refresh": "refresh"}

    @property
    def filter(self) -> filters.FilterSpec:
        """The filter asked for (none when its corners are not valid)."""
        spec = filters.FilterSpec(self.filter_kind, float(self.fmin or 1.0),
                                  float(self.fmax or 10.0))
        try:
            filters.check_spec(spec)
        except ValueError:
            return filters.FilterSpec()
        return spec

    @property
    def options(self) -> FrameOptions:
        """The drawing options of a frame."""
        return FrameOptions(scale=self.scale, units=self.units, filter=self.filter)

    @classmethod
    def from_query(cls, store: Store, label: str, args: dict[str, str], now: int
                   ) -> tuple[WaveformState, list[str]]:
        """The view a URL asks for, plus a message for every parameter that could not be used."""
        errors: list[str] = []
        s = cls(store, store=label)
        s.decode_streams(args, errors, lambda: store.streams()[:DEFAULT_STREAMS])
        span = data_span(store, s.streams) if s.streams else None
        s.decode_window(args, now, errors, span or (now - 3600 * NS, now))
        s.clip_to_data(span)
        s.decode_options(args, errors)
        spec = filters.FilterSpec(s.filter_kind, s.fmin, s.fmax)
        try:
            filters.check_spec(spec)
        except ValueError as exc:
            errors.append(f"{exc}; the filter is off")
            s.filter_kind = "none"
        event = args.get("event", "").strip()
        if event:
            match = [e for e in store.events() if str(e.get("id")) == event]
            if match:
                t = int(match[0]["time_ns"])
                s.set_range(t - EVENT_BEFORE_NS, t + EVENT_AFTER_NS)
            else:
                errors.append(f"event={event!r} is not in the store's catalogue")
        return s, errors

    def to_query(self, store_is_default: bool = False) -> dict[str, str]:
        """URL parameters that restore this view; options at their defaults are left out."""
        q: dict[str, str] = {} if store_is_default else {"store": self.store}
        q |= self.streams_query() | self.window_query()
        opts = {k: v for k, v in self.encode_options().items()
                if k not in ("filter", "fmin", "fmax")}
        spec = self.filter  # written only when it applies; the corners say which filter
        if spec.active:
            opts["filter"], opts["fmin"] = spec.kind, f"{spec.fmin:g}"
            if spec.kind == "bandpass":
                opts["fmax"] = f"{spec.fmax:g}"
        for key in ("scale", "units", "filter", "fmin", "fmax", "refresh"):
            if key in opts:
                q[key] = opts[key]
        return q


def parse_waveform_args(store: Store, label: str, args: dict[str, str], now: int
                        ) -> tuple[WaveformState, list[str]]:
    """`WaveformState.from_query`: the /waveforms view a URL asks for, and its messages."""
    return WaveformState.from_query(store, label, args, now)


class MissionState(StreamWindow):
    """What /mission shows: mission streams over a range."""

    limit: ClassVar[int | None] = MISSION_MAX_STREAMS
    example: ClassVar[str] = "LISA.*.12"

    @classmethod
    def from_query(cls, store: Store, label: str, args: dict[str, str], now: int
                   ) -> tuple[MissionState, list[str]]:
        """The view a URL asks for, plus a message for every parameter that could not be used."""
        errors: list[str] = []
        s = cls(store, store=label)
        s.decode_streams(args, errors, lambda: default_mission_streams(store),
                         "; showing the default streams", asked_when_present=True)
        span = data_span(store, s.streams) if s.streams else None
        s.decode_window(args, now, errors, span or (now - 3600 * NS, now))
        s.clip_to_data(span)
        s.check_view_keys(args, errors)
        return s, errors

    def to_query(self, theme: str = "light", embed: bool = False) -> dict[str, str]:
        """URL parameters that restore this view."""
        q = {"store": self.store} | self.streams_query() | self.window_query()
        if theme == "dark":
            q["theme"] = "dark"
        if embed:
            q["embed"] = "1"
        return q


class AvailabilityState(StreamWindow):
    """What /availability (and the timeline of a snapshot) shows: up to AVAILABILITY_MAX_STREAMS
    streams (a page of them) over the span where most of their data is, unless the URL gives
    from/to."""

    limit: ClassVar[int | None] = AVAILABILITY_MAX_STREAMS

    @classmethod
    def from_query(cls, store: Store, label: str, args: dict[str, str], now: int
                   ) -> tuple[AvailabilityState, list[str]]:
        """The view a URL asks for, plus a message for every parameter that could not be used.
        A store without data gives streams but t0 = t1 = 0."""
        errors: list[str] = []
        s = cls(store, store=label)
        s.decode_streams(args, errors, lambda: s.first_page(store.streams()),
                         "; showing every stream")
        span = data_span(store, s.streams) if s.streams else None
        if span is None:
            return s, errors
        focus = main_span(store, s.streams) or span
        asked = bool(args.get("from") or args.get("to"))
        if focus != span and not asked:
            s.notes = [f"Showing {format_time(focus[0])} to {format_time(focus[1])}, where most "
                       f"of the data is; the streams reach from {format_time(span[0])} to "
                       f"{format_time(span[1])} (give from= and to= in the URL to see other "
                       "times)."]
        s.decode_window(args, now, errors, focus, fill=span,
                        instead="showing the whole span instead")
        s.clip_to_data(span)
        return s, errors

    def first_page(self, names: list[str]) -> list[str]:
        """The first `limit` of every stream (a store of thousands pages them too)."""
        self.pattern = "*"
        self.matched = len(names)
        return names[:self.limit]

    @property
    def has_data(self) -> bool:
        """False for a store (or selection) that holds no data yet."""
        return self.t1_ns > self.t0_ns


HOUR_NS = 3600 * NS
GROUPINGS = ("infrastructure", "account", "user", "partition", "qos")
WHATS = {"cpu": "CPU-hours", "gpu": "GPU-hours"}


class ResourcesState(TimeWindow):
    """What /resources shows: a usage store's jobs over a range, grouped, and a node metric."""

    usage = param.String(default="", doc="label of the usage store (empty: the first)")
    by = param.Selector(default="infrastructure", objects=list(GROUPINGS), label="Group by")
    what = param.Selector(default="cpu", objects=list(WHATS), label="Hours")
    metric = param.Selector(default="", objects=[""], label="Node metric")
    url_options: ClassVar[dict[str, str]] = {"by": "by", "what": "what", "metric": "metric"}

    @staticmethod
    def default_window(span: tuple[int, int]) -> tuple[int, int]:
        """The last 30 days of jobs, in whole hours (they read better in the URL)."""
        end = -(-span[1] // HOUR_NS) * HOUR_NS
        return max(span[0] // HOUR_NS * HOUR_NS, end - 30 * DAY_NS), end

    @classmethod
    def from_query(cls, label: str, metrics: list[str], jobs_span: tuple[int, int] | None,
                   args: dict[str, str], now: int) -> tuple[ResourcesState, list[str]]:
        """The view a URL asks for, plus a message for every parameter that could not be used."""
        errors: list[str] = []
        s = cls(usage=label)
        s.param.metric.objects = list(metrics) or [""]
        s.param.metric.default = (metrics or [""])[0]
        s.metric = s.param.metric.default
        s.decode_options(args, errors)
        span = jobs_span or (now - 30 * DAY_NS, now)
        s.decode_window(args, now, errors, cls.default_window(span),
                        instead="showing the last 30 days of jobs instead")
        return s, errors

    def to_query(self, theme: str = "light") -> dict[str, str]:
        """URL parameters that restore this view."""
        q = self.window_query() | {"by": self.by, "what": self.what}
        if theme != "light":
            q["theme"] = theme
        if self.usage:
            q["usage"] = self.usage
        if self.metric != self.param.metric.default:
            q["metric"] = self.metric
        return q
