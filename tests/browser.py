"""Shared helpers for browser tests: Debian's Chromium through Playwright, and a served app.

Never runs `playwright install`: the browser is the system one (/usr/bin/chromium, or
$BELVEDERE_CHROMIUM). Tests that need it skip with a clear reason when it is missing.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1400, "height": 1000}
SHOTS = "/tmp"  # screenshots are kept here to look at
JS_MODEL = """(name) => {
  for (const doc of Bokeh.documents) { const m = doc.get_model_by_name(name); if (m) return m; }
  return null; }"""


def chromium_path() -> str | None:
    """Path of the system Chromium, or None when there is none."""
    env = os.environ.get("BELVEDERE_CHROMIUM")
    if env:
        return env
    for name in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(name):
            return name
    return shutil.which("chromium") or shutil.which("chromium-browser")


def skip_reason() -> str | None:
    """Why browser tests cannot run here (None when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "python playwright is not installed (pip install playwright)"
    if chromium_path() is None:
        return "no system chromium (apt-get install chromium, or set BELVEDERE_CHROMIUM)"
    return None


def browser_marks() -> list:
    """`pytestmark` of a browser test module: marked `browser`, skipped (saying why) where
    Playwright or Chromium is missing."""
    reason = skip_reason()
    return [pytest.mark.browser, pytest.mark.skipif(reason is not None, reason=str(reason))]


@contextlib.contextmanager
def launch_chromium(headless: bool = True) -> Iterator:
    """A Playwright Chromium browser, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=headless,
                                     args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ready: Callable[[], bool], timeout: float, failure: str,
               interval: float = 0.2, died: Callable[[], str | None] = lambda: None) -> None:
    """Call `ready()` every `interval` s until it returns true (an OSError counts as not yet).
    Raises RuntimeError(failure) after `timeout` s, or at once with the message `died()`
    returns when that is not None (the process waited for has exited)."""
    deadline = time.monotonic() + timeout
    while True:
        why = died()
        if why is not None:
            raise RuntimeError(why)
        try:
            if ready():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(failure)
        time.sleep(interval)


def answers_liveness(url: str) -> bool:
    """Whether URL/liveness answers 200."""
    with urllib.request.urlopen(url + "/liveness", timeout=2) as r:
        return r.status == 200


@contextlib.contextmanager
def serve_process(args: list[str], port: int, prefix: str = "", timeout: float = 90.0,
                  env: dict[str, str] | None = None, host: str = "127.0.0.1",
                  repo: str | Path = REPO) -> Iterator[str]:
    """`belvedere serve ARGS --port PORT` in a subprocess, from `repo`'s code (another
    checkout: an A/B benchmark); yields its base URL (http://HOST:PORT, with the prefix) once
    PREFIX/liveness answers, and stops it on exit."""
    log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"belvedere-serve-{port}.log"),
               "w")
    proc = subprocess.Popen([sys.executable, "-m", "belvedere", "serve", "--port", str(port),
                             *args], cwd=repo, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **({"PYTHONPATH": str(repo)} if str(repo) !=
                                                  str(REPO) else {}), **(env or {})})
    base = f"http://{host}:{port}{prefix}"
    try:
        wait_until(lambda: answers_liveness(base), timeout,
                   f"belvedere serve did not answer in {timeout:.0f} s; see {log.name}",
                   died=lambda: None if proc.poll() is None else
                   f"belvedere serve exited with {proc.returncode}; see {log.name}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def served_dashboard(stores: list[str], port: int | None = None, timeout: float = 60.0,
                     extra_args: tuple[str, ...] = (), repo: str | Path = REPO
                     ) -> Iterator[str]:
    """Run `belvedere serve --store ...` on loopback (from `repo`'s code); yields its base
    URL (http://localhost:PORT) once /liveness answers, and stops it on exit."""
    args = ["--address", "127.0.0.1"]
    for store in stores:
        args += ["--store", store]
    with serve_process(args + list(extra_args), port or free_port(), timeout=timeout,
                       host="localhost", repo=repo) as base:
        yield base


def static_http_server(body: bytes, content_type: str, headers: dict[str, str] | None = None,
                       requests: list[str] | None = None) -> http.server.ThreadingHTTPServer:
    """A web server on a free loopback port (in a daemon thread) that answers every GET with
    `body`, noting the paths asked for in `requests`; stop it with .shutdown()."""
    class Static(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server API)
            if requests is not None:
                requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Static)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@contextlib.contextmanager
def new_page(browser, viewport: dict[str, int] = VIEWPORT, **context_args) -> Iterator:
    """A page in a fresh context of `browser` (closed on exit); the page's uncaught errors
    collect in its list `console_errors`."""
    ctx = browser.new_context(viewport=viewport, **context_args)
    pg = ctx.new_page()
    pg.console_errors = []
    pg.on("pageerror", lambda exc: pg.console_errors.append(str(exc)))
    try:
        yield pg
    finally:
        ctx.close()


def wait_drawn(frame, canvas: bool = True, idle: bool = False, timeout_ms: int = 30000) -> None:
    """Wait until Bokeh in this page or iframe has a document (with `idle`: every document
    idle) and, with `canvas`, has rendered a canvas."""
    ready = "() => window.Bokeh && Bokeh.documents.length > 0"
    if idle:
        ready += " && Bokeh.documents.every((d) => d.is_idle)"
    frame.wait_for_function(ready, timeout=timeout_ms)
    if canvas:
        frame.wait_for_selector("canvas", timeout=timeout_ms)


def open_page(page, url: str, canvas: bool = True, idle: bool = False, model: str | None = None,
              timeout_ms: int = 30000, settle_ms: int = 400) -> None:
    """Load a page and wait until Bokeh has rendered it (see wait_drawn), and the named model
    exists; then `settle_ms` more for the first frames to paint."""
    page.goto(url)
    wait_drawn(page, canvas=canvas, idle=idle, timeout_ms=timeout_ms)
    if model is not None:
        page.wait_for_function(f"(name) => ({JS_MODEL})(name) !== null", arg=model,
                               timeout=timeout_ms)
    if settle_ms:
        page.wait_for_timeout(settle_ms)


def plot_frame(page, name: str = "waveforms") -> dict:
    """Page coordinates of a named plot's data frame (inside the axes)."""
    return page.evaluate(f"""() => {{
      const m = ({JS_MODEL})('{name}'); const v = Bokeh.index.find_one(m);
      const c = v.canvas_view.el.getBoundingClientRect(); const b = v.frame.bbox;
      return {{x: c.left + b.x0, y: c.top + b.y0, width: b.x1 - b.x0, height: b.y1 - b.y0}};
    }}""")


def frame_pixels(page, name: str = "waveforms", path: str | None = None) -> np.ndarray:
    """Screenshot of a named plot's data frame as an (h, w, 3) array (also saved to `path`)."""
    return png_array(page.screenshot(clip=plot_frame(page, name), path=path))


# A laptop's browser window: the pages' controls must wrap in it, not widen the page.
NARROW = {"width": 1100, "height": 900}
# How many pixels the page is wider than its window (0 when it fits: no sideways scrolling).
JS_OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
# [width, height] of the named plot's frame image and of its data frame on the screen.
JS_IMAGE_AND_FRAME = f"""(name) => {{
  const v = Bokeh.index.find_one(({JS_MODEL})(name));
  for (const rv of v.renderer_views.values()) {{
    const img = rv.glyph && rv.glyph.image && rv.glyph.image[0];
    if (img && img.naturalWidth) return [[img.naturalWidth, img.naturalHeight],
                                         [v.frame.bbox.width, v.frame.bbox.height]];
  }}
  return null; }}"""


# True when the named plot shows a frame image as wide as the plot is laid out (the server
# draws one for the plot's width as the browser reports it; until then, one stretched to it).
JS_FRAME_FITS = f"""(name) => {{
  const m = ({JS_MODEL})(name); if (!m) return false;
  const v = Bokeh.index.find_one(m); if (!v) return false;
  for (const rv of v.renderer_views.values()) {{
    const img = rv.glyph && rv.glyph.image && rv.glyph.image[0];
    if (img && img.naturalWidth === Math.round(v.frame.bbox.width)) return true;
  }}
  return false; }}"""


def settled_frame_pixels(page, name: str = "waveforms", timeout_s: float = 30.0,
                         min_colored: float = 0.005) -> np.ndarray:
    """`frame_pixels` once the plot shows a frame drawn for its width, has ink, and two
    screenshots half a second apart are the same (a frame still coming under load is not
    taken for the page's view); after `timeout_s`, the last screenshot (the caller's
    assertions then say what is wrong). A page's first frame is drawn at RENDER_WIDTH until
    the server hears the plot's width, which Bokeh sends on a later layout, not the first:
    the viewport is narrowed by a pixel and widened again to lay the plot out once more."""
    try:
        page.wait_for_function(JS_FRAME_FITS, arg=name, timeout=5000)
    except Exception:  # a timeout: lay the plot out again, then wait once more
        size = page.viewport_size
        page.set_viewport_size({**size, "width": size["width"] - 1})
        page.wait_for_timeout(300)
        page.set_viewport_size(size)
        with contextlib.suppress(Exception):  # the assertions on the pixels say more
            page.wait_for_function(JS_FRAME_FITS, arg=name, timeout=timeout_s * 1e3)
    deadline = time.monotonic() + timeout_s  # after the wait: the stability check gets its time
    img = frame_pixels(page, name)
    while time.monotonic() < deadline:
        page.wait_for_timeout(500)
        again = frame_pixels(page, name)
        if (again.shape == img.shape and np.array_equal(again, img)
                and colored_fraction(again) > min_colored):
            return again
        img = again
    return img


def png_array(data: bytes) -> np.ndarray:
    """PNG bytes as an (h, w, 3) uint8 array."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def screenshot_array(page_or_locator) -> np.ndarray:
    """A screenshot as an (h, w, 3) uint8 array."""
    return png_array(page_or_locator.screenshot())


def ink_fraction(img: np.ndarray, background: tuple[int, int, int] = (255, 255, 255),
                 tol: int = 24) -> float:
    """Fraction of pixels that differ from the background colour."""
    diff = np.abs(img.astype(np.int16) - np.asarray(background, dtype=np.int16)).max(axis=-1)
    return float((diff > tol).mean())


def colored_mask(img: np.ndarray, min_saturation: int = 60) -> np.ndarray:
    """(h, w) mask of clearly coloured (not grey/white/black) pixels: trace ink, not axes or
    text."""
    i = img.astype(np.int16)
    return (i.max(axis=-1) - i.min(axis=-1)) > min_saturation


def colored_fraction(img: np.ndarray, min_saturation: int = 60) -> float:
    """Fraction of clearly coloured pixels (see colored_mask)."""
    return float(colored_mask(img, min_saturation).mean())


def colored_rows(img: np.ndarray) -> np.ndarray:
    """Rows of a screenshot holding clearly coloured pixels (trace ink)."""
    return colored_mask(img).any(axis=1)


def near_colour(img: np.ndarray, rgb: tuple[int, int, int], tol: int) -> np.ndarray:
    """(h, w) mask of the pixels within `tol` of colour `rgb` in every channel."""
    return np.abs(img.astype(np.int16) - np.asarray(rgb, dtype=np.int16)).max(axis=-1) < tol
