"""Load benchmark: many browser sessions zooming a 1e9-sample stream at once.

    python tests/bench/bench_load.py [--sessions 20] [--zooms 10] [--repo DIR] [--dir DIR]

Starts `belvedere serve` on loopback over the benchmark's big store (built by
bench_dashboard.py the first time: a few minutes), from this checkout or from `--repo` (an older
checkout, to compare), and opens `--sessions` pages in one headless Chromium. Every page waits
for its plot, then zooms `--zooms` times with the mouse wheel (in, then partly out, at random
places), each time timing wheel -> the first paint showing the new frame. Meanwhile a process of
its own asks /liveness every 100 ms. The browsers run at `--browser-nice` 19 by default (in a
deployment they are on the users' machines; here 20 Chromium pages would otherwise take the
server's two cores: Linux shares the CPU by weight, between scheduling groups first (Chromium
starts a session, so an autogroup, of its own: `yield_cpu`), and at 19 (weight 15 against the
server's 1024) they take what it leaves). Every page opens at once; once all are open, each
session reads its plot for a `--think` pause (seconds, MIN:MAX) before each zoom, its first
included, or with `--first burst` every session zooms first within the same half second.
Prints page-open and repaint p50/p95/max, errors, /liveness p50/p95/max in each phase, server
and browser CPU per repaint, websocket bytes received per repaint, and the server's RSS.
Bounded: every wait times out (30 s; 300 s for a page to open), the whole run stops after
`--budget` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_dashboard import build_store  # noqa: E402
from bench_ingest import START  # noqa: E402
from browser import CHROMIUM_ARGS, chromium_path, free_port  # noqa: E402

from pipelines.timebase import NS  # noqa: E402

HERE = Path(__file__).resolve().parents[2]
DAY = 86400 * NS
# The page every session opens: the 1e9-sample stream, a month of it.
PAGE = (f"/waveforms?streams=BV.BIG.00.HHZ&from={START.ns // 10**6}"
        f"&to={(START.ns + 30 * DAY) // 10**6}")
# A page may take minutes to open when the machine is shared (20 pages' scripts at once).
OPEN_TIMEOUT_MS = 300_000

# Armed before each wheel event: resolves `window.__bv_wait` with the milliseconds from the
# wheel event's arrival in the page to the end of the first paint of the waveforms plot that
# draws the new frame's image (the image source's data replaced by the frame, its image
# loaded, its pixels on the canvas; a frame may be the very image of the last one, where a
# long window of noise saturates), plus one animation frame (on screen). Nothing polls: the
# plot's own paint calls report (a requestAnimationFrame poll in each of 20 pages cost the
# browsers more CPU than the repaints measured).
JS_ARM = """() => {
  let src = null;
  for (const doc of Bokeh.documents)
    for (const m of doc.all_models)
      if (m.type == 'ColumnDataSource' && m.data.dw !== undefined) src = m;
  if (!window.__bv_plot) {
    const walk = (v) => {
      if (v.model && v.model.name === 'waveforms' && v._actual_paint) return v;
      for (const c of (v.child_views || [])) { const f = walk(c); if (f) return f; }
      return null; };
    for (const v of Bokeh.index) { window.__bv_plot = walk(v); if (window.__bv_plot) break; }
    const pv = window.__bv_plot;
    const paint = pv._actual_paint.bind(pv);
    pv._actual_paint = (...args) => {
      const out = paint(...args);
      const w = window.__bv_pending;
      if (w) {
        for (const rv of pv.renderer_views.values()) {
          const img = rv.glyph && rv.glyph.image && rv.glyph.image[0];
          if (img && w.src.data !== w.seen && img.src === w.src.data.url[0]) {
            window.__bv_pending = null;
            requestAnimationFrame(() => w.resolve([performance.now() - w.t0, w.arrived]));
          }
        }
      }
      return out; };
  }
  const xr = window.__bv_plot.model.x_range;
  window.__bv_range0 = [xr.start, xr.end];
  window.__bv_wait = new Promise((resolve) => {
    const w = {src, seen: src.data, t0: performance.now(), resolve, arrived: null};
    // When the frame's data reached the page (the server's part ends about here).
    src.properties.data.change.connect(() => {
      if (w.arrived === null) w.arrived = performance.now() - w.t0; });
    window.__bv_pending = w;
    // Timed from the wheel event reaching the page (before BokehJS sees it), not from this
    // call: the driver's way from here to the event is the benchmark's, not the server's.
    window.addEventListener('wheel', () => { w.t0 = performance.now(); },
                            {capture: true, once: true});
  });
}"""


# The waveforms plot has drawn its first frame (an image loaded): only then is a zoom timed.
JS_READY = """() => {
  if (!window.Bokeh) return false;
  for (const doc of Bokeh.documents) {
    const fig = doc.get_model_by_name('waveforms');
    if (!fig) continue;
    for (const m of doc.all_models)
      if (m.type == 'ColumnDataSource' && m.data.dw !== undefined && m.data.url
          && m.data.url.length && m.data.url[0]) return true;
  }
  return false; }"""
# Where the waveforms plot is on the page (its element's box), to zoom over it.
JS_BOX = """() => {
  const walk = (v) => {
    if (v.model && v.model.name === 'waveforms' && v._actual_paint) return v;
    for (const c of (v.child_views || [])) { const f = walk(c); if (f) return f; }
    return null; };
  for (const v of Bokeh.index) {
    const pv = walk(v);
    if (pv) { const r = pv.el.getBoundingClientRect(); const f = pv.frame.bbox;
              return {x: r.left + f.left, y: r.top + f.top, width: f.width,
                      height: f.height}; }
  }
  return null; }"""
# After a zoom that timed out: did the wheel move the plot's range, did a frame arrive, and
# what image does the plot hold?
JS_MOVED = """() => { const pv = window.__bv_plot, r = pv.model.x_range, w = window.__bv_pending;
  const moved = r.start !== window.__bv_range0[0] || r.end !== window.__bv_range0[1];
  let image = 'no image glyph';
  for (const rv of pv.renderer_views.values()) {
    if (!rv.glyph || rv.glyph.image === undefined) continue;
    const img = rv.glyph.image[0];
    image = img == null ? 'no image (load failed or pending)'
      : (w && img.src === w.src.data.url[0] ? 'the new image' : 'an older image');
  }
  return (moved ? 'the range moved' : 'the wheel did not zoom')
    + (w && w.src.data !== w.seen ? ', a frame arrived, ' : ', no frame arrived, ') + image; }"""

SERVER: dict[str, int] = {}  # "pid" of the server process


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by the server (with its children) and by everything else this
    benchmark started (Chromium, Playwright's driver)."""
    def total(procs) -> float:
        out = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                out += t.user + t.system
            except psutil.Error:
                pass
        return out

    server = psutil.Process(SERVER["pid"])
    served = [server, *server.children(recursive=True)]
    ids = {p.pid for p in served}
    ids |= set(SERVER.get("pollers", ()))
    rest = [p for p in psutil.Process().children(recursive=True) if p.pid not in ids]
    return total(served), total(rest)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values (nan when empty)."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(int(round(q / 100 * (len(s) - 1))), len(s) - 1)]


