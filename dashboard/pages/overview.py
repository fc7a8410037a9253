"""The overview page (/): every store, its streams, spans, sizes and coverage at a glance."""

from __future__ import annotations

import html
import logging
from urllib.parse import urlencode

import panel as pn

from dashboard import chrome, latency, share
from dashboard import theme as themes
from dashboard.pages.availability import AvailabilityPage, timeline_figure
from dashboard.pages.base import Page, Refresh, SnapshotParts, style_and_fit
from dashboard.pages.resources import usage_summary
from dashboard.pages.stations import TABLE_CSS
from dashboard.sources import Sources
from dashboard.state import REFRESH_CHOICES, data_span, main_span
from pipelines.store import Store
from pipelines.timebase import format_duration, format_time, now_ns

log = logging.getLogger(__name__)


def human_bytes(n: float) -> str:
    """1234567 -> '1.2 MB'."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def human_count(n: float) -> str:
    """1234567 -> '1.23 M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f}"


def _link(page: str, label: str, default: bool, text: str, **query: str) -> str:
    q = {} if default else {"store": label}
    q.update(query)
    href = f"./{page}" + ("?" + urlencode(q, safe="*,:") if q else "")
    return f"<a href='{html.escape(href)}'>{html.escape(text)}</a>"


def stream_rows(sources: Sources, label: str, store: Store, default: bool) -> list[str]:
    """One HTML table row per stream: rate, span, latency, samples, coverage, gaps, size."""
    rows = []
    now = now_ns()
    for st in store:
        span = st.span_ns
        samples = st.n_samples
        cov = ""
        if span:
            expected = (span[1] - span[0]) / st.period_ns
            cov = f"{100 * samples / max(expected, 1):.1f}%"
        size = sources.cached(f"size:{label}:{st.name}", st.nbytes_stored)
        link = _link("waveforms", label, default, st.name, streams=st.name)
        rows.append(
            f"<tr><td>{link}</td><td>{st.sampling_rate:g}</td>"
            f"<td>{format_time(span[0]) if span else '—'}</td>"
            f"<td>{format_time(span[1]) if span else '—'}</td>"
            f"<td>{latency.badge_html(latency.latency_s(span, now))}</td>"
            f"<td>{human_count(samples)}</td><td>{cov}</td><td>{len(st.gaps())}</td>"
            f"<td>{human_bytes(size)}</td></tr>")
    return rows


def store_section(sources: Sources, label: str, theme: str) -> list[pn.viewable.Viewable]:
    """Heading, facts, stream table and availability strip of one store."""
    store = sources.store(label)
    default = label == sources.labels[0]
    names = store.streams()
    span = data_span(store, names) if names else None
    size = sources.cached(f"size:{label}", store.nbytes)
    events = store.events()
    facts = (f"**{len(names)} streams** · {len(events)} earthquakes in the catalogue · "
             f"{human_bytes(size)} on disk")
    if span:
        facts += (f" · from {format_time(span[0])} to {format_time(span[1])} "
                  f"({format_duration(span[1] - span[0])})")
    links = " · ".join(_link(p, label, default, t) for p, t in (
        ("waveforms", "waveforms"), ("availability", "availability"), ("stations", "stations")))
    items: list[pn.viewable.Viewable] = [
        pn.pane.HTML(f"<h2 style='margin:4px 0'>{html.escape(label)}</h2>"
                     f"<div style='color:#889'>{html.escape(store.url)} · {links}</div>",
                     margin=(8, 12), stylesheets=themes.stylesheets(theme)),
        pn.pane.Markdown(facts, margin=(0, 12)),
    ]
    if not names:
        items.append(chrome.alert("This store holds no streams yet.", "info"))
        return items
    head = ("<tr><th>stream</th><th>rate (Hz)</th><th>first</th><th>last</th><th>latency</th>"
            "<th>samples</th><th>coverage</th><th>gaps</th><th>size</th></tr>")
    table = (f"<table class='bv-table'><thead>{head}</thead><tbody>"
             + "".join(stream_rows(sources, label, store, default)) + "</tbody></table>")
    items.append(pn.pane.HTML(table, stylesheets=themes.stylesheets(theme, TABLE_CSS),
                              margin=(4, 12),
                              sizing_mode="stretch_width"))
    if span:
        focus = main_span(store, names) or span
        title = "Availability (gaps in red)"
        if focus != span:
            title += f": {format_time(focus[0])} to {format_time(focus[1])}, most of the data"
        fig = timeline_figure(store, names, *focus, title=title)
        themes.style_figure(fig, theme)
        items.append(pn.pane.Bokeh(fig, sizing_mode="stretch_width"))
    return items


class OverviewPage(Page):
    """/: a section per store (facts, stream table, availability strip) and per usage store."""

    slug = ""
    title = "Overview"

    def sections(self) -> list[pn.viewable.Viewable]:
        """A section per store and per usage store: one unreadable store must not hide the
        others."""
        body: list[pn.viewable.Viewable] = []
        for label in self.sources.labels:
            try:
                body += store_section(self.sources, label, self.theme)
            except Exception as exc:
                log.exception("overview of %s failed", label)
                body.append(chrome.alert(f"Store {label} could not be read: {exc}"))
        for label in self.sources.usage_labels:
            try:
                body += usage_summary(self.sources, label)
            except Exception as exc:
                log.exception("usage summary of %s failed", label)
                body.append(chrome.alert(f"Usage store {label} could not be read: {exc}"))
        return body

    def _refresh(self) -> None:
        self.holder[:] = self.sections()

    def __panel__(self) -> pn.viewable.Viewable:
        """The whole page; with `refresh=` (as /waveforms) the sections are read again every
        period, so the latencies follow the data."""
        self.holder = pn.Column(*self.sections(), sizing_mode="stretch_width")
        body: list[pn.viewable.Viewable] = [self.holder]
        choice = self.args.get("refresh", "").strip() or "off"
        if choice not in REFRESH_CHOICES:
            body.insert(0, chrome.alert(f"refresh={choice!r} is not one of "
                                        f"{', '.join(REFRESH_CHOICES)}; not refreshing"))
        else:
            self.refresher = Refresh(self._refresh)
            self.refresher.set(choice)
        asked = self.args.get("store")
        store = asked if asked in self.sources.labels else None
        if not self.embed:
            body.insert(0, pn.pane.HTML(
                "<div class='bv-services' style='color:#445;font-size:13px'>Programs read these "
                "stores through the FDSN web services: "
                "<a href='./fdsnws/dataselect/1/'>dataselect</a>, "
                "<a href='./fdsnws/station/1/'>station</a>, "
                "<a href='./fdsnws/availability/1/'>availability</a>, "
                "<a href='./fdsnws/event/1/'>event</a> (ObsPy: "
                "<code>Client(\"this server's address\")</code>)</div>",
                sizing_mode="stretch_width", margin=(0, 12)))
            body.insert(0, share.for_page("", self.args, "timeline"))
        return chrome.page("", *body, store=store or self.sources.labels[0], embed=self.embed,
                           title=self.title)

    @classmethod
    def snapshot(cls, sources, args: dict[str, str], theme: str,
                 fit: tuple[int, int] | None) -> SnapshotParts:
        """The availability strip of the store asked for, with its data inline."""
        page = AvailabilityPage.checked(sources, args)
        return SnapshotParts(style_and_fit(page.figures()[:1], theme, fit),
                             page.snapshot_meta(), page.state.store, page.store.url)
