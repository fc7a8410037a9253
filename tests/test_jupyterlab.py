"""The seismic example notebook in a real JupyterLab, in headless Chromium: its cells run in a
kernel the lab started, the DynamicMap renders through Panel/HoloViews' JupyterLab extension,
and a mouse-wheel zoom on the plot makes the kernel read the pyramid at a finer level and the
plot's pixels change.

The machine is offline, so the notebook's Bokeh and Panel scripts, which `hv.extension` loads
from their CDNs, are answered by the browser from the same files in the installed packages
(Playwright routes): the notebook itself is the one in examples/, unchanged.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest
from browser import (
    SHOTS,
    browser_marks,
    free_port,
    new_page,
    png_array,
    wait_until,
)
from test_dashboard_store import build_store

pytestmark = [*browser_marks(), pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
TOKEN = "belvedere-test-token"
LEVELS_CELL = "bands.callback.callable.last.traces"
IDLE = "Python 3 (ipykernel) | Idle"


def _cdn_files() -> dict[str, Path]:
    """The CDN URL prefixes `hv.extension` loads from, and the installed folders that hold
    the same files."""
    import bokeh
    import panel

    return {"https://cdn.bokeh.org/bokeh/release/":
            Path(bokeh.__file__).parent / "server" / "static" / "js",
            f"https://cdn.holoviz.org/panel/{panel.__version__}/dist/":
            Path(panel.__file__).parent / "dist"}


def _serve_from_packages(route) -> None:
    url = route.request.url
    for prefix, folder in _cdn_files().items():
        if url.startswith(prefix):
            name = urllib.parse.unquote(url[len(prefix):].split("?")[0])
            # bokeh-3.9.2.min.js on the CDN is bokeh.min.js in the package
            name = re.sub(r"-\d+\.\d+\.\d+(?:[.\w]*?)(\.min\.js|\.js)$", r"\1", name)
            path = (folder / name).resolve()
            if path.is_file() and folder.resolve() in path.parents:
                route.fulfill(path=str(path), content_type="application/javascript")
                return
    route.fulfill(status=404, body=f"not available offline: {url}")


def _anmo_psd_store(path: Path) -> str:
    """ObsPy's day of IU.ANMO with its StationXML, ingested, and its PSDs computed."""
    import obspy

    from pipelines.analysis.engine import analyse
    from pipelines.seismic.ingest import ingest_seismic

    data = Path(obspy.__file__).parent / "signal" / "tests" / "data"
    ingest_seismic(str(path), [str(data / "IUANMO.seed")], [str(data / "IUANMO.xml")])
    assert analyse(str(path), "psd").tasks == 1
    return str(path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`jupyter lab --no-browser` on loopback with a token, its root a temporary folder that
    holds the seismic notebook (outputs cleared) and its stores; yields (base URL, root)."""
    root = tmp_path_factory.mktemp("lab")
    nb = nbformat.read(REPO / "examples" / "seismic.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, root / "seismic.ipynb")
    store = build_store(str(root / "test.zarr"))
    noise = _anmo_psd_store(root / "anmo.zarr")
    settings = root / ".settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # No "get Jupyter news?" toast over the plot, no update check; every cell kept in the
    # page (no windowing), so the cells below the fold can be found and read.
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    tracker = root / ".settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port = free_port()
    env = {**os.environ, "BELVEDERE_STORE": store, "BELVEDERE_NOISE_STORE": noise,
           "JUPYTERLAB_SETTINGS_DIR": str(root / ".settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / ".workspaces"),
           "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    log = open(root / "lab.log", "w")
    args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", "127.0.0.1",
            "--port", str(port), f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:  # containers run the tests as root; Jupyter refuses it otherwise
        args.append("--allow-root")
    proc = subprocess.Popen(args, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=5) as r:
            return r.status == 200

    try:
        wait_until(up, 180, f"jupyter lab did not answer; see {log.name}",
                   died=lambda: None if proc.poll() is None else
                   f"jupyter lab exited with {proc.returncode}; see {log.name}")
        yield base, root
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _levels(text: str) -> list[int]:
    """Pyramid levels in the levels cell's output (`envelope L3`, 0 for `samples`)."""
    return [int(m) if m else 0 for m in re.findall(r"envelope L(\d+)|samples", text)]


def _run_levels_cell(page) -> list[int]:
    cell = page.locator(".jp-CodeCell", has_text=LEVELS_CELL)
    before = cell.locator(".jp-InputPrompt").inner_text()
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        """([text, before]) => {
             const c = [...document.querySelectorAll('.jp-CodeCell')]
               .find((e) => e.innerText.includes(text));
             const p = c.querySelector('.jp-InputPrompt').innerText;
             return p !== before && !p.includes('*');
           }""", arg=[LEVELS_CELL, before], timeout=60000)
    return _levels(cell.locator(".jp-OutputArea").inner_text())


