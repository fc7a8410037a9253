"""Shared helpers for browser tests: Debian's Chromium through Playwright, and a served app.

Never runs `playwright install`: the browser is the system one (/usr/bin/chromium, or
$BELVEDERE_CHROMIUM). Tests that need it skip with a clear reason when it is missing.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[1]


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


@contextlib.contextmanager
def served_dashboard(stores: list[str], port: int | None = None, timeout: float = 60.0,
                     extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Run `belvedere serve` in a subprocess; yields its base URL once /liveness answers,
    and stops it on exit."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "belvedere", "serve", "--port", str(port),
           "--address", "127.0.0.1"]
    for store in stores:
        cmd += ["--store", store]
    cmd += list(extra_args)
    log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"belvedere-serve-{port}.log"),
               "w")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the dashboard server exited with {proc.returncode}; "
                                   f"see {log.name}")
            try:
                with urllib.request.urlopen(base + "/liveness", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard server did not answer in {timeout:.0f} s; "
                                   f"see {log.name}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def screenshot_array(page_or_locator) -> np.ndarray:
    """A screenshot as an (h, w, 3) uint8 array."""
    from PIL import Image

    png = page_or_locator.screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def ink_fraction(img: np.ndarray, background: tuple[int, int, int] = (255, 255, 255),
                 tol: int = 24) -> float:
    """Fraction of pixels that differ from the background colour."""
    diff = np.abs(img.astype(np.int16) - np.asarray(background, dtype=np.int16)).max(axis=-1)
    return float((diff > tol).mean())


def colored_fraction(img: np.ndarray, min_saturation: int = 60) -> float:
    """Fraction of clearly coloured (not grey/white/black) pixels: trace ink, not axes or text."""
    i = img.astype(np.int16)
    return float(((i.max(axis=-1) - i.min(axis=-1)) > min_saturation).mean())