def start_server(repo: Path, store: Path, port: int, extra: list[str]) -> subprocess.Popen:
    """`belvedere serve` from `repo` (its code first on the path) on loopback."""
    log = open(f"/tmp/bench-load-serve-{port}.log", "w")
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.Popen([sys.executable, "-m", "belvedere", "serve", "--store", str(store),
                             "--address", "127.0.0.1", "--port", str(port), *extra],
                            cwd=repo, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"server did not answer in 120 s; see {log.name}")


def _poll_liveness(base: str, stop, out) -> None:
    """In its own process: ask /liveness every 100 ms until `stop` is set, then send the
    (monotonic time, ms or None) pairs through `out`."""
    got = []
    while not stop.is_set():
        at, t = time.monotonic(), time.perf_counter()
        try:
            with urllib.request.urlopen(base + "/liveness", timeout=10) as r:
                r.read()
            got.append((at, (time.perf_counter() - t) * 1e3))
        except OSError:
            got.append((at, None))
        stop.wait(0.1)
    out.send(got)


class Liveness:
    """Asks /liveness every 100 ms from a process of its own (at the benchmark's starting
    priority, holding no lock the benchmark's Playwright loop takes: a thread here would wait
    for this process's GIL and time the benchmark, not the server) and keeps the latencies
    (ms); a failure counts as 10 s."""

    def __init__(self, base: str):
        ctx = multiprocessing.get_context("spawn")
        self.stop = ctx.Event()
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_poll_liveness, args=(base, self.stop, send),
                                 daemon=True)
        self.times: list[float] = []
        self.at: list[float] = []  # time.monotonic() of each ask
        self.failures = 0

    def start(self) -> None:
        """Start polling."""
        self._proc.start()
        SERVER.setdefault("pollers", []).append(self._proc.pid)

    def join(self) -> None:
        """Collect what was measured (after `stop` is set)."""
        for at, ms in self._recv.recv():
            self.at.append(at)
            if ms is None:
                self.failures += 1
                ms = 10_000.0
            self.times.append(ms)
        self._proc.join(10)


