"""Latency of a stream: the time since its last sample, as a badge that turns amber and then red
past configurable thresholds (`serve.latency` in the configuration)."""

from __future__ import annotations

import html
from dataclasses import dataclass

from pipelines.timebase import NS

COLORS = {"ok": "#2e7d32", "amber": "#e69500", "red": "#c62828", "none": "#8a8f98"}


@dataclass
class Thresholds:
    """Seconds past which a stream's latency is amber, and red."""

    amber_s: float = 60.0
    red_s: float = 600.0


THRESHOLDS = Thresholds()


def configure(amber_s: float, red_s: float) -> None:
    """Set the thresholds for this process (the serve command does, from the configuration)."""
    if not 0 < amber_s <= red_s:
        raise ValueError(f"latency thresholds must satisfy 0 < amber ({amber_s:g} s) <= red "
                         f"({red_s:g} s)")
    THRESHOLDS.amber_s, THRESHOLDS.red_s = float(amber_s), float(red_s)


def latency_s(span_ns: tuple[int, int] | None, now_ns: int) -> float | None:
    """Seconds from the end of the last sample to `now` (None without data)."""
    return None if span_ns is None else max((now_ns - span_ns[1]) / NS, 0.0)


def level(seconds: float | None, limits: Thresholds = THRESHOLDS) -> str:
    """'ok', 'amber', 'red', or 'none' (no data)."""
    if seconds is None:
        return "none"
    if seconds >= limits.red_s:
        return "red"
    return "amber" if seconds >= limits.amber_s else "ok"


def format_latency(seconds: float | None) -> str:
    """'4 s', '12 min', '3.5 h', '41 d' ('no data' for None)."""
    if seconds is None:
        return "no data"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size if unit != "min" else seconds >= 120:
            value = seconds / size
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{seconds:.0f} s"


def badge(seconds: float | None) -> tuple[str, str]:
    """(text, background colour) of a latency badge."""
    return f"latency {format_latency(seconds)}", COLORS[level(seconds)]


def badge_html(seconds: float | None) -> str:
    """A latency badge as an HTML span (white on its level's colour)."""
    text, colour = badge(seconds)
    return (f"<span class='bv-latency bv-latency-{level(seconds)}' style='background:{colour};"
            f"color:#fff;border-radius:3px;padding:1px 6px;white-space:nowrap'>"
            f"{html.escape(format_latency(seconds))}</span>")
