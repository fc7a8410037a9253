"""Static snapshots of a view: one self-contained HTML file (or a PNG) that needs no server.

The HTML holds BokehJS and its CSS inline and every image as a data: URL, so opening it makes
no request at all. Each page gives its own figures with their data inline (`Page.snapshot`;
a waveform snapshot's bands are zoomable tiles, see `dashboard.tiles`); this module makes them
one file, records what it shows, and renders PNGs in headless Chromium.

Every snapshot records what it shows (view, streams, time range, store, export time,
version) in a visible line and in a JSON block (`<script id="belvedere-snapshot">`).
"""

from __future__ import annotations

import html
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bokeh.document import Document
from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.models import Div
from bokeh.resources import Resources

from dashboard import theme as themes
from dashboard.pages import PAGES
from dashboard.pages.base import SnapshotError
from dashboard.sources import Sources
from pipelines import __version__
from pipelines.timebase import format_time, now_ns

__all__ = ["SnapshotError", "Snapshot", "build", "render_png", "check_output", "split_url",
           "view_of_path", "with_query", "chromium_path", "VIEWS"]

VIEWS = ("overview", "waveforms", "availability", "stations", "resources", "mission",
         "helicorder", "noise", "rsam")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class _Inline(Resources):
    """BokehJS inline, without the external scripts other libraries register (Panel adds a
    module-shim <script src=...> for every page, which a snapshot neither needs nor may load)."""

    def _collect_external_resources(self, resource_attr) -> list[str]:
        return []

    def clone(self, *, components=None) -> _Inline:
        """A copy with these components (Bokeh clones before bundling)."""
        return _Inline(mode="inline", components=components or self.components)


INLINE = _Inline(mode="inline")


@dataclass
class Snapshot:
    """A rendered snapshot: the HTML text and what it shows."""

    html: str
    meta: dict

    @property
    def filename(self) -> str:
        """A file name that says what it is: belvedere-waveforms-20240301T0000.html."""
        stamp = str(self.meta.get("from", "")).replace("-", "").replace(":", "")[:13]
        return f"belvedere-{self.meta['view']}{'-' + stamp if stamp else ''}.html"


# -- URLs ---------------------------------------------------------------------------------
def view_of_path(path: str) -> str:
    """The view a URL path shows ('/prefix/waveforms' -> 'waveforms'); SnapshotError if none."""
    last = path.rstrip("/").rsplit("/", 1)[-1] if path.strip("/") else ""
    view = last or "overview"
    if view not in VIEWS:
        raise SnapshotError(f"unknown view {view!r} in {path!r}; the views are: "
                            + ", ".join(VIEWS))
    return view


def split_url(url: str) -> tuple[str, str, dict[str, str]]:
    """A dashboard URL -> (server root with prefix, view, query parameters)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SnapshotError(f"not a dashboard URL: {url!r} (expected http://host:port/view?...)")
    view = view_of_path(parts.path)
    path = parts.path.rstrip("/")
    root_path = path[: -len(view)] if path.endswith("/" + view) else path + "/"
    root = urlunsplit((parts.scheme, parts.netloc, root_path.rstrip("/") + "/", "", ""))
    return root, view, dict(parse_qsl(parts.query, keep_blank_values=True))


def with_query(url: str, **extra: str) -> str:
    """`url` with these query parameters set (others kept)."""
    parts = urlsplit(url)
    q = dict(parse_qsl(parts.query, keep_blank_values=True))
    q.update(extra)
    return urlunsplit(parts._replace(query=urlencode(q, safe="*,?:/")))


# -- building -----------------------------------------------------------------------------
def build(view: str, sources: Sources, args: dict[str, str], theme: str | None = None,
          fit: tuple[int, int] | None = None) -> Snapshot:
    """The snapshot of `view` with URL parameters `args` over the served `sources`: the view's
    page gives its figures (`Page.snapshot`), this module makes them one file.

    `fit` (width, height in CSS pixels) sizes the plot to a fixed viewport, for PNG export.
    """

    if view not in VIEWS:
        raise SnapshotError(f"unknown view {view!r}; the views are: {', '.join(VIEWS)}")
    theme = theme or themes.theme_of(args)
    t_start = time.monotonic()
    parts = PAGES[view].snapshot(sources, args, theme, fit)
    return _document(view, parts.body, parts.meta, parts.label, parts.store_url, theme,
                     t_start, fit)


def _document(view: str, body: list, meta: dict, label: str, store_url: str, theme: str,
              t_start: float, fit: tuple[int, int] | None) -> Snapshot:
    """The self-contained HTML of a view's figures, with what it shows recorded in it."""
    meta |= {"view": view, "store": label, "store_url": store_url, "theme": theme,
             "exported": format_time(now_ns()), "version": __version__,
             "render_seconds": round(time.monotonic() - t_start, 2)}
    head = _meta_div(meta, theme)
    doc = column(head, *body, sizing_mode="stretch_width" if fit is None else "fixed")
    title = f"Belvedere snapshot: {view} of {label}"
    # A document of its own, and no theme from curdoc(): Bokeh's curdoc() reads a list shared
    # by every thread (the server patches it around its callbacks), and this runs in a worker.
    Document().add_root(doc)
    text = file_html(doc, INLINE, title, theme=None)
    block = ('<script type="application/json" id="belvedere-snapshot">'
             + html.escape(json.dumps(meta), quote=False) + "</script>\n")
    bg = themes.DARK_BORDER if theme == "dark" else "#ffffff"
    style = (f"<style>html, body {{margin: 0; background: {bg};"
             " font-family: system-ui, sans-serif;}</style>\n")
    cut = text.rfind("</head>")  # the last one: BokehJS holds the string too
    text = text[:cut] + block + style + text[cut:]
    return Snapshot(text, meta)