async def session(browser, url: str, zooms: int, seed: int, out: dict,
                  opened: asyncio.Barrier, zoomed: asyncio.Barrier, phase: dict,
                  think: tuple[float, float], burst: bool) -> None:
    """One page: open, wait for the plot and for every other session to have opened theirs,
    then zoom `zooms` times timing each repaint."""
    rng = random.Random(seed)
    ctx = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await ctx.new_page()
    received = [0]

    def on_ws(ws) -> None:
        ws.on("framereceived", lambda payload: received.__setitem__(
            0, received[0] + len(payload)))

    page.on("websocket", on_ws)
    page.on("pageerror", lambda exc: out["errors"].append(f"page error: {exc}"))
    arrived = zoomed_here = False
    try:
        t = time.perf_counter()
        await page.goto(url, timeout=OPEN_TIMEOUT_MS)
        await page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0",
                                     timeout=OPEN_TIMEOUT_MS)
        await page.wait_for_selector("canvas", timeout=OPEN_TIMEOUT_MS)
        out["open"].append((time.perf_counter() - t) * 1e3)
        arrived = True
        await opened.wait()
        if "zoom_start" not in phase:
            phase["zoom_start"] = time.monotonic()
            phase["cpu0"] = cpu_seconds()
        await page.wait_for_timeout(rng.uniform(0, 500) if burst else rng.uniform(*think) * 1e3)
        await page.wait_for_function(JS_READY, timeout=OPEN_TIMEOUT_MS)
        box = await page.evaluate(JS_BOX)
        start_bytes = received[0]
        done = 0
        for i in range(zooms):
            await page.mouse.move(box["x"] + box["width"] * rng.uniform(0.2, 0.8),
                                  box["y"] + box["height"] * 0.5)
            await page.evaluate(JS_ARM)
            await page.mouse.wheel(0, -240 if i % 2 == 0 else 200)
            try:
                ms, arrived = await asyncio.wait_for(page.evaluate("() => window.__bv_wait"), 30)
            except TimeoutError:
                why = await page.evaluate(JS_MOVED)
                out["errors"].append(f"session {seed}: zoom {i} not repainted in 30 s ({why})")
                continue
            out["repaint"].append(ms)
            if arrived is not None:
                out["arrived"].append(arrived)
            out["later" if i else "first"].append(ms)
            done += 1
            await page.wait_for_timeout(rng.uniform(*think) * 1e3)
        if done:
            out["bytes"].append((received[0] - start_bytes) / done)
        zoomed_here = True
        await zoomed.wait()
        if "cpu1" not in phase:  # every page still open: their CPU is still counted
            phase["cpu1"] = cpu_seconds()
            phase["zoom_end"] = time.monotonic()
        text = await page.content()
        if "Traceback" in text or "could not be built" in text:
            out["errors"].append(f"session {seed}: the page shows an error")
    except Exception as exc:  # counted and reported, the other sessions go on
        out["errors"].append(f"session {seed}: {type(exc).__name__}: {exc}")
    finally:
        if not arrived:
            await opened.wait()  # the others must not wait for this one forever
        if not zoomed_here:
            await zoomed.wait()
        await ctx.close()


