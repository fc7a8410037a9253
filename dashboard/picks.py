"""Picks, catalogue earthquakes and detections on the waveform bands, laid out per frame.

Picks are thin ticks across their band in the colour of their phase (P and S apart, as
Snuffler colours its markers), drawn *under* the trace image: the trace's pixels always win,
so a tick never hides the arrival it marks. Their labels sit in lanes at the bottom of the band;
a label that would run into the one before it takes the next lane, and with every lane taken
it is left out (the tick stays). Earthquakes and detections on the top row are thinned by level
of detail: marks closer than a label's width on screen become one, the largest earthquake of
the group, labelled with how many more it stands for; detections past `MAX_DETECTIONS` in the
window are drawn as counts per bin of columns (`detection_counts`, O(bins)).

Everything is laid out again for every frame, for the range and the pixel width drawn, so the
thinning follows the zoom.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from dashboard.bands import EVENT_COLOR, EVENT_INK, event_label
from dashboard.cds import set_data
from pipelines.store import detections
from pipelines.store.products import NETWORK, open_table

log = logging.getLogger(__name__)

PHASE_COLORS = {"P": "#e0218a", "S": "#00a3e0", "trigger": "#e69500"}  # magenta, cyan, amber
OTHER_PHASE_COLOR = "#7f7f7f"
DETECTION_COLOR, DETECTION_INK = "#e69500", "#8a5a00"
LABEL_PX = 11  # font size of pick labels
CHAR_PX = 6.6  # about the width of one character of it
LANES = 3  # label lanes at the bottom of a band
EVENT_LABEL_PX = 64  # earthquakes closer than this on screen share one mark
MAX_TICKS = 2000  # picks drawn at most per frame (a year of picks is not a readable view)
MAX_DETECTIONS = 300  # more detections than this in the window: counts per bin instead
DETECTION_BIN_PX = 8


def phase_color(phase: str | None) -> str:
    """The colour of a pick of this phase (P*, S*, trigger; grey for any other)."""
    p = str(phase or "")
    if p in PHASE_COLORS:
        return PHASE_COLORS[p]
    return PHASE_COLORS.get(p[:1].upper(), OTHER_PHASE_COLOR)


def pick_text(pick: dict[str, Any]) -> str:
    """A pick's label: its phase ('trg' for a detection's trigger, which is long otherwise)."""
    phase = str(pick.get("phase") or "pick")
    return "trg" if phase == "trigger" else phase


def label_lanes(x_px: np.ndarray, widths_px: np.ndarray, lanes: int = LANES,
                gap_px: float = 4.0) -> np.ndarray:
    """The lane (0 = lowest) of each label starting at `x_px` (sorted) that keeps it clear of
    the labels before it in that lane, or -1 when every lane is taken there (left out)."""
    ends = np.full(lanes, -np.inf)
    out = np.full(len(x_px), -1, dtype=np.int64)
    for i, (x, w) in enumerate(zip(x_px, widths_px, strict=True)):
        free = np.flatnonzero(ends + gap_px <= x)
        if len(free):
            lane = int(free[0])
            out[i] = lane
            ends[lane] = x + w
    return out


def thin_marks(x_px: np.ndarray, weight: np.ndarray, min_px: float = EVENT_LABEL_PX
               ) -> list[tuple[int, int]]:
    """Marks (x sorted) thinned so that no two shown lie within `min_px`: per mark shown,
    (its index, marks it stands for); of marks too close, the heavier one stays."""
    shown: list[list[int]] = []  # [index, count]
    for i in range(len(x_px)):
        if shown and x_px[i] - x_px[shown[-1][0]] < min_px:
            last = shown[-1]
            if weight[i] > weight[last[0]]:
                last[0] = i  # moved right: further still from the mark shown before it
            last[1] += 1
            continue
        shown.append([i, 1])
    return [(i, c) for i, c in shown]


@dataclass
class PickLayout:
    """The ticks and labels of one frame's picks, as columns for Bokeh sources."""

    ticks: dict[str, list] = field(default_factory=lambda: {"x": [], "y0": [], "y1": [],
                                                            "color": []})
    labels: dict[str, list] = field(default_factory=lambda: {"x": [], "y": [], "text": [],
                                                             "color": []})
    shown: int = 0  # picks drawn
    hidden_labels: int = 0  # labels left out for want of room


