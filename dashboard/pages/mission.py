"""The /mission page: mission time series, light curves with error bands and GTIs, Welch ASDs
(on the fly, or from the spectra precomputed at ingest), TDI A/E/T from X/Y/Z.

URL state: `store`, `streams` (comma-separated wildcards), `from`, `to` (ISO or now-6h),
`embed`, `theme`. A bad value becomes a message and a fallback, never a traceback. Everything
drawn is read at screen resolution (frames.make_frame, Stream.read_window); the only raw reads
are for spectra and TDI of windows up to `RAW_MAX` samples.

Figures (named, for tests and the Share control's PNG): `mission` (stacked bands, one RGBA
image, TDI A/E/T as extra bands), `lightcurve` (rate with its error band, GTIs shaded) and
`asd` (log-log over 1e-5..1 Hz).
"""

from __future__ import annotations

import base64
import io
import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import panel as pn
from bokeh.models import (
    BoxAnnotation,
    ColumnDataSource,
    Legend,
    PanTool,
    Range1d,
    ResetTool,
    SaveTool,
    WheelZoomTool,
)
from bokeh.plotting import figure

from dashboard import chrome, raster, share
from dashboard import theme as themes
from dashboard.address import QuerySync
from dashboard.bands import style_bands
from dashboard.frames import PALETTE, FrameOptions, clip_to_data, make_frame
from dashboard.pages.base import PatternStreams, SnapshotParts, style_and_fit
from dashboard.pages.timerange import RENDER_WIDTH, TimeRangePage, ms
from dashboard.state import MissionState, data_span
from pipelines.mission.tdi import (
    RAW_MAX,
    Spectrum,
    aligned_xyz,
    no_asd_reason,
    series_asd,
    tdi_aet,
    window_asd,
    xyz_triplets,
)
from pipelines.store import Store, UnknownStreamError, Window
from pipelines.timebase import format_duration, format_time, now_ns

log = logging.getLogger(__name__)

FMIN, FMAX = 1e-5, 1.0  # Hz, the LISA band shown in the ASD plot
WIDTH, BAND = 1100, 110
AXES_PX = 60  # x axis and title around the bands
SNAPSHOT_WIDTH = 1600
SNAPSHOT_AXES_PX = 70
GTI_COLOR = "#2a9d8f"