def yield_cpu(nice: int) -> None:
    """Give the browsers' scheduling groups `nice`. Chromium starts a session of its own,
    and Linux (with autogroups, as here) shares the CPU between sessions first: the browser's
    whole group had the weight of the server's, whatever the niceness of its processes (which
    Chromium sets itself: -8 for its browser and GPU processes, 0 for the renderers)."""
    ours = os.getsid(0)
    groups = set()
    for p in psutil.Process().children(recursive=True):
        try:
            sid = os.getsid(p.pid)
            if sid != ours and sid not in groups:
                with open(f"/proc/{p.pid}/autogroup", "w") as fh:
                    fh.write(str(nice))
                groups.add(sid)
        except (OSError, psutil.Error):
            pass  # a process gone, or no autogroups here: its niceness is all there is


async def drive(url: str, sessions: int, zooms: int, budget: float,
                think: tuple[float, float], nice: int, burst: bool) -> dict:
    """All sessions at once in one Chromium."""
    from playwright.async_api import async_playwright

    out: dict = {"repaint": [], "first": [], "later": [], "arrived": [], "errors": [],
                 "bytes": [], "open": []}
    opened, zoomed = asyncio.Barrier(sessions), asyncio.Barrier(sessions)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), headless=True,
                                           args=CHROMIUM_ARGS)
        if nice:
            yield_cpu(nice)
        try:
            jobs = [session(browser, url, zooms, k, out, opened, zoomed,
                            out.setdefault("phase", {}), think, burst)
                    for k in range(sessions)]
            await asyncio.wait_for(asyncio.gather(*jobs), timeout=budget)
        except TimeoutError:
            out["errors"].append(f"the run hit its budget of {budget:.0f} s")
        finally:
            await browser.close()
    return out