def layout_picks(picks: list[dict[str, Any]], rows: dict[str, int], t0_ns: int, t1_ns: int,
                 width_px: int, band_px: int) -> PickLayout:
    """Ticks across the band of each pick's stream and collision-free labels for [t0, t1).

    `rows` maps stream names to their band (0 at the bottom); `band_px` is one band's height."""
    out = PickLayout()
    mine = sorted((p for p in picks if p.get("stream") in rows and p.get("time_ns") is not None
                   and t0_ns <= int(p["time_ns"]) < t1_ns), key=lambda p: int(p["time_ns"]))
    mine = mine[:MAX_TICKS]
    out.shown = len(mine)
    px_per_ns = width_px / max(t1_ns - t0_ns, 1)
    lane_h = (LABEL_PX + 2) / max(band_px, 1)  # a lane in band units
    by_row: dict[int, list[dict]] = {}
    for p in mine:
        y = rows[p["stream"]]
        colour = phase_color(p.get("phase"))
        out.ticks["x"].append(int(p["time_ns"]) / 1e6)
        out.ticks["y0"].append(y - 0.5)
        out.ticks["y1"].append(y + 0.5)
        out.ticks["color"].append(colour)
        by_row.setdefault(y, []).append(p)
    for y, row in by_row.items():
        texts = [pick_text(p) for p in row]
        x_px = np.array([(int(p["time_ns"]) - t0_ns) * px_per_ns for p in row])
        lanes = label_lanes(x_px, np.array([len(t) * CHAR_PX + 3 for t in texts]),
                            lanes=max(1, min(LANES, int(0.5 / lane_h))))
        for p, text, lane in zip(row, texts, lanes, strict=True):
            if lane < 0:
                out.hidden_labels += 1
                continue
            out.labels["x"].append(int(p["time_ns"]) / 1e6)
            out.labels["y"].append(y - 0.5 + 0.04 + lane * lane_h)
            out.labels["text"].append(text)
            out.labels["color"].append(phase_color(p.get("phase")))
    return out


def layout_events(events: list[dict[str, Any]], t0_ns: int, t1_ns: int, width_px: int
                  ) -> dict[str, list]:
    """One mark per group of earthquakes that would overlap on screen in [t0, t1): the
    largest, labelled 'M4.2' or 'M4.2 +3' (three more under it)."""
    mine = sorted((e for e in events if t0_ns <= int(e["time_ns"]) < t1_ns),
                  key=lambda e: int(e["time_ns"]))
    cols: dict[str, list] = {"x": [], "label": [], "id": [], "more": []}
    if not mine:
        return cols
    px_per_ns = width_px / max(t1_ns - t0_ns, 1)
    x_px = np.array([(int(e["time_ns"]) - t0_ns) * px_per_ns for e in mine])
    mags = np.array([e["magnitude"] if isinstance(e.get("magnitude"), int | float) else -9.0
                     for e in mine])
    for best, count in thin_marks(x_px, mags):
        e = mine[best]
        label = event_label(e)
        cols["x"].append(int(e["time_ns"]) / 1e6)
        cols["label"].append(label if count == 1 else f"{label} +{count - 1}")
        cols["id"].append(str(e.get("id", "")))
        cols["more"].append(count - 1)
    return cols


class Detections:
    """A store's network detections, read once (a page's life): their times in memory
    (8 bytes each) for counts per bin, and the detections themselves, with their triggers,
    for windows that hold few. Reading the tables for every frame cost ~60 ms a frame."""

    def __init__(self, store: Any):
        self.store = store
        self._all: list[dict[str, Any]] | None = None  # every detection, when few
        self._found: dict[tuple[int, int], list[dict[str, Any]]] = {}
        try:
            self.times = np.sort(_times(store))
            if len(self.times) <= 4 * MAX_DETECTIONS:
                self._all = detections(store)
        except Exception:  # a broken detection table must not hide the waveforms
            log.exception("detections could not be read")
            self.times = np.zeros(0, dtype=np.int64)

    def counts(self, t0_ns: int, t1_ns: int, bins: int) -> np.ndarray:
        """Detections per bin of [t0, t1)."""
        edges = np.linspace(t0_ns, t1_ns, bins + 1).astype(np.int64)
        return np.diff(np.searchsorted(self.times, edges, "left"))

    def between(self, t0_ns: int, t1_ns: int) -> list[dict[str, Any]]:
        """The detections of [t0, t1) (with their triggers)."""
        if self._all is not None:
            return [d for d in self._all if t0_ns <= d["time_ns"] < t1_ns]
        key = (t0_ns, t1_ns)
        if key not in self._found:
            self._found = {key: detections(self.store, t0_ns, t1_ns)}
        return self._found[key]


def _times(store: Any) -> np.ndarray:
    """The times of every network detection (the table's one column read)."""
    tab = open_table(store, NETWORK, "detect")
    return np.zeros(0, np.int64) if tab is None else np.asarray(tab.read()["time_ns"], np.int64)