def test_a_wheel_zoom_in_jupyterlab_redraws_the_notebook_view_at_a_finer_level(lab, browser):
    base, root = lab
    with new_page(browser) as page:
        page.route(re.compile(r"https://cdn\.(bokeh\.org|holoviz\.org)/.*"),
                   _serve_from_packages)
        page.goto(f"{base}/lab/tree/seismic.ipynb?token={TOKEN}")
        page.get_by_text(IDLE).wait_for(timeout=120000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        # Every code cell ran: numbered prompts, none waiting (`[*]`) or empty.
        try:
            page.wait_for_function(
                """() => { const p = [...document.querySelectorAll(
                               '.jp-CodeCell .jp-InputPrompt')].map((e) => e.innerText);
                           return p.length > 0 && p.every((t) => /\\[\\d+\\]/.test(t)); }""",
                timeout=180000)
        except Exception:
            page.screenshot(path=f"{SHOTS}/jupyterlab-failed.png", full_page=True)
            raise
        errors = page.locator(".jp-OutputArea-output[data-mime-type*='error']")
        assert errors.count() == 0, errors.all_inner_texts()
        cell = page.locator(".jp-CodeCell", has_text="bands * store.events_overlay")
        canvas = cell.locator(".jp-OutputArea canvas").first
        canvas.wait_for(timeout=60000)
        canvas.scroll_into_view_if_needed()
        page.wait_for_timeout(1500)  # the first frame arrives over the comm; let it paint
        page.screenshot(path=f"{SHOTS}/jupyterlab-before.png")
        before = png_array(canvas.screenshot())
        levels_before = _levels(cell.page.locator(".jp-CodeCell", has_text=LEVELS_CELL)
                                .locator(".jp-OutputArea").inner_text())
        assert levels_before and min(levels_before) >= 2, levels_before
        # The kernel answers the RangeXY event by reading finer levels of the pyramid: ask it
        # (the levels cell runs after the events already queued) until it has, however loaded
        # the machine is, then wait for that frame to reach the canvas. Once, in a loaded full
        # run, no zoom reached the kernel in 40 s (the wheel's events lost on the way; why was
        # not found): the plot is then brought into view and wheeled again, as a person would.
        def finer(levels: list[int]) -> bool:
            return all(a < b for a, b in zip(levels, levels_before, strict=True))

        levels_after = levels_before
        for _attempt in range(3):
            canvas.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            box = canvas.bounding_box()
            page.mouse.move(box["x"] + 0.55 * box["width"], box["y"] + 0.5 * box["height"])
            for _ in range(6):  # about 50 times in: minutes of the 4 hours
                page.mouse.wheel(0, -300)
                page.wait_for_timeout(150)
            for _ in range(20):
                levels_after = _run_levels_cell(page)
                if finer(levels_after):
                    break
                page.wait_for_timeout(1000)
            if finer(levels_after):
                break
        assert len(levels_after) == len(levels_before)
        assert all(a < b for a, b in zip(levels_after, levels_before, strict=True)), (
            levels_before, levels_after)
        canvas.scroll_into_view_if_needed()
        changed = 0.0
        for _ in range(240):
            after = png_array(canvas.screenshot())
            changed = (np.abs(after.astype(np.int16) - before.astype(np.int16)).max(-1)
                       > 40).mean()
            if changed > 0.02:
                break
            page.wait_for_timeout(250)
        page.screenshot(path=f"{SHOTS}/jupyterlab-after.png")
        assert changed > 0.02, f"the plot did not redraw ({changed:.3f} of pixels changed)"
        # The noise section's layout renders too: the waveform and the spectrogram.
        psd = page.locator(".jp-CodeCell", has_text="noise.psd_view(anmo")
        psd.scroll_into_view_if_needed()
        wait_until(lambda: psd.locator(".jp-OutputArea canvas").count() >= 2, 60,
                   "the waveform + spectrogram layout did not render")
        page.wait_for_timeout(1000)
        shot = png_array(psd.locator(".jp-OutputArea").screenshot(
            path=f"{SHOTS}/jupyterlab-psd.png"))
        assert (shot.std(-1) > 30).mean() > 0.05  # colours of the spectrogram, not a blank
        assert not page.console_errors, page.console_errors
