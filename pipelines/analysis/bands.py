"""Frequency bands (RSAM, filtered views): parse `0.5-2`, name them, keep them under Nyquist."""

from __future__ import annotations

DEFAULT_BANDS: tuple[tuple[float, float], ...] = ((0.5, 2.0), (2.0, 8.0))
NYQUIST_FRACTION = 0.9  # a band's upper edge must stay below this fraction of Nyquist


def parse_band(text: str) -> tuple[float, float]:
    """`"0.5-2"` -> (0.5, 2.0); a clear ValueError for anything else."""
    try:
        lo, hi = (float(x) for x in text.replace("Hz", "").split("-"))
    except ValueError:
        raise ValueError(f"band {text!r}: expected LOW-HIGH in Hz, e.g. 0.5-2") from None
    if not 0 < lo < hi:
        raise ValueError(f"band {text!r}: needs 0 < LOW < HIGH")
    return lo, hi


def band_name(band: tuple[float, float]) -> str:
    """The name of a band in product paths: `0.5-2Hz`."""
    return f"{band[0]:g}-{band[1]:g}Hz"


def usable(band: tuple[float, float], sampling_rate: float) -> bool:
    """True when the band fits under the stream's Nyquist frequency."""
    return band[1] < NYQUIST_FRACTION * sampling_rate / 2
