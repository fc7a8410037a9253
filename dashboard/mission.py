"""The /mission page: mission time series, light curves with error bands and GTIs, Welch ASDs
(on the fly, or from the spectra precomputed at ingest), TDI A/E/T from X/Y/Z.

URL state: `store`, `streams` (comma-separated wildcards), `from`, `to` (ISO or now-6h), `embed`.
Everything drawn is read at screen resolution (frames.make_frame, Stream.read_window); the
only raw reads are for spectra and TDI of windows up to `RAW_MAX` samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import panel as pn
from bokeh.models import BoxAnnotation, ColumnDataSource, Range1d
from bokeh.plotting import figure

from dashboard import layout
from dashboard.frames import PALETTE, make_frame
from pipelines.mission import spectra
from pipelines.store import NS, Store

RAW_MAX = 2**22  # samples per stream read raw for an on-the-fly spectrum or TDI
FMIN, FMAX = 1e-5, 1.0  # Hz, the LISA band shown in the ASD plot
WIDTH, BAND = 1100, 110
SQ2, SQ3, SQ6 = math.sqrt(2), math.sqrt(3), math.sqrt(6)


def ms(ns: int | float) -> float:
    """Nanoseconds since 1970 as Bokeh datetime milliseconds."""
    return float(ns) / 1e6


def tdi_aet(x: np.ndarray, y: np.ndarray, z: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The quasi-orthogonal TDI combinations A, E, T of Michelson X, Y, Z."""
    return (z - x) / SQ2, (x - 2 * y + z) / SQ6, (x + y + z) / SQ3


@dataclass
class Spectrum:
    """One ASD line: where it came from and its values."""

    name: str
    freq: np.ndarray
    asd: np.ndarray
    source: str  # "window" (on the fly) or "precomputed (N blocks)"


@dataclass
class MissionView:
    """Everything the page draws for one store, streams and window."""

    t0_ns: int
    t1_ns: int
    image: np.ndarray | None
    labels: list[str]
    spectra: list[Spectrum] = field(default_factory=list)
    light_curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    gtis: list[tuple[int, int]] = field(default_factory=list)
    tdi: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def default_streams(store: Store) -> list[str]:
    """Mission streams to show first: LDC/LISA/light-curve rates, at most six."""
    names = [n for n in store.streams() if not n.startswith("_")]
    pick = [n for n in names if n.startswith(("LDC.", "LISA."))] or \
        [n for n in names if n.endswith(".RATE")] or names
    return pick[:6]


def _present_runs(stream, t0_ns: int, t1_ns: int) -> list[np.ndarray]:
    if getattr(stream, "kind", None) == "irregular":
        return []
    i0, i1 = stream.index_of(t0_ns), stream.index_of(t1_ns)
    if i1 - i0 > RAW_MAX:
        return []
    return [v.astype(np.float64) for _, v in stream.read_segments(t0_ns, t1_ns) if len(v) > 16]


def window_asd(stream, t0_ns: int, t1_ns: int) -> Spectrum | None:
    """ASD of the window: Welch on the fly when it is short enough, else precomputed."""
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
    pre = spectra.read_asd(stream, t0_ns, t1_ns) if hasattr(stream, "index_of") else None
    if pre is None:
        return None
    freq, asd, used = pre
    return Spectrum(stream.name, freq, asd, f"precomputed ({used} blocks)")


def _tdi_triplets(store: Store, names: list[str]) -> list[str]:
    """Prefixes P with P.X, P.Y and P.Z in the store, for the streams shown."""
    have = set(store.streams())
    out = []
    for n in names:
        p, _, last = n.rpartition(".")
        if last in ("X", "Y", "Z") and all(f"{p}.{c}" in have for c in "XYZ") and p not in out:
            out.append(p)
    return out


def _aligned_xyz(store: Store, prefix: str, t0_ns: int, t1_ns: int):
    xs = [store[f"{prefix}.{c}"] for c in "XYZ"]
    s0 = xs[0]
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


