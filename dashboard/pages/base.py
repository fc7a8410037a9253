"""What every page is: a `pn.viewable.Viewer` built for one session from the URL, that can
also give its figures, data inline, to a snapshot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import panel as pn

from dashboard import chrome
from dashboard import theme as themes
from dashboard.frames import MAX_FRAME_PX
from dashboard.sources import Sources
from dashboard.state import REFRESH_CHOICES, is_embed
from pipelines.store import UnknownStreamError


class SnapshotError(Exception):
    """A snapshot that cannot be made as asked (unknown view, bad parameters, no data)."""


__all__ = ["Page", "PatternStreams", "Refresh", "SnapshotError", "SnapshotParts",
           "follow_latest", "laid_out_px", "style_and_fit"]


def laid_out_px(value: Any, fallback: int) -> int:
    """Pixels to draw for a size the browser reported (a plot's inner width or height):
    `fallback` until it has reported one, never more than `frames.MAX_FRAME_PX` (the number
    comes from the client, which may send any)."""
    try:
        px = int(value)
    except (TypeError, ValueError, OverflowError):
        return fallback
    return min(px, MAX_FRAME_PX) if px > 0 else fallback


@dataclass
class SnapshotParts:
    """A view's figures for a snapshot, and what they show."""

    body: list  # Bokeh models, top to bottom
    meta: dict = field(default_factory=dict)  # streams, from, to, duration, hint...
    label: str = ""  # the store shown
    store_url: str = ""


class Page(pn.viewable.Viewer):
    """One session's page. Subclasses set `slug` (its route: '' is /), `title`, build their
    state from the URL in `__init__` and lay themselves out in `__panel__`."""

    slug: ClassVar[str] = ""
    title: ClassVar[str] = "Belvedere"

    def __init__(self, sources: Sources, args: dict[str, str], **params):
        super().__init__(**params)
        self.sources = sources
        self.args = args
        self.embed = is_embed(args)
        self.theme = themes.theme_of(args)

    @property
    def default_store(self) -> bool:
        """True when the store the page's state shows is the server's first (the URL then
        leaves it out)."""
        return self.state.store == self.sources.labels[0]

    @classmethod
    def snapshot(cls, sources: Sources, args: dict[str, str], theme: str,
                 fit: tuple[int, int] | None) -> SnapshotParts:
        """The page's figures with their data inline, for the URL state `args`; SnapshotError
        when the state has a bad value. `fit` (width, height) sizes them for a PNG."""
        raise NotImplementedError

    @staticmethod
    def snapshot_label(sources: Sources, args: dict[str, str]) -> str:
        """The label of the store a snapshot shows (`store=`); SnapshotError when unserved."""
        try:
            return sources.resolve(args.get("store"))
        except ValueError as exc:
            raise SnapshotError(str(exc)) from exc

    @classmethod
    def snapshot_state(cls, sources: Sources, args: dict[str, str], state_class: Any,
                       now: int, nothing: str = "holds no streams",
                       shown: Callable[[Any], Any] = lambda state: state.streams
                       ) -> tuple[str, Any, Any]:
        """(label, store, state) of a streams page's snapshot; SnapshotError for a bad value,
        or saying the store `nothing` when the state shows nothing (`shown` of it is empty)."""
        label = cls.snapshot_label(sources, args)
        store = sources.store(label)
        state, errors = state_class.from_query(store, label, args, now)
        if errors:
            raise SnapshotError("; ".join(errors))
        if not shown(state):
            raise SnapshotError(f"store {label} {nothing}")
        return label, store, state


def style_and_fit(figs: list, theme: str, fit: tuple[int, int] | None) -> list:
    """Theme the figures and, for a PNG, share the fixed viewport's height between them."""
    for f in figs:
        themes.style_figure(f, theme)
        if fit is not None:
            f.sizing_mode = "fixed"
            f.width = fit[0]
            f.height = max((fit[1] - 60) // len(figs), 150)
    return figs


class PatternStreams:
    """Mixed into a page whose streams can be typed as wildcards (`state.pattern`): the
    pattern selects the streams, or a message says why it cannot (the page keeps what it
    shows). The page has `state` (with `select`), `messages` and `url`."""

    def _on_pattern(self, event) -> None:
        pattern = event.new.strip()
        if not pattern:
            return
        try:
            names = self.keep_streams(self.state.select(pattern))
        except (UnknownStreamError, ValueError) as exc:
            self.messages[:] = [chrome.alert(f"streams={pattern!r}: {exc}")]
            return
        self.messages[:] = []
        self.state.streams = names
        self.patterned()

    def keep_streams(self, names: list[str]) -> list[str]:
        """The streams of a pattern this page can show (a ValueError says why none)."""
        return names

    def patterned(self) -> None:
        """After a pattern chose the streams: the wildcards may now say what the names said."""
        self.url.write()


class Refresh:
    """A page's `refresh=`: calls `tick()` every period of the choice (`REFRESH_CHOICES`) while
    the session lives; `set` again to change or stop it ('off')."""

    def __init__(self, tick):
        self.tick = tick
        self._callback = None

    def set(self, choice: str) -> None:
        """Run `tick` every `choice` (stopping the previous period)."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        seconds = REFRESH_CHOICES.get(choice, 0)
        if seconds and pn.state.curdoc is not None:
            self._callback = pn.state.add_periodic_callback(self.tick, int(seconds * 1000))

    @property
    def running(self) -> bool:
        """True while `tick` is called periodically."""
        return self._callback is not None


def follow_latest(t0_ns: int, t1_ns: int, old_end: int | None, new_end: int | None
                  ) -> tuple[int, int] | None:
    """The window after new data arrived: when [t0, t1) reached the end of the data
    (`old_end`), the same length moved on so that it reaches `new_end` with the same margin;
    None when the view was elsewhere (someone is looking at the past) or nothing arrived."""
    if old_end is None or new_end is None or new_end <= old_end or t1_ns < old_end:
        return None
    shift = new_end - old_end
    return t0_ns + shift, t1_ns + shift