def layout_detections(found: Detections, t0_ns: int, t1_ns: int, width_px: int
                      ) -> tuple[dict[str, list], list[dict[str, Any]]]:
    """The detections of [t0, t1) on the top row ((x, size, text) columns), and their
    trigger picks when few enough to draw one by one (else none: counts per bin)."""
    cols: dict[str, list] = {"x": [], "size": [], "text": []}
    total = int(found.counts(t0_ns, t1_ns, 1)[0])
    if not total:
        return cols, []
    if total > MAX_DETECTIONS:
        bins = max(width_px // DETECTION_BIN_PX, 1)
        counts = found.counts(t0_ns, t1_ns, bins)
        step = (t1_ns - t0_ns) / bins
        for k in np.flatnonzero(counts):
            c = int(counts[k])
            cols["x"].append((t0_ns + (k + 0.5) * step) / 1e6)
            cols["size"].append(float(min(6 + 2 * np.log2(c), 16)))
            cols["text"].append(str(c))
        return cols, []
    picks = []
    for d in found.between(t0_ns, t1_ns):
        cols["x"].append(int(d["time_ns"]) / 1e6)
        cols["size"].append(8.0)
        cols["text"].append("")
        picks += d["picks"]
    return cols, picks


class MarkLayers:
    """The Bokeh renderers of picks, earthquakes and detections on a band figure: `layout`
    computes a frame's marks (off the event loop: it may read detection tables), `show`
    puts them on the figure."""

    def __init__(self, fig: figure, n: int, events: list[dict[str, Any]],
                 store: Any = None):
        self.n = n
        self.detections = Detections(store) if store is not None else None
        self.events = sorted(events, key=lambda e: int(e["time_ns"]))
        self.picks = sorted((p for e in events for p in (e.get("picks") or [])
                             if p.get("time_ns") is not None), key=lambda p: int(p["time_ns"]))
        self._pick_t = np.array([int(p["time_ns"]) for p in self.picks], dtype=np.int64)
        self._event_t = np.array([int(e["time_ns"]) for e in self.events], dtype=np.int64)
        top = n - 0.5 + 0.18
        self.tick_src = ColumnDataSource({"x": [], "y0": [], "y1": [], "color": []})
        self.label_src = ColumnDataSource({"x": [], "y": [], "text": [], "color": []})
        self.event_src = ColumnDataSource({"x": [], "label": [], "id": [], "more": []})
        self.detection_src = ColumnDataSource({"x": [], "size": [], "text": []})
        # Under the trace image: where a tick and the trace meet, the trace is drawn.
        fig.segment(x0="x", x1="x", y0="y0", y1="y1", source=self.tick_src, line_color="color",
                    line_width=1.5, line_alpha=0.9, level="underlay", name="picks")
        fig.text(x="x", y="y", text="text", source=self.label_src, text_color="color",
                 x_offset=3, text_font_size=f"{LABEL_PX}px", text_font_style="bold",
                 text_baseline="bottom", name="pick_labels")
        fig.segment(x0="x", x1="x", y0=-0.5, y1=top, source=self.event_src,
                    line_color=EVENT_COLOR, line_dash="dashed", line_alpha=0.5, line_width=1,
                    level="underlay")
        self.event_marker = fig.scatter(
            x="x", y=top, source=self.event_src, marker="inverted_triangle", size=14,
            fill_color=EVENT_COLOR, line_color=EVENT_INK, nonselection_fill_alpha=1.0,
            nonselection_line_alpha=1.0, name="events")
        fig.text(x="x", y=top, text="label", source=self.event_src, x_offset=9, y_offset=1,
                 text_font_size="11px", text_color=EVENT_INK, text_baseline="middle",
                 name="event_labels")
        fig.scatter(x="x", y=n - 0.5 + 0.06, size="size", source=self.detection_src,
                    marker="diamond", fill_color=DETECTION_COLOR, line_color=DETECTION_INK,
                    name="detections")
        fig.text(x="x", y=n - 0.5 + 0.06, text="text", source=self.detection_src, x_offset=7,
                 text_font_size="9px", text_color=DETECTION_INK, text_baseline="middle")

    def _between(self, times: np.ndarray, items: list, t0_ns: int, t1_ns: int) -> list:
        a, b = np.searchsorted(times, [t0_ns, t1_ns], "left")
        return items[int(a):int(b)]

    def layout(self, streams: list[str], t0_ns: int, t1_ns: int, width_px: int,
               band_px: int) -> dict[str, Any]:
        """The marks of the frame [t0, t1) drawn `width_px` wide, as source data."""
        rows = {name: self.n - 1 - i for i, name in enumerate(streams)}
        det, det_picks = {"x": [], "size": [], "text": []}, []
        if self.detections is not None:
            try:
                det, det_picks = layout_detections(self.detections, t0_ns, t1_ns, width_px)
            except Exception:  # a broken detection table must not hide the waveforms
                log.exception("detections could not be read")
        picks = self._between(self._pick_t, self.picks, t0_ns, t1_ns) + det_picks
        picks = layout_picks(picks, rows, t0_ns, t1_ns, width_px, band_px)
        events = layout_events(self._between(self._event_t, self.events, t0_ns, t1_ns),
                               t0_ns, t1_ns, width_px)
        return {"picks": picks, "events": events, "detections": det}

    def show(self, marks: dict[str, Any]) -> None:
        """Put a frame's marks (from `layout`) on the figure."""
        set_data(self.tick_src, marks["picks"].ticks)
        set_data(self.label_src, marks["picks"].labels)
        set_data(self.event_src, marks["events"])
        set_data(self.detection_src, marks["detections"])
