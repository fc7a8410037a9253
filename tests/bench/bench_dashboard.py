"""Dashboard benchmark: frame times over a 1e9-sample stream, browser zoom times, server memory.

    python tests/bench/bench_dashboard.py [--big 1e9] [--small 1e7] [--dir /tmp/bench-dash]
                                          [--no-browser] [--repo OTHER_CHECKOUT]

Builds two stores (reused when present): "small" with one stream of `--small` samples and ten
of a tenth of that, and "big" with one stream of `--big` samples and ten of a tenth of that.
Prints, measured in this run:
1. Server-side time to make one frame (read at screen resolution + rasterise, 1200 x 120 px)
   for windows from one minute to the whole stream, on both stores (target < 10 ms, flat),
   and for ten stacked streams (target < 60 ms): wall time, and the CPU time of the process
   (all its threads: zarr decodes in one of its own), what a frame costs whatever else the
   machine runs.
2. In Debian's Chromium, the time from a mouse-wheel zoom to the repainted plot, on the same
   view of each store, and their ratio (target < 1.5).
3. The RSS of each server process after the browser runs (memory stays flat as stores grow).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import psutil


def _code_repo() -> str:
    """The checkout whose code is measured: `--repo DIR` (another checkout, for an A/B run
    with this benchmark's own code) or this one."""
    if "--repo" in sys.argv[:-1]:
        return str(Path(sys.argv[sys.argv.index("--repo") + 1]).resolve())
    return str(Path(__file__).resolve().parents[2])


sys.path.insert(0, _code_repo())
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_ingest import START, seismic_noise  # noqa: E402
from browser import launch_chromium, served_dashboard  # noqa: E402

from dashboard import raster  # noqa: E402
from dashboard.frames import make_frame  # noqa: E402
from dashboard.sources import Sources  # noqa: E402
from pipelines.store import open_store  # noqa: E402
from pipelines.timebase import NS  # noqa: E402

WIDTH, BAND = 1200, 120
SPANS = [("1 min", 60), ("10 min", 600), ("1 h", 3600), ("6 h", 6 * 3600), ("1 day", 86400),
         ("7 days", 7 * 86400), ("30 days", 30 * 86400), ("whole", None)]


def build_store(path: Path, n_big: int) -> None:
    """One stream of n_big samples and ten of n_big/10 (100 Hz int32 counts)."""
    if (path / "zarr.json").exists() and "BV.BIG.00.HHZ" in open_store(str(path)).streams():
        return
    st = open_store(str(path), "a")
    day = seismic_noise(8_640_000, np.random.default_rng(1))
    t = time.perf_counter()
    plan = [("BV.BIG.00.HHZ", n_big)] + [(f"BV.S{k:02d}.00.HHZ", n_big // 10) for k in range(10)]
    for name, n in plan:
        w = st.create_stream(name, 100.0, START.ns, np.int32, {})
        i0 = int(round(w.index_of(START.ns)))
        done = 0
        while done < n:
            k = min(len(day), n - done)
            vals = np.roll(day, done % 7919)[:k]  # not the same day over and over
            w.write(i0 + done, vals)
            w.update_pyramid(i0 + done, i0 + done + k, vals)
            done += k
        w.commit()
    total = sum(n for _, n in plan)
    print(f"built {path.name}: {total:,} samples in {time.perf_counter() - t:.0f} s")


def kernel_times(big, t0: int, t1: int, span: int, rng: np.random.Generator
                 ) -> tuple[float, float, float]:
    """Median ms of the numpy band kernel and of Datashader's line kernel on the same windows,
    and the largest fraction of inked pixels where the two masks differ."""
    ours, theirs, worst = [], [], 0.0
    for _ in range(7):
        a = t0 + int(rng.uniform(0, (t1 - t0 - span) / NS) * NS) if span < t1 - t0 else t0
        w = big.read_window(a, a + span, max_points=WIDTH)
        lo, hi = raster.visible(w, a, a + span)
        c = float(np.nanmedian((lo + hi) / 2))
        sc = float(np.nanmax(np.maximum(hi - c, c - lo))) or 1.0
        t = time.perf_counter()
        m1 = raster.band_mask(w, a, a + span, WIDTH, BAND, c, sc)
        ours.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        m2 = raster.datashader_band_mask(w, a, a + span, WIDTH, BAND, c, sc)
        theirs.append((time.perf_counter() - t) * 1e3)
        worst = max(worst, float((m1 != m2).sum() / max((m1 | m2).sum(), 1)))
    return statistics.median(ours), statistics.median(theirs), worst


def frame_times(path: Path, rng: np.random.Generator) -> dict[str, float]:
    """Median frame time per span for the big stream, and for ten stacked streams (streams
    read as the server reads them: opened once, kept by `Sources`)."""
    st = Sources([str(path)]).store()
    t0, t1 = st["BV.BIG.00.HHZ"].span_ns
    out = {}
    print(f"  {'span':>8} {'level':>5} {'median ms':>10} {'max ms':>8} {'CPU ms':>7} "
          f"{'numpy kernel':>13} {'datashader':>11} {'mask differs':>13}")
    for label, secs in SPANS:
        span = (t1 - t0) if secs is None else min(secs * NS, t1 - t0)
        times, cpu = [], []
        for _ in range(15):
            a = t0 + int(rng.uniform(0, (t1 - t0 - span) / NS) * NS) if span < t1 - t0 else t0
            t, c = time.perf_counter(), time.process_time()
            f = make_frame([st["BV.BIG.00.HHZ"]], a, a + span, WIDTH, BAND)
            times.append((time.perf_counter() - t) * 1e3)
            cpu.append((time.process_time() - c) * 1e3)
        out[label] = statistics.median(times)
        out[f"cpu {label}"] = statistics.median(cpu)
        k_ours, k_ds, differ = kernel_times(st["BV.BIG.00.HHZ"], t0, t1, span, rng)
        print(f"  {label:>8} {f.traces[0].window.level:>5} {out[label]:>10.1f} "
              f"{max(times):>8.1f} {out[f'cpu {label}']:>7.1f} {k_ours:>10.1f} ms "
              f"{k_ds:>8.1f} ms {differ:>12.2%}")
    ten = [st[f"BV.S{k:02d}.00.HHZ"] for k in range(10)]
    s0, s1 = ten[0].span_ns
    for label, span in (("1 h", 3600 * NS), ("whole", s1 - s0)):
        times, cpu = [], []
        for _ in range(10):
            a = s0 + int(rng.uniform(0, max((s1 - s0 - span) / NS, 0)) * NS)
            t, c = time.perf_counter(), time.process_time()
            make_frame([st[s.name] for s in ten], a, a + span, WIDTH, BAND * 10)
            times.append((time.perf_counter() - t) * 1e3)
            cpu.append((time.process_time() - c) * 1e3)
        out[f"ten {label}"] = statistics.median(times)
        print(f"  ten stacked streams, {label}: median {out[f'ten {label}']:.1f} ms, "
              f"max {max(times):.1f} ms, CPU {statistics.median(cpu):.1f} ms")
    return out


JS_WATCH = """() => {
  let src = null;
  for (const doc of Bokeh.documents)
    for (const m of doc.all_models)
      if (m.type == 'ColumnDataSource' && m.data.dw !== undefined) src = m;
  window.__bv_src = src;
  window.__bv_seen = src.data.x[0];
  window.__bv_done = null;
  const poll = () => {
    if (src.data.x[0] !== window.__bv_seen) {
      requestAnimationFrame(() => { window.__bv_done = performance.now(); });
      return;
    }
    requestAnimationFrame(poll);
  };
  window.__bv_t0 = performance.now();
  requestAnimationFrame(poll);
}"""


def zoom_times(store: Path, zooms: int = 12) -> tuple[list[float], float]:
    """Milliseconds from a wheel zoom to the repainted plot; the server's RSS afterwards (MB)."""
    with served_dashboard([str(store)], repo=_code_repo()) as base, \
            launch_chromium() as browser:
        server = [p for p in psutil.net_connections("tcp")
                  if p.laddr and p.laddr.port == int(base.rsplit(":", 1)[1])
                  and p.status == "LISTEN"]
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        day = 86400 * NS
        page.goto(f"{base}/waveforms?streams=BV.BIG.00.HHZ&from={START.ns // 10**6}"
                  f"&to={(START.ns + 30 * day) // 10**6}")
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
        page.wait_for_selector("canvas")
        page.wait_for_timeout(1500)
        box = page.locator("canvas").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        times = []
        for i in range(zooms):
            page.evaluate(JS_WATCH)
            page.mouse.wheel(0, -240 if i % 2 == 0 else 200)  # in, then partly out
            page.wait_for_function("() => window.__bv_done !== null", timeout=30000)
            times.append(page.evaluate("() => window.__bv_done - window.__bv_t0"))
            page.wait_for_timeout(200)
        rss = psutil.Process(server[0].pid).memory_info().rss / 1e6 if server else float("nan")
    return times, rss


def notebook_frame_times(path: Path) -> None:
    """The notebook's DynamicMap (`store.view()`) on the same stream: its callback and a
    RangeXY event with the Bokeh update, beside `make_frame` (from bench_client.py)."""
    from bench_client import frame_times as dynamicmap_times

    print("notebook DynamicMap frames on the big store, beside the dashboard's make_frame:")
    dynamicmap_times(path, repeat=5)


def main() -> None:
    """Build the stores if needed and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", type=float, default=1e9)
    ap.add_argument("--small", type=float, default=1e7)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench-dash"))
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--repo", type=Path, help="measure this checkout's code (an A/B run)")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    stores = {"small": (args.dir / "small.zarr", int(args.small)),
              "big": (args.dir / "big.zarr", int(args.big))}
    for path, n in stores.values():
        build_store(path, n)
    raster.warm_up()
    raster.warm_up_datashader()
    rng = np.random.default_rng(3)
    frames = {}
    for label, (path, n) in stores.items():
        print(f"frame times, {label} store ({n:,}-sample stream, {WIDTH}x{BAND} px):")
        frames[label] = frame_times(path, rng)
    worst = max(v for k, v in frames["big"].items() if not k.startswith(("ten", "cpu")))
    worst_cpu = max(v for k, v in frames["big"].items() if k.startswith("cpu"))
    print(f"code: {_code_repo()}; load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"worst median single-stream frame on the big store: {worst:.1f} ms, CPU "
          f"{worst_cpu:.1f} ms (target < 10); "
          f"ten stacked: {max(frames['big']['ten 1 h'], frames['big']['ten whole']):.1f} ms "
          "(target < 60)")
    notebook_frame_times(stores["big"][0])
    if args.no_browser:
        return
    zoom = {}
    for label, (path, _) in stores.items():
        times, rss = zoom_times(path)
        zoom[label] = statistics.median(times)
        print(f"browser zoom -> repaint, {label} store: median {zoom[label]:.0f} ms "
              f"(min {min(times):.0f}, max {max(times):.0f}); server RSS {rss:.0f} MB")
    print(f"zoom time ratio big/small: {zoom['big'] / zoom['small']:.2f} (target < 1.5)")


if __name__ == "__main__":
    main()
