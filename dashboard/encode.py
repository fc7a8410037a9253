"""Frames as compact images for the browser: one palette PNG instead of raw RGBA.

A frame has a handful of colours (the band colours on a transparent background). Sent as
uint32 RGBA through Bokeh's `image_rgba` it costs 4 bytes per pixel on every repaint (3.5 MB for
six bands of 120 x 1200 px); as a palette PNG in a data URL (`image_url`) it is a few tens of
kilobytes, since a trace is mostly background.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def png_bytes(index: np.ndarray, colours: tuple[str, ...] | list[str],
              background: str = "#ffffff", compress_level: int = 1) -> bytes:
    """(h, w) uint8 palette indices (0: transparent background, k: colours[k-1], row 0 at the
    top) as PNG bytes."""
    img = Image.fromarray(np.ascontiguousarray(index, dtype=np.uint8), mode="P")
    rgb = [int(c.lstrip("#")[k:k + 2], 16) for c in (background, *colours) for k in (0, 2, 4)]
    img.putpalette(rgb)
    buf = io.BytesIO()
    # Level 1: a few ms for a tall frame and within a few per cent of the best size here.
    img.save(buf, format="PNG", compress_level=compress_level, transparency=0)
    return buf.getvalue()


def data_url(png: bytes) -> str:
    """PNG bytes as a data: URL (what Bokeh's image_url takes)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_data_url(index: np.ndarray, colours: tuple[str, ...] | list[str],
                 background: str = "#ffffff") -> str:
    """`png_bytes` as a data: URL."""
    return data_url(png_bytes(index, colours, background))
