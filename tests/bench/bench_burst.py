"""The server's part of a zoom under load: sessions speaking Bokeh's protocol, no browser.

    python tests/bench/bench_burst.py [--sessions 20] [--zooms 10] [--first burst|think]

`bench_load.py` drives 20 real Chromium pages on the server's own two cores, so what it times
is the server and 20 browsers sharing them (a page's part of a zoom, 100-150 ms of CPU, is
several times the server's). In a deployment each browser is on its user's machine. This
benchmark opens the same pages the way a browser does (GET the page, then its websocket with
the session's token, pull the document, report the plot's laid-out width), and then moves each
session's x range as a wheel notch would and times the change sent -> the frame's image data
received. With `--first burst` (the default) every session's first zoom is sent at the same
instant; later zooms follow a `--think` pause. Prints p50/p95/max for the burst and the later
zooms, /liveness during the run, server CPU per zoom, bytes received per zoom.
Bounded: every wait times out (30 s), the whole run stops after `--budget` seconds.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_load import PAGE, SERVER, Liveness, load_arguments, pct, serve_big_store  # noqa: E402
from bokeh_protocol import Session, open_session  # noqa: E402


async def drive(base: str, path: str, sessions: int, zooms: int, think: tuple[float, float],
                burst: bool, budget: float) -> dict:
    """Open every session, then zoom them all."""
    out: dict = {"first": [], "later": [], "errors": [], "bytes": 0, "zooms": 0}
    opened = await asyncio.gather(*(open_session(base, path) for _ in range(sessions)),
                                  return_exceptions=True)
    live = [s for s in opened if isinstance(s, Session)]
    out["errors"] += [f"open: {type(e).__name__}: {e}" for e in opened if not isinstance(e,
                                                                                       Session)]
    out["cpu0"] = psutil.Process(SERVER["pid"]).cpu_times()
    out["t0"] = time.monotonic()
    start = time.perf_counter() + 0.5

    async def one(k: int, s: Session) -> None:
        rng = random.Random(k)
        before = s.received
        delay = (start - time.perf_counter()) if burst else rng.uniform(*think)
        await asyncio.sleep(max(delay, 0))
        for i in range(zooms):
            try:
                out["later" if i else "first"].append(await s.zoom(rng, i))
                out["zooms"] += 1
            except TimeoutError:
                out["errors"].append(f"session {k}: zoom {i}: no frame in 30 s")
            await asyncio.sleep(rng.uniform(*think))
        out["bytes"] += s.received - before

    try:
        await asyncio.wait_for(asyncio.gather(*(one(k, s) for k, s in enumerate(live))),
                               timeout=budget)
    except TimeoutError:
        out["errors"].append(f"the run hit its budget of {budget:.0f} s")
    out["cpu1"] = psutil.Process(SERVER["pid"]).cpu_times()
    out["t1"] = time.monotonic()
    for s in live:
        s.close()
    return out


def main() -> None:
    """Build the store if needed, serve it, drive the sessions, print the figures."""
    ap = load_arguments(__doc__)
    ap.add_argument("--think", default="1:3", help="MIN:MAX seconds between a session's zooms")
    ap.add_argument("--first", choices=("think", "burst"), default="burst",
                    help="every session's first zoom at the same instant, or after a pause")
    args = ap.parse_args()
    proc, base = serve_big_store(args)
    live = Liveness(base)
    live.start()
    think = tuple(float(v) for v in args.think.split(":"))
    try:
        out = asyncio.run(drive(base, PAGE, args.sessions, args.zooms, think,
                                args.first == "burst", args.budget))
    finally:
        live.stop.set()
        live.join()
        rss = psutil.Process(proc.pid).memory_info().rss / 1e6
        proc.terminate()
        proc.wait(10)
    first, later = out["first"], out["later"]
    every = first + later
    c0, c1 = out["cpu0"], out["cpu1"]
    cpu = (c1.user + c1.system - c0.user - c0.system) / max(out["zooms"], 1) * 1e3
    during = [ms for at, ms in zip(live.at, live.times, strict=True) if at >= out["t0"]]
    print(f"server: {args.repo} {args.server_args}; {args.sessions} protocol sessions (no "
          f"browser), first zoom: {args.first}, then {args.think} s between zooms")
    print(f"{out['zooms']} zooms in {out['t1'] - out['t0']:.0f} s, {len(out['errors'])} errors")
    print(f"zoom -> frame received, ms: all p50 {pct(every, 50):.0f}, p95 {pct(every, 95):.0f},"
          f" max {max(every, default=float('nan')):.0f}")
    print(f"  first zooms ({'all at once' if args.first == 'burst' else 'after a pause'}): "
          f"p50 {pct(first, 50):.0f}, p95 {pct(first, 95):.0f}, max "
          f"{max(first, default=float('nan')):.0f}; later: p50 {pct(later, 50):.0f}, p95 "
          f"{pct(later, 95):.0f}")
    print(f"/liveness ms during the zooms: p50 {pct(during, 50):.1f}, p95 {pct(during, 95):.1f},"
          f" max {max(during, default=float('nan')):.1f}; {live.failures} failed")
    print(f"server CPU {cpu:.0f} ms per zoom; {out['bytes'] / max(out['zooms'], 1) / 1e3:.1f} "
          f"kB received per zoom; server RSS {rss:.0f} MB")
    for e in out["errors"][:10]:
        print("  error:", e)


if __name__ == "__main__":
    main()