def _meta_div(meta: dict, theme: str) -> Div:
    color = themes.DARK_TEXT if theme == "dark" else "#334"
    streams = meta.get("streams") or []
    shown = ", ".join(streams[:8]) + (f" and {len(streams) - 8} more" if len(streams) > 8
                                      else "")
    parts = [f"<b>Belvedere snapshot</b> · {html.escape(meta['view'])} of "
             f"<b>{html.escape(meta['store'])}</b>"]
    if meta.get("from"):
        parts.append(f"{meta['from']} → {meta['to']} ({html.escape(meta.get('duration', ''))})")
    if shown:
        parts.append(html.escape(shown))
    parts.append(f"exported {meta['exported']} by belvedere {html.escape(meta['version'])}")
    if meta.get("hint"):
        parts.append(html.escape(meta["hint"]))
    return Div(text=f"<div style='font-size:12px;color:{color};padding:4px 8px'>"
               + " · ".join(parts) + "</div>", sizing_mode="stretch_width",
               name="snapshot-meta")


# -- files --------------------------------------------------------------------------------
def check_output(path: str, suffixes: tuple[str, ...] = (".html", ".png")) -> Path:
    """The output path, or SnapshotError when its type is unknown or it cannot be written."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise SnapshotError(f"output {path!r}: give a file ending in "
                            + " or ".join(suffixes))
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise SnapshotError(f"output {path!r}: the folder {str(parent)!r} does not exist")
    existed = out.exists()
    try:  # really try (permission bits say little to root or on read-only mounts)
        with open(out, "ab"):
            pass
    except OSError as exc:
        raise SnapshotError(f"output {path!r}: not writable ({exc.strerror})") from exc
    if not existed:
        out.unlink()
    return out


def chromium_path() -> str:
    """The system Chromium ($BELVEDERE_CHROMIUM, /usr/bin/chromium); SnapshotError if none."""
    env = os.environ.get("BELVEDERE_CHROMIUM")
    for name in (env, "/usr/bin/chromium", "/usr/bin/chromium-browser",
                 shutil.which("chromium"), shutil.which("chromium-browser")):
        if name and os.path.exists(name):
            return name
    raise SnapshotError("PNG export needs Chromium: apt-get install chromium (or set "
                        "BELVEDERE_CHROMIUM)")


def render_png(url: str, out: Path, width: int, height: int, scale: float = 1.0,
               timeout_s: float = 60.0, offline: bool = False) -> None:
    """Open `url` in headless Chromium at width x height (CSS px) x scale; save a PNG."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise SnapshotError("PNG export needs the playwright package (pip install "
                            "playwright; the browser is the system Chromium)") from exc
    exe = chromium_path()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": width, "height": height},
                                      device_scale_factor=scale)
            page = ctx.new_page()
            if offline:  # a snapshot file must draw with every request refused
                page.route("**/*", lambda r: r.abort() if not r.request.url.startswith(
                    ("file:", "data:")) else r.continue_())
            ms = int(timeout_s * 1000)
            page.goto(url, timeout=ms)
            page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                                   "Bokeh.documents.every((d) => d.is_idle)", timeout=ms)
            page.wait_for_selector("canvas", timeout=ms)
            # The server sends the first frame at the plot's real size once laid out.
            page.wait_for_timeout(1500 if not offline else 500)
            page.screenshot(path=str(out), full_page=False)
        except PlaywrightError as exc:
            raise SnapshotError(f"could not render {url} in Chromium: "
                                f"{str(exc).splitlines()[0]}") from exc
        finally:
            browser.close()