def band_px(n: int) -> int:
    """Height of one band: tall for a few streams, compact for many."""
    return int(max(50, min(150, 660 // max(n, 1))))


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
    bands: list[str] = field(default_factory=list)  # band names, top to bottom (with A/E/T)
    units: str = ""  # of the spectra, when they share one


def stream_groups(names: list[str]) -> list[str]:
    """Wildcards of the stream families of a store (`LISA.isi_carrier_fluctuations.*`)."""
    out: list[str] = []
    for n in names:
        p = n.rpartition(".")[0]
        g = f"{p}.*" if p else n
        if g not in out:
            out.append(g)
    return out


def is_mission_store(store: Store) -> bool:
    """True when a store holds mission streams (written by `ingest mission`)."""
    for n in store.streams()[:200]:
        if n.count(".") != 3:  # seismic streams are NET.STA.LOC.CHA
            try:
                if "mission" in store[n].attrs:
                    return True
            except Exception:  # a broken stream does not decide
                continue
    return False


def _units(stream) -> str:
    return str(stream.attrs.get("units") or "")


def _group_notes(notes: list[str]) -> list[str]:
    """'A: reason', 'B: reason' -> 'A, B: reason' (one line per reason)."""
    by: dict[str, list[str]] = {}
    for n in notes:
        name, _, reason = n.partition(": ")
        by.setdefault(reason, []).append(name)
    return [f"{', '.join(names)}: {reason}" for reason, names in by.items()]


def n_bands(store: Store, names: list[str]) -> int:
    """Bands the streams take: one each, plus A, E, T for every X/Y/Z triplet among them."""
    return len(names) + 3 * len(xyz_triplets(store, names))


def envelope(name: str, t_ns: np.ndarray, v: np.ndarray, t0_ns: int, t1_ns: int,
             width: int) -> Window:
    """Samples on a regular grid as a store-like window: raw when they fit the width, else
    per-bucket min/max (NaN where a bucket is empty), so `raster.band_mask` can draw them."""
    if len(t_ns) < 2:
        return Window(name, 0, int(t_ns[0]) if len(t_ns) else t0_ns, 1.0, v, v)
    step = float(t_ns[1] - t_ns[0])
    k = max(int((t1_ns - t0_ns) / step / max(width, 1)), 1)
    if k == 1:
        return Window(name, 0, int(t_ns[0]), step, v, v)
    m = len(v) // k * k
    blocks = v[:m].reshape(-1, k)
    with warnings.catch_warnings():  # an all-NaN bucket (a gap) is NaN, as in the store
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(blocks, axis=1), np.nanmax(blocks, axis=1)
    return Window(name, 1, int(t_ns[0]), step * k, lo, hi)


def _band_scale(lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return 0.0, 0.0
    center = float(np.median((lo[ok] + hi[ok]) / 2))
    return center, float(np.max(np.maximum(hi[ok] - center, center - lo[ok])))


def build_view(store: Store, names: list[str], t0_ns: int, t1_ns: int, width: int = WIDTH,
               band: int = BAND) -> MissionView:
    """Read and compute everything the page shows for these streams and window."""
    streams = [store[n] for n in names]
    # Mission series (housekeeping, laser and TDI channels, light curves) have no rare big
    # events to clip: each band spans its window's range, as the seismic "max" scale does.
    frame = make_frame(streams, t0_ns, t1_ns, width, band * max(len(streams), 1),
                       FrameOptions(scale="trace")) if streams else None
    labels = []
    for s, tr in zip(streams, frame.traces if frame else [], strict=False):
        u = _units(s)
        labels.append(tr.label.replace(" counts", f" {u}" if u else ""))
    view = MissionView(t0_ns, t1_ns, frame.image if frame else None, labels,
                       notes=list(frame.notes) if frame else [], bands=list(names))
    units = {_units(s) for s in streams}
    view.units = units.pop() if len(units) == 1 else ""
    no_asd: list[str] = []
    for s in streams:
        sp = window_asd(s, t0_ns, t1_ns)
        if sp is not None:
            view.spectra.append(sp)
        else:
            no_asd.append(no_asd_reason(s, t0_ns, t1_ns))
        if s.name.endswith(".RATE") and f"{s.name[:-5]}.ERROR" in store:
            err = store[f"{s.name[:-5]}.ERROR"]
            part = clip_to_data(s, t0_ns, t1_ns, width)  # a far window costs its data only
            if part is not None:
                w = s.read_window(part[0], part[1], max_points=part[2])
                e = err.read_window(part[0], part[1], max_points=part[2], level=w.level)
                n = min(len(w.lo), len(e.lo))
                mid = (w.lo[:n] + w.hi[:n]) / 2
                view.light_curves[s.name] = {
                    "t": w.times_ns[:n], "step": np.full(n, w.step_ns), "rate": mid,
                    "lo": w.lo[:n] - e.hi[:n], "hi": w.hi[:n] + e.hi[:n]}
        for a, b in s.attrs.get("gti", []):
            if b > t0_ns and a < t1_ns and (a, b) not in view.gtis:
                view.gtis.append((int(a), int(b)))
    view.notes += _group_notes(no_asd)
    for prefix in xyz_triplets(store, names):
        got = aligned_xyz(store, prefix, t0_ns, t1_ns)
        if got is None:
            view.notes.append(f"{prefix}: A/E/T need X, Y, Z on one grid and a window under "
                              f"{RAW_MAX:,} samples: zoom in")
            continue
        t, (x, y, z) = got
        a, e, tt = tdi_aet(x, y, z)
        view.tdi.update({"t": t, f"{prefix}.A": a, f"{prefix}.E": e, f"{prefix}.T": tt})
        fs = store[f"{prefix}.X"].sampling_rate
        for label, v in ((f"{prefix}.A", a), (f"{prefix}.E", e), (f"{prefix}.T", tt)):
            _add_tdi_band(view, label, t, v, width, band)
            sp = series_asd(label, v, fs)
            if sp is not None:
                view.spectra.append(sp)
    return view


def _add_tdi_band(view: MissionView, label: str, t: np.ndarray, v: np.ndarray, width: int,
                  band: int) -> None:
    """Draw one TDI combination as an extra band below the others."""
    if view.image is None:
        return
    w = envelope(label, t, v, view.t0_ns, view.t1_ns, view.image.shape[1])
    lo, hi = raster.visible(w, view.t0_ns, view.t1_ns)
    center, scale = _band_scale(lo, hi)
    h = view.image.shape[0] // max(len(view.bands), 1)
    mask = raster.band_mask(w, view.t0_ns, view.t1_ns, view.image.shape[1], h, center,
                            scale or 1.0)
    rows = np.zeros((h, view.image.shape[1]), dtype=np.uint32)
    rows[mask] = raster.rgba(PALETTE[len(view.bands) % len(PALETTE)])
    view.image = np.vstack([view.image, rows])
    view.bands.append(label)
    level = "samples" if w.is_raw else "envelope"
    view.labels.append(f"±{scale:.3g} · TDI from X, Y, Z · {level}" if scale
                       else "no data here")


def _png_url(image: np.ndarray) -> str:
    """An RGBA frame image (row 0 at the top) as a PNG data: URL."""
    from PIL import Image

    rgba = image.view(np.uint8).reshape(*image.shape, 4)
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class MissionFigures:
    """The page's Bokeh figures; `update(view)` redraws them in place (sources only).

    `static` draws the bands as a PNG (for snapshots: small, and no server needed)."""

    def __init__(self, view: MissionView, n_bands: int, theme: str = "light",
                 static: bool = False, embed_mode: bool = False, band: int | None = None):
        self.theme = theme
        self.static = static
        names = view.bands or [f"band {i}" for i in range(n_bands)]
        self.n = max(len(names), n_bands, 1)
        n = self.n
        self.band = band or band_px(n)
        self.x_range = Range1d(ms(view.t0_ns), ms(view.t1_ns))
        self.img = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": []})
        self.url = ColumnDataSource({"url": [], "x": [], "y": [], "w": [], "h": []})
        self.labels = ColumnDataSource({"x": [], "y": [], "text": []})
        self.asd_src = ColumnDataSource({"xs": [], "ys": [], "color": [], "name": []})
        self.lc_src = {name: ColumnDataSource({"t": [], "right": [], "rate": [], "lo": [],
                                               "hi": []})
                       for name in view.light_curves}
        size = ({"sizing_mode": "stretch_both", "min_height": n * 40 + AXES_PX} if embed_mode
                else {"sizing_mode": "stretch_width", "height": n * self.band + AXES_PX})
        wheel = WheelZoomTool(dimensions="width")
        ts = figure(name="mission", x_axis_type="datetime", x_range=self.x_range,
                    y_range=Range1d(-0.5, n - 0.5), **size,
                    tools=[PanTool(dimensions="width"), wheel, "xbox_zoom", ResetTool(),
                           SaveTool()], toolbar_location="above", min_border_left=10,
                    min_border_right=20,
                    title="time series (envelopes at screen resolution, samples when zoomed in)")
        style_bands(ts, wheel, names, n, label_px=11)
        if static:
            ts.image_url(url="url", x="x", y="y", w="w", h="h", anchor="bottom_left",
                         source=self.url)
        else:
            ts.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=self.img)
        ts.text(x="x", y="y", text="text", source=self.labels, text_font_size="11px",
                text_color="#556", x_offset=6, text_baseline="top")
        self.series = ts
        self.light_curves = None
        if self.lc_src:
            lc = figure(name="lightcurve", x_axis_type="datetime", x_range=self.x_range,
                        height=260, sizing_mode="stretch_width",
                        tools=[PanTool(dimensions="width"), WheelZoomTool(dimensions="width"),
                               ResetTool(), SaveTool()], toolbar_location="above",
                        min_border_left=10, min_border_right=20,
                        title="light curve: rate ± ERROR (band), good time intervals shaded")
            lc.toolbar.logo = None
            lc.toolbar.active_scroll = lc.select_one(WheelZoomTool)
            units = ""
            for i, (name, src) in enumerate(self.lc_src.items()):
                color = PALETTE[i % len(PALETTE)]
                lc.quad(left="t", right="right", bottom="lo", top="hi", source=src,
                        fill_color=color, fill_alpha=0.28, line_color=None,
                        legend_label=f"{name} ± error")
                lc.step(x="t", y="rate", source=src, color=color, mode="after",
                        legend_label=name)
                units = units or "count/s"
            lc.yaxis.axis_label = units
            lc.xaxis.axis_label = "UTC"
            lc.legend.location = "top_right"
            lc.legend.label_text_font_size = "11px"
            lc.legend.background_fill_alpha = 0.7
            self.light_curves = lc
        for fig in (ts, self.light_curves):
            for a, b in view.gtis if fig is not None else ():
                fig.add_layout(BoxAnnotation(left=ms(a), right=ms(b), fill_color=GTI_COLOR,
                                             fill_alpha=0.12, line_color=None))
        asd = figure(name="asd", x_axis_type="log", y_axis_type="log",
                     x_range=Range1d(FMIN, FMAX), height=340, sizing_mode="stretch_width",
                     x_axis_label="frequency (Hz)",
                     y_axis_label=f"ASD ({view.units}/√Hz)" if view.units else "ASD (/√Hz)",
                     tools="pan,wheel_zoom,box_zoom,reset,save", toolbar_location="above",
                     min_border_left=10, min_border_right=20,
                     title="amplitude spectral density (Welch, Hann, 50 % overlap) of the "
                           "window shown")
        asd.toolbar.logo = None
        r = asd.multi_line(xs="xs", ys="ys", color="color", source=self.asd_src, line_width=1.3)
        # Below, in columns: a legend at the side would narrow every figure's frame (Bokeh
        # aligns the frames of a column, which keeps the time axes above one another).
        asd.add_layout(Legend(items=[], label_text_font_size="11px", spacing=6, ncols=3,
                              padding=4, margin=4, border_line_alpha=0), "below")
        self._asd_renderer = r
        self.asd = asd
        for f in self.all():
            themes.style_figure(f, theme)
        self.update(view)

    def all(self) -> list:
        """The figures, top to bottom."""
        return [f for f in (self.series, self.light_curves, self.asd) if f is not None]

    def update(self, view: MissionView) -> None:
        """Show another window of the same streams."""
        from bokeh.models import LegendItem

        if view.image is not None:
            image = themes.recolor(view.image, self.theme)
            if self.static:
                self.url.data = {"url": [_png_url(image)], "x": [ms(view.t0_ns)], "y": [-0.5],
                                 "w": [ms(view.t1_ns - view.t0_ns)], "h": [self.n]}
            else:
                self.img.data = {"image": [np.flipud(image)], "x": [ms(view.t0_ns)],
                                 "y": [-0.5], "dw": [ms(view.t1_ns - view.t0_ns)],
                                 "dh": [self.n]}
            self.labels.data = {"x": [ms(view.t0_ns)] * len(view.labels),
                                "y": [self.n - 1 - i + 0.47 for i in range(len(view.labels))],
                                "text": view.labels}
        for name, src in self.lc_src.items():
            d = view.light_curves.get(name)
            if d is not None:
                t = d["t"] / 1e6
                src.data = {"t": t, "right": t + d["step"] / 1e6, "rate": d["rate"],
                            "lo": d["lo"], "hi": d["hi"]}
        xs, ys, colors, labels = [], [], [], []
        palette = themes.trace_palette(self.theme)
        for i, sp in enumerate(view.spectra):
            keep = (sp.freq > 0) & np.isfinite(sp.asd) & (sp.asd > 0)
            if keep.any():
                xs.append(sp.freq[keep])
                ys.append(sp.asd[keep])
                colors.append(palette[i % len(palette)])
                labels.append(f"{sp.name} · {sp.source}")
        self.asd_src.data = {"xs": xs, "ys": ys, "color": colors, "name": labels}
        legend = self.asd.select_one(Legend)
        legend.items = [LegendItem(label=lab, renderers=[self._asd_renderer], index=i)
                        for i, lab in enumerate(labels)]
        self.asd.visible = bool(labels)  # nothing to draw (irregular streams): no empty axes


def mission_store_label(sources) -> str:
    """The store /mission shows without `store=`: the first one holding mission streams."""
    def find() -> str:
        for label in sources.labels:
            try:
                if is_mission_store(sources.store(label)):
                    return label
            except Exception:  # an unreadable store is reported by the pages that use it
                continue
        return sources.labels[0]

    return sources.cached("mission-store", find)


def _store_of(sources, args: dict[str, str], errors: list[str]) -> str:
    """The label of the store the URL asks for (the first mission store without `store=`)."""
    if not args.get("store"):
        return mission_store_label(sources)
    try:
        return sources.resolve(args["store"])
    except ValueError as exc:
        errors.append(str(exc))
        return mission_store_label(sources)


# -- the page -----------------------------------------------------------------------------
class MissionPage(PatternStreams, TimeRangePage):
    """One session's mission view: widgets, figures, and the URL they are kept in."""

    slug = "mission"
    title = "Mission"
    settle_ms = 60  # one re-read per burst of wheel or drag events

    def __init__(self, sources, args: dict[str, str], **params):
        errors: list[str] = []
        label = _store_of(sources, args, errors)
        store: Store = sources.store(label)
        state, more = MissionState.from_query(store, label, args, now_ns())
        super().__init__(sources, args, state=state, **params)
        self.store = store
        self.messages = pn.Column(*chrome.alerts(errors + more),
                                  *chrome.paging(self.slug, state, args),
                                  *chrome.alerts(state.notes, "info"),
                                  sizing_mode="stretch_width")
        self.notes = pn.Column(sizing_mode="stretch_width")
        self.status = chrome.status_pane(self.theme)
        self.plot_holder = pn.Column(sizing_mode="stretch_both" if self.embed
                                     else "stretch_width")
        self.share: share.ShareControl | None = None
        self.url = QuerySync(lambda: self.state.to_query(self.theme, self.embed))
        self._build_widgets()
        self._build_figures()

    # -- widgets ----------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        p = self.state.param
        names = self.store.streams()
        self.w_group = pn.widgets.Select(
            label="Stream family", options=["—", *stream_groups(names)], value="—", width=280)
        self.w_pattern = pn.widgets.TextInput.from_param(
            p.pattern, placeholder="LISA.*.12, LDC.*", width=260)
        self.w_streams = pn.widgets.MultiChoice.from_param(
            p.streams, options=names, width=460, max_items=None, solid=False)
        self.time_widgets(width=220, quick_width=190)
        self.w_group.param.watch(self._on_group, "value")
        self.state.param.watch(self._on_pattern, "pattern")
        self.state.param.watch(self._on_streams, "streams")

    def controls(self) -> pn.viewable.Viewable:
        """The widget rows above the figures."""
        return pn.Column(chrome.widget_row(self.w_group, self.w_pattern, self.w_streams),
                         chrome.widget_row(self.w_from, self.w_to, self.w_quick),
                         sizing_mode="stretch_width")

    # -- figures ----------------------------------------------------------------------------
    def _build_figures(self) -> None:
        s = self.state
        self.names = list(s.streams)
        self.band = band_px(n_bands(self.store, self.names))
        view = build_view(self.store, self.names, s.t0_ns, s.t1_ns, RENDER_WIDTH, self.band)
        span = data_span(self.store, self.names) or (s.t0_ns, s.t1_ns)
        self.figs = MissionFigures(view, max(len(view.bands), 1), self.theme,
                                   embed_mode=self.embed, band=self.band)
        self.figs.x_range.update(reset_start=ms(span[0]), reset_end=ms(span[1]))
        self.follow(self.figs.series)
        mode = "stretch_both" if self.embed else "stretch_width"
        figs = self.figs.all() if not self.embed else self.figs.all()[:2]
        self.plot_holder[:] = [pn.pane.Bokeh(f, sizing_mode=mode) for f in figs]
        self.mark_drawn()
        self._show(view)

    def render(self) -> None:
        """Re-read the current window at the plot's pixel width and redraw everything."""
        s = self.state
        self.mark_drawn()
        try:
            view = build_view(self.store, self.names, s.t0_ns, s.t1_ns, self.plot_width(),
                              self.band)
        except Exception:  # a broken chunk must not take the page down
            log.exception("mission frame failed")
            self.notes[:] = [chrome.alert("Could not read this window from the store; the "
                                          "server log has the details.", "danger")]
            return
        if len(view.bands) != self.figs.n:  # A/E/T came or went: new figures
            self._build_figures()
            return
        self.figs.update(view)
        self._show(view)

    def _show(self, view: MissionView) -> None:
        s = self.state
        px = (s.t1_ns - s.t0_ns) / max(self.plot_width(), 1)
        chrome.set_status(self.status,
            f"{format_time(s.t0_ns)} → {format_time(s.t1_ns)} "
            f"({format_duration(s.t1_ns - s.t0_ns)}) · 1 pixel ≈ {format_duration(px)} · "
            f"{len(self.names)} streams" + (" + A, E, T" if len(view.bands) > len(self.names)
                                            else ""))
        self.notes[:] = [chrome.alert(n, "warning") for n in view.notes]
        self.url.write()
        if self.share is not None:
            self.share.update()

    def range_figure(self):
        """The series figure: its x range is shared by every plot of the page."""
        return self.figs.series

    def data_span(self) -> tuple[int, int] | None:
        """The span of the streams shown."""
        return data_span(self.store, self.names)

    # -- reacting ---------------------------------------------------------------------------
    def _on_group(self, event) -> None:
        if not event.new or event.new == "—":
            return
        self.w_group.value = "—"
        try:
            names = self.state.select(event.new)
        except (UnknownStreamError, ValueError) as exc:
            self.messages[:] = [chrome.alert(f"streams={event.new!r}: {exc}")]
            return
        self.messages[:] = []
        span = data_span(self.store, names)
        if span is not None:  # another family: show all of it
            self.state.set_range(*span)
        self.state.param.update(pattern=event.new, streams=names)

    def _on_streams(self, event) -> None:
        s = self.state
        if not s.streams:  # an empty pick keeps what is shown
            s.streams = list(self.names)
            return
        if s.pattern and not s.pattern_applies():
            s.pattern = ""  # picked by hand: the wildcards no longer say what is shown
        if list(s.streams) == self.names:
            return
        span = data_span(self.store, s.streams)
        # Another family may live elsewhere in time: keep the window only if it shows data.
        if span is not None and (span[1] <= s.t0_ns or span[0] >= s.t1_ns):
            s.set_range(*span)
        self.run_locked(self._build_figures)

    # -- page -------------------------------------------------------------------------------
    def __panel__(self) -> pn.viewable.Viewable:
        """The whole page."""
        body = [self.messages, self.time_note]
        if not self.embed:
            self.share = share.ShareControl("mission", self._share_query, figure="mission",
                                            locked=lambda: self._share_query(locked=True))
            body += [self.controls(), self.share.view()]
        body += [self.status, self.plot_holder, self.notes, self.url.view]
        return chrome.page("mission", *body, store=self.state.store, embed=self.embed,
                           title=self.title)

    def _share_query(self, locked: bool = False) -> dict[str, str]:
        q = self.state.to_query()
        if locked:
            q |= self.state.locked_query()
        return q

    @classmethod
    def snapshot(cls, sources, args: dict[str, str], theme: str,
                 fit: tuple[int, int] | None) -> SnapshotParts:
        """The figures with their data inline: the bands (A/E/T included) as one PNG, the
        light curves with error band and GTIs, the ASD of the window."""
        label, store, state = cls.snapshot_state(sources, args, MissionState, now_ns())
        n = n_bands(store, state.streams)
        band = band_px(n) if fit is None else max((fit[1] - SNAPSHOT_AXES_PX - 60) // (n + 4),
                                                  12)
        width = SNAPSHOT_WIDTH if fit is None else fit[0]
        t0, t1 = state.t0_ns, state.t1_ns
        view = build_view(store, state.streams, t0, t1, width, band)
        figs = MissionFigures(view, len(view.bands), theme, static=True, band=band)
        body = style_and_fit([f for f in figs.all() if f.visible], theme, fit)
        meta = {"streams": state.streams, "from": format_time(t0), "to": format_time(t1),
                "duration": format_duration(t1 - t0), "bands": view.bands,
                "spectra": [f"{sp.name} · {sp.source}" for sp in view.spectra],
                "hint": "; ".join(view.notes)}
        return SnapshotParts(body, meta, label, store.url)
