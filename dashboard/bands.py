"""The look of a stacked-band figure (waveforms, mission, their snapshots): band heights, the
UTC axis, band labels, how an earthquake is named and coloured (`picks` draws them)."""

from __future__ import annotations

from bokeh.models import FixedTicker, WheelZoomTool
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