def load_arguments(doc: str) -> argparse.ArgumentParser:
    """The options of a load benchmark (this one and bench_burst.py): sessions, zooms, the
    checkout served, where the store is, the run's budget, extra `serve` options."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--zooms", type=int, default=10)
    ap.add_argument("--repo", type=Path, default=HERE, help="checkout whose server is run")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench-dash"))
    ap.add_argument("--budget", type=float, default=600.0, help="seconds for the whole run")
    ap.add_argument("--server-args", default="", help="extra `belvedere serve` options")
    return ap


def serve_big_store(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    """Build the 1e9-sample store in `args.dir` if needed and serve it from `args.repo`:
    (the server's process, its base URL)."""
    args.dir.mkdir(parents=True, exist_ok=True)
    store = args.dir / "big.zarr"
    build_store(store, 10**9)
    port = free_port()
    proc = start_server(args.repo.resolve(), store, port, args.server_args.split())
    SERVER["pid"] = proc.pid
    return proc, f"http://127.0.0.1:{port}"


def main() -> None:
    """Build the store if needed, serve it, load it, print the figures."""
    ap = load_arguments(__doc__)
    ap.add_argument("--think", default="1:3",
                    help="MIN:MAX seconds each session waits after a repaint before its next"
                         " zoom (default: a person reading the plot; 0.1:0.4 is a stress"
                         " test, each session zooming 3-4 times a second)")
    ap.add_argument("--first", choices=("think", "burst"), default="think",
                    help="each session's first zoom after a --think pause, or every session's"
                         " within the same half second (a synchronised burst)")
    ap.add_argument("--browser-nice", type=int, default=19,
                    help="niceness of the browsers' scheduling group (0: the server's weight)")
    args = ap.parse_args()
    proc, base = serve_big_store(args)
    url = base + PAGE
    idle = Liveness(base)
    idle.start()
    time.sleep(3)
    idle.stop.set()
    idle.join()
    live = Liveness(base)
    live.start()
    if args.browser_nice:
        # The browsers run on the users' machines in a deployment, not on the server's: here
        # they share its two cores, so they yield to it (this thread and what it starts from
        # now on: Playwright's driver and Chromium; the server and the /liveness process keep
        # their priority).
        os.nice(args.browser_nice)
    t = time.monotonic()
    try:
        think = tuple(float(v) for v in args.think.split(":"))
        out = asyncio.run(drive(url, args.sessions, args.zooms, args.budget, think,
                                args.browser_nice, args.first == "burst"))
    finally:
        live.stop.set()
        live.join()
        rss = sum(p.memory_info().rss for p in [psutil.Process(proc.pid),
                                                *psutil.Process(proc.pid).children()]) / 1e6
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    rep = out["repaint"]
    z0 = out["phase"].get("zoom_start", float("inf"))
    live_open = [ms for at, ms in zip(live.at, live.times, strict=True) if at < z0]
    live_zoom = [ms for at, ms in zip(live.at, live.times, strict=True) if at >= z0]
    print(f"server: {args.repo} {args.server_args}; browsers at nice {args.browser_nice}; "
          f"{args.think} s before each of a session's zooms (first zoom: {args.first}); load "
          f"average at the end "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"{args.sessions} sessions x {args.zooms} zooms in {time.monotonic() - t:.0f} s: "
          f"{len(rep)} repaints, {len(out['errors'])} errors")
    print(f"repaint ms: p50 {pct(rep, 50):.0f}, p95 {pct(rep, 95):.0f}, max "
          f"{max(rep) if rep else float('nan'):.0f} (target p95 < 500)")
    first, later = out["first"], out["later"]
    when = "all within 0.5 s" if args.first == "burst" else "after a pause like the others"
    print(f"  first zoom of each session ({when}): p50 {pct(first, 50):.0f}, p95 "
          f"{pct(first, 95):.0f}; later zooms: p50 {pct(later, 50):.0f}, p95 "
          f"{pct(later, 95):.0f}")
    got = out["arrived"]
    print(f"  of which wheel -> the frame's data in the page: p50 {pct(got, 50):.0f}, p95 "
          f"{pct(got, 95):.0f} (the rest: the browser drawing it)")
    op = out["open"]
    print(f"page open ms (all sessions at once): p50 {pct(op, 50):.0f}, p95 {pct(op, 95):.0f}")
    for label, vals in (("while the pages open", live_open), ("while they zoom", live_zoom)):
        print(f"/liveness ms {label}: p50 {pct(vals, 50):.1f}, p95 {pct(vals, 95):.1f}, max "
              f"{max(vals, default=float('nan')):.1f} ({len(vals)} asked)")
    ph = out["phase"]
    if "cpu1" in ph and rep:
        wall = ph["zoom_end"] - ph["zoom_start"]
        srv, rest = (ph["cpu1"][k] - ph["cpu0"][k] for k in (0, 1))
        print(f"while zooming ({wall:.0f} s on {psutil.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f}): server CPU {srv / len(rep) * 1e3:.0f} ms per repaint,"
              f" browser CPU {rest / len(rep) * 1e3:.0f} ms per repaint")
    print(f"/liveness: {live.failures} failed; idle p50 {pct(idle.times, 50):.1f} ms "
          "(target < 100 at any load)")
    if out["bytes"]:
        print(f"websocket bytes received per repaint: median "
              f"{statistics.median(out['bytes']) / 1e3:.1f} kB")
    print(f"server RSS after the load: {rss:.0f} MB")
    for e in out["errors"][:10]:
        print("  error:", e)


if __name__ == "__main__":
    main()
