"""Remote-store benchmark: frame times on a store read from its folder vs over HTTP (nginx).

    python tests/bench/bench_remote.py [--samples 3e7] [--dir /tmp/bench-remote] [--repeat 9]

Builds a store (reused when present) with one 100 Hz stream of `--samples` samples and ten of a
tenth of that, publishes its folder with a real nginx on loopback (deploy/nginx/
publish-stores.conf: read-only, autoindex for the stream listing), then prints, per window
from one minute to the whole stream: the median server-side time of one frame (read at screen
resolution + rasterise, 1200 x 120 px) from the local folder and over HTTP, their ratio, and
the HTTP requests one frame costs; then the same for ten stacked streams, and the time to
open the store and list its streams.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_dashboard import build_store  # noqa: E402
from browser import free_port  # noqa: E402
from test_deploy_nginx import nginx_main_conf, running_nginx  # noqa: E402
from test_remote_http import publish_conf  # noqa: E402

from dashboard import raster  # noqa: E402
from dashboard.frames import make_frame  # noqa: E402
from pipelines.store import open_store  # noqa: E402
from pipelines.timebase import NS

WIDTH, BAND = 1200, 120
SPANS = [("1 min", 60), ("10 min", 600), ("1 h", 3600), ("6 h", 6 * 3600), ("1 day", 86400),
         ("whole", None)]


def requests_in(log: Path, since: int) -> int:
    """GET requests nginx logged after byte offset `since`."""
    with open(log) as f:
        f.seek(since)
        return len(re.findall(r'"GET ', f.read()))


def frame_median(store_url: str, names: list[str], span_s: float | None, repeat: int,
                 seed: int) -> tuple[float, float]:
    """Median and max milliseconds of one frame of these streams over a window of span_s."""
    st = open_store(store_url)
    streams = [st[n] for n in names]
    t0, t1 = streams[0].span_ns
    span = (t1 - t0) if span_s is None else min(int(span_s * NS), t1 - t0)
    rng = np.random.default_rng(seed)  # the same windows for local and HTTP
    make_frame(streams, t0, t0 + span, WIDTH, BAND * len(streams))  # attributes, first open
    times = []
    for _ in range(repeat):
        a = t0 + int(rng.uniform(0, max((t1 - t0 - span) / NS, 0)) * NS)
        t = time.perf_counter()
        make_frame(streams, a, a + span, WIDTH, BAND * len(streams))
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), max(times)


def main() -> None:
    """Build, publish, measure, print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=float, default=3e7)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench-remote"))
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    www = args.dir / "www"
    www.mkdir(parents=True, exist_ok=True)
    store = www / "bench.zarr"
    build_store(store, int(args.samples))
    raster.warm_up()
    port = free_port()
    conf = nginx_main_conf(args.dir / "nginx", publish_conf(port, www))
    log = args.dir / "nginx" / "access.log"
    with running_nginx(conf, port) as base:
        url = f"{base}/stores/bench.zarr"
        t = time.perf_counter()
        local_streams = open_store(str(store)).streams()
        t_local = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        http_streams = open_store(url).streams()
        t_http = (time.perf_counter() - t) * 1e3
        assert http_streams == local_streams, (http_streams, local_streams)
        print(f"store: {store} ({len(local_streams)} streams), published at {url}")
        print(f"open + list streams: local {t_local:.1f} ms, HTTP {t_http:.1f} ms")
        print(f"one frame ({WIDTH} x {BAND} px), median of {args.repeat}:")
        print(f"  {'window':>12} {'local ms':>9} {'HTTP ms':>9} {'ratio':>6} {'GETs':>5}")
        big = ["BV.BIG.00.HHZ"]
        ten = [f"BV.S{k:02d}.00.HHZ" for k in range(10)]
        cases = [(label, big, secs) for label, secs in SPANS]
        cases += [("ten, 1 h", ten, 3600), ("ten, whole", ten, None)]
        for i, (label, names, secs) in enumerate(cases):
            loc, _ = frame_median(str(store), names, secs, args.repeat, i)
            before = log.stat().st_size
            rem, _ = frame_median(url, names, secs, args.repeat, i)
            gets = requests_in(log, before) / (args.repeat + 1)
            print(f"  {label:>12} {loc:>9.1f} {rem:>9.1f} {rem / loc:>6.1f} {gets:>5.0f}")


if __name__ == "__main__":
    main()
