"""Embed mode and themes: `embed=1` gives the bare view for an iframe, `theme=light|dark` its
colours.

Panel itself darkens its own components when the URL says `theme=dark` (it reads the same
query parameter); Bokeh figures and the server-rendered trace images are recoloured here, so a
dark view is dark everywhere: plot background, axes, text, and trace colours that stay readable
on it.
"""

from __future__ import annotations

import numpy as np
from bokeh.models import GlyphRenderer, Plot

from dashboard import raster
from dashboard.frames import PALETTE

THEMES = ("light", "dark")

# Colours of a dark view.
DARK_BG = "#15191f"  # plot area
DARK_BORDER = "#1b2027"  # around it (axes, title)
DARK_TEXT = "#d5dde6"
DARK_GRID = "#3a434e"
# The trace palette, lightened to the same hues so every band reads on DARK_BG.
DARK_PALETTE = ("#7fb0ff", "#ff8a70", "#5fd38d", "#c7a1ff", "#f2bd4b", "#4fd1e0")
# Dark ink used by the light pages (labels, picks, event marks) -> its light counterpart.
DARK_INK = {
    "#556": "#aab6c4", "#111": "#e8e8e8", "#7b241c": "#ff9c8f", "#0b1f40": "#cfe0ff",
    "#102010": "#e0f0e0", "#1f4e99": "#7fb0ff", "black": "#e8e8e8", "#000000": "#e8e8e8",
    "#444444": "#c8c8c8", "white": DARK_BG, "#ffffff": DARK_BG, "#f3f6f9": DARK_BG,
    "#dde3ea": DARK_GRID, "#e5e5e5": DARK_GRID,
}
DARK_CSS = """
.bv-table th {background: #26303b; color: #e8eef5;}
.bv-table td {border-bottom-color: #3a434e;}
a {color: #8fc1ff;}
"""


def theme_of(args: dict[str, str]) -> str:
    """The theme the URL asks for: 'dark' for theme=dark, else 'light'."""
    return "dark" if args.get("theme", "").strip().lower() == "dark" else "light"


def is_dark(args: dict[str, str]) -> bool:
    """True when the URL asks for the dark theme."""
    return theme_of(args) == "dark"


def stylesheets(theme: str, *base: str) -> list[str]:
    """Stylesheets of an HTML pane: `base`, plus dark tables and links in the dark theme."""
    return [*base, DARK_CSS] if theme == "dark" else list(base)


def trace_palette(theme: str) -> tuple[str, ...]:
    """The band colours of a waveform view in this theme."""
    return DARK_PALETTE if theme == "dark" else PALETTE


def recolor(image: np.ndarray, theme: str) -> np.ndarray:
    """A frame image (uint32 RGBA, drawn in the light palette) in the colours of `theme`."""
    if theme != "dark":
        return image
    out = image.copy()
    for light, dark in zip(PALETTE, DARK_PALETTE, strict=True):
        out[image == raster.rgba(light)] = raster.rgba(dark)
    return out


def _swap(value, table: dict[str, str]):
    if isinstance(value, str):
        return table.get(value.lower(), value)
    return value


def style_figure(fig: Plot, theme: str) -> Plot:
    """Give a Bokeh figure the colours of `theme` (light: unchanged) and no level-of-detail
    repaints; returns it."""
    # BokehJS paints a plot once more 500 ms after every paint that falls within 300 ms of an
    # interaction (to redraw decimated glyphs in full): a whole repaint per zoom for nothing
    # here, where the data is one server-drawn image.
    fig.lod_interval = 0
    if theme != "dark":
        return fig
    fig.background_fill_color = DARK_BG
    fig.border_fill_color = DARK_BORDER
    fig.outline_line_color = DARK_GRID
    for axis in [*fig.xaxis, *fig.yaxis]:
        axis.axis_line_color = DARK_GRID
        axis.major_tick_line_color = DARK_GRID
        axis.minor_tick_line_color = DARK_GRID
        axis.major_label_text_color = DARK_TEXT
        axis.axis_label_text_color = DARK_TEXT
    for grid in [*fig.xgrid, *fig.ygrid]:
        if grid.grid_line_color is not None:
            grid.grid_line_color = DARK_GRID
    if fig.title is not None:
        fig.title.text_color = DARK_TEXT
    for legend in fig.legend:
        legend.background_fill_color = DARK_BORDER
        legend.border_line_color = DARK_GRID
        legend.label_text_color = DARK_TEXT
    for r in fig.renderers:
        if isinstance(r, GlyphRenderer):
            for glyph in (r.glyph, r.nonselection_glyph, r.selection_glyph):
                _swap_glyph(glyph)
    for obj in fig.center + fig.right + fig.left + fig.above + fig.below:
        _swap_glyph(obj)
    return fig


def _swap_glyph(glyph) -> None:
    if glyph is None or glyph == "auto":
        return
    for prop in ("text_color", "line_color", "fill_color", "background_fill_color",
                 "major_label_text_color", "title_text_color"):
        if prop in glyph.properties():
            value = getattr(glyph, prop)
            swapped = _swap(value, DARK_INK)
            if swapped is not value:
                setattr(glyph, prop, swapped)