def build_view(store: Store, names: list[str], t0_ns: int, t1_ns: int, width: int = WIDTH,
               band: int = BAND) -> MissionView:
    """Read and compute everything the page shows for these streams and window."""
    streams = [store[n] for n in names]
    frame = make_frame(streams, t0_ns, t1_ns, width, band * max(len(streams), 1)) \
        if streams else None
    view = MissionView(t0_ns, t1_ns, frame.image if frame else None,
                       [t.label for t in frame.traces] if frame else [],
                       notes=list(frame.notes) if frame else [])
    for s in streams:
        sp = window_asd(s, t0_ns, t1_ns)
        if sp is not None:
            view.spectra.append(sp)
        if s.name.endswith(".RATE") and f"{s.name[:-5]}.ERROR" in store.root:
            err = store[f"{s.name[:-5]}.ERROR"]
            w = s.read_window(t0_ns, t1_ns, max_points=width)
            e = err.read_window(t0_ns, t1_ns, max_points=width, level=w.level)
            n = min(len(w.lo), len(e.lo))
            mid = (w.lo[:n] + w.hi[:n]) / 2
            view.light_curves[s.name] = {"t": w.times_ns[:n], "rate": mid,
                                         "lo": w.lo[:n] - e.hi[:n], "hi": w.hi[:n] + e.hi[:n]}
        for a, b in s.attrs.get("gti", []):
            if b > t0_ns and a < t1_ns and (a, b) not in view.gtis:
                view.gtis.append((int(a), int(b)))
    for prefix in _tdi_triplets(store, names):
        got = _aligned_xyz(store, prefix, t0_ns, t1_ns)
        if got is None:
            view.notes.append(f"{prefix}: A/E/T need X, Y, Z on one grid and a window under "
                              f"{RAW_MAX:,} samples")
            continue
        t, (x, y, z) = got
        a, e, tt = tdi_aet(x, y, z)
        view.tdi.update({"t": t, f"{prefix}.A": a, f"{prefix}.E": e, f"{prefix}.T": tt})
        fs = store[f"{prefix}.X"].sampling_rate
        for label, v in ((f"{prefix}.A", a), (f"{prefix}.E", e), (f"{prefix}.T", tt)):
            ok = v[np.isfinite(v)]
            if len(ok) > 64:
                nper = int(min(len(ok), 2 ** int(math.log2(max(len(ok) // 4, 64)))))
                psd = spectra.welch_psd(ok, fs, nper)
                view.spectra.append(Spectrum(label, np.arange(len(psd)) * fs / nper,
                                             np.sqrt(psd), "window (TDI on the fly)"))
    return view


class MissionFigures:
    """The page's Bokeh figures; `update(view)` redraws them in place (sources only)."""

    def __init__(self, view: MissionView, n_bands: int):
        self.n = n_bands
        self.x_range = Range1d(ms(view.t0_ns), ms(view.t1_ns))
        self.img = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": []})
        self.labels = ColumnDataSource({"x": [], "y": [], "text": []})
        self.asd_src = ColumnDataSource({"xs": [], "ys": [], "color": [], "name": []})
        self.lc_src = {name: ColumnDataSource({"t": [], "rate": [], "lo": [], "hi": []})
                       for name in view.light_curves}
        ts = figure(x_axis_type="datetime", x_range=self.x_range,
                    y_range=Range1d(-0.5, n_bands - 0.5), height=max(BAND * n_bands, 160),
                    sizing_mode="stretch_width", tools="xpan,xwheel_zoom,xbox_zoom,reset",
                    active_scroll="xwheel_zoom",
                    title="time series (envelopes at screen resolution, samples when zoomed in)")
        ts.yaxis.visible = False
        ts.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=self.img)
        ts.text(x="x", y="y", text="text", source=self.labels, text_font_size="11px")
        self.series = ts
        self.light_curves = None
        if self.lc_src:
            lc = figure(x_axis_type="datetime", x_range=self.x_range, height=220,
                        sizing_mode="stretch_width", tools="xpan,xwheel_zoom,reset",
                        title="light curves (rate ± error, GTIs shaded)")
            for i, (name, src) in enumerate(self.lc_src.items()):
                color = PALETTE[i % len(PALETTE)]
                lc.varea(x="t", y1="lo", y2="hi", source=src, fill_color=color, fill_alpha=0.25)
                lc.line(x="t", y="rate", source=src, color=color, legend_label=name)
            self.light_curves = lc
        for fig in (ts, self.light_curves):
            for a, b in view.gtis if fig is not None else ():
                fig.add_layout(BoxAnnotation(left=ms(a), right=ms(b), fill_color="#2a9d8f",
                                             fill_alpha=0.10))
        asd = figure(x_axis_type="log", y_axis_type="log", x_range=Range1d(FMIN, FMAX),
                     height=320, sizing_mode="stretch_width", x_axis_label="Hz",
                     y_axis_label="ASD /√Hz",
                     title="amplitude spectral density (Welch) of the window shown")
        asd.multi_line(xs="xs", ys="ys", color="color", legend_field="name", source=self.asd_src)
        self.asd = asd
        self.update(view)

    def all(self) -> list:
        """The figures, top to bottom."""
        return [f for f in (self.series, self.light_curves, self.asd) if f is not None]

    def update(self, view: MissionView) -> None:
        """Show another window of the same streams."""
        if view.image is not None:
            self.img.data = {"image": [np.flipud(view.image)], "x": [ms(view.t0_ns)],
                             "y": [-0.5], "dw": [ms(view.t1_ns - view.t0_ns)], "dh": [self.n]}
            self.labels.data = {"x": [ms(view.t0_ns)] * len(view.labels),
                                "y": [self.n - 1 - i + 0.4 for i in range(len(view.labels))],
                                "text": view.labels}
        for name, src in self.lc_src.items():
            d = view.light_curves.get(name)
            if d is not None:
                src.data = {"t": d["t"] / 1e6, "rate": d["rate"], "lo": d["lo"], "hi": d["hi"]}
        xs, ys, colors, labels = [], [], [], []
        for i, sp in enumerate(view.spectra):
            keep = (sp.freq > 0) & np.isfinite(sp.asd) & (sp.asd > 0)
            if keep.any():
                xs.append(sp.freq[keep])
                ys.append(sp.asd[keep])
                colors.append(PALETTE[i % len(PALETTE)])
                labels.append(f"{sp.name} · {sp.source}")
        self.asd_src.data = {"xs": xs, "ys": ys, "color": colors, "name": labels}


def _window_from_args(store: Store, names: list[str], args: dict[str, str]
                      ) -> tuple[int, int]:
    from belvedere.times import parse_range

    t0, t1 = parse_range(args.get("from"), args.get("to"))
    spans = [s for s in (store[n].span_ns for n in names) if s]
    lo = min((a for a, _ in spans), default=0)
    hi = max((b for _, b in spans), default=NS)
    return (t0 if t0 is not None else lo), (t1 if t1 is not None else hi)


def mission_page(sources) -> pn.viewable.Viewable:
    """The /mission page for one store (URL: store, streams, from, to, embed)."""
    args = layout.query_args()
    label = sources.resolve(args.get("store")) if args.get("store") else sources.labels[0]
    store = sources.store(label)
    embed = layout.is_embed(args)
    try:
        names = store.select(args["streams"]) if args.get("streams") else default_streams(store)
        t0, t1 = _window_from_args(store, names, args)
    except Exception as exc:
        return layout.page("mission", layout.alert(str(exc)), store=label, embed=embed,
                           title="Mission")
    view = build_view(store, names, t0, t1)
    view.gtis = _all_gtis(store, names)
    figs = MissionFigures(view, max(len(names), 1))
    notes = pn.Column(*[layout.alert(n, "warning") for n in view.notes],
                      sizing_mode="stretch_width")
    status = pn.pane.Markdown("", margin=(0, 12))
    pending = {"busy": False}

    def render() -> None:
        pending["busy"] = False
        r = figs.x_range
        a, b = int(r.start * 1e6), int(r.end * 1e6)
        if b <= a:
            return
        v = build_view(store, names, a, b)
        figs.update(v)
        notes[:] = [layout.alert(n, "warning") for n in v.notes]
        status.object = layout.escape_markdown(
            f"{_iso(a)} → {_iso(b)} · {', '.join(names)}")
        layout.set_query({"store": label, "streams": ",".join(names), "from": _iso(a),
                          "to": _iso(b)})

    def on_range(attr, old, new) -> None:
        doc = pn.state.curdoc
        if doc is None:
            render()
        elif not pending["busy"]:
            pending["busy"] = True
            doc.add_timeout_callback(render, 150)  # one re-read per burst of wheel events

    figs.x_range.on_change("end", on_range)
    status.object = layout.escape_markdown(f"{_iso(t0)} → {_iso(t1)} · {', '.join(names)}")
    return layout.page("mission", status, *[pn.pane.Bokeh(f, sizing_mode="stretch_width")
                                            for f in figs.all()], notes,
                       store=label, embed=embed, title="Mission")


def _all_gtis(store: Store, names: list[str]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in names:
        for a, b in store[n].attrs.get("gti", []):
            if (int(a), int(b)) not in out:
                out.append((int(a), int(b)))
    return out


def _iso(ns: int) -> str:
    from pipelines.store import utc_iso

    return utc_iso(ns)
