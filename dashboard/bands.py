"""The look of a stacked-band figure (waveforms, mission, their snapshots): band heights, the
UTC axis, band labels, catalogue earthquakes as marks."""

from __future__ import annotations

from bokeh.models import ColumnDataSource, FixedTicker, WheelZoomTool
from bokeh.plotting import figure

EVENT_COLOR, EVENT_INK = "#c0392b", "#7b241c"


def band_px(n: int) -> int:
    """Height of one waveform band: tall for a few streams, compact for many."""
    return int(max(40, min(120, 640 // max(n, 1))))


def style_bands(fig: figure, wheel: WheelZoomTool, names: list[str], n: int | None = None,
                label_px: int = 12) -> None:
    """The band figures' look (waveforms, mission): wheel zoom on, a UTC axis, `n` bands
    (default one per name), the top ones labelled with `names`."""
    n = max(len(names), 1) if n is None else n  # an empty view keeps one blank band
    fig.toolbar.active_scroll = wheel
    fig.toolbar.logo = None
    fig.xaxis.axis_label = "UTC"
    fig.yaxis.ticker = FixedTicker(ticks=list(range(n)))
    fig.yaxis.major_label_overrides = {n - 1 - i: name for i, name in enumerate(names)}
    fig.yaxis.major_label_text_font_size = f"{label_px}px"
    fig.ygrid.grid_line_color = None
    fig.xgrid.grid_line_alpha = 0.4


def event_label(event: dict, unknown: str = "event") -> str:
    """'M4.2' for an earthquake of magnitude 4.2 (`unknown` without a magnitude)."""
    mag = event.get("magnitude")
    return f"M{mag:.1f}" if isinstance(mag, int | float) else unknown


def event_marks(fig: figure, events: list[dict], n: int) -> tuple[ColumnDataSource, object]:
    """Earthquakes as dashed lines across the bands with a labelled marker above them;
    returns their source (x, label, id) and the marker renderer (for a tap tool)."""
    src = ColumnDataSource({"x": [int(e["time_ns"]) / 1e6 for e in events],
                            "label": [event_label(e) for e in events],
                            "id": [str(e.get("id", "")) for e in events]})
    top = n - 0.5 + 0.18
    fig.segment(x0="x", x1="x", y0=-0.5, y1=top, source=src, line_color=EVENT_COLOR,
                line_dash="dashed", line_alpha=0.7, line_width=1.5)
    marks = fig.scatter(x="x", y=top, source=src, marker="inverted_triangle", size=14,
                        fill_color=EVENT_COLOR, line_color=EVENT_INK,
                        nonselection_fill_alpha=1.0, nonselection_line_alpha=1.0)
    fig.text(x="x", y=top, text="label", source=src, x_offset=9, y_offset=1,
             text_font_size="11px", text_color=EVENT_INK, text_baseline="middle")
    return src, marks
