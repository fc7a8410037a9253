"""Notebook benchmark: the DynamicMap's frame time beside the dashboard's, and opening a store
with many streams as a DataTree with and without consolidated metadata.

    python tests/bench/bench_client.py [--big 1e9] [--dir /tmp/bench-dash] [--streams 300]

Uses the dashboard benchmark's store (`bench_dashboard.build_store`, reused when present).
Prints, measured in this run, median of `--repeat` runs per span (1200 x 120 px):
1. `make_frame` alone (the dashboard's frame), the DynamicMap's callback (the frame as an
   `hv.RGB`), and a RangeXY event on a rendered DynamicMap (callback + Bokeh model update),
   with the ratio of the last to the first.
2. `open_datatree` of a store of `--streams` streams: node by node and from consolidated
   metadata, and their ratio; and the time `consolidate` takes.
3. The PSD spectrogram's RangeXY event (callback + Bokeh update) over a decade of PSDs, and
   the usage views' (metric heatmap of 64 nodes x 90 days of minutes, jobs per bin of 20,000
   jobs), per span, with the level each read.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_dashboard import SPANS, build_store  # noqa: E402

from dashboard import raster  # noqa: E402
from dashboard.frames import make_frame  # noqa: E402
from dashboard.notebook import view  # noqa: E402
from pipelines.store import Store, consolidate, open_datatree, open_store  # noqa: E402
from pipelines.timebase import NS  # noqa: E402

WIDTH, BAND = 1200, 120


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def frame_times(path: Path, repeat: int) -> None:
    import holoviews as hv

    hv.extension("bokeh")
    store = open_store(str(path))
    s = store["BV.BIG.00.HHZ"]
    a, b = s.span_ns
    raster.warm_up()
    dmap = view([s], a, b, width=WIDTH, height=BAND)
    source = dmap.callback.callable
    hv.renderer("bokeh").get_plot(dmap)  # a live plot: events now redraw it
    rng = np.random.default_rng(0)
    print(f"{'span':>8} {'make_frame':>11} {'callback':>9} {'event':>8} {'event/frame':>12}")
    for label, sec in SPANS:
        span = (b - a) if sec is None else sec * NS

        def window(sec=sec, span=span):
            t0 = a if sec is None else int(rng.integers(a, b - span))
            return t0, t0 + span

        def direct():
            t0, t1 = window()
            make_frame([s], t0, t1, WIDTH, BAND)

        def callback():
            t0, t1 = window()
            source(x_range=(np.datetime64(t0, "ns"), np.datetime64(t1, "ns")))

        def event():
            t0, t1 = window()
            dmap.event(x_range=(np.datetime64(t0, "ns"), np.datetime64(t1, "ns")))

        f, c, e = (_median_ms(fn, repeat) for fn in (direct, callback, event))
        print(f"{label:>8} {f:9.1f}ms {c:7.1f}ms {e:6.1f}ms {e / f:12.2f}")


def datatree_times(base: Path, n_streams: int) -> None:
    path = base / f"client-{n_streams}-streams.zarr"
    if not (path / "zarr.json").exists():
        st = Store(str(path), "a")
        vals = np.arange(100_000, dtype=np.int32)
        for k in range(n_streams):
            w = st.create_stream(f"BV.S{k:03d}.00.HHZ", 100.0, 1_709_251_200 * NS, np.int32, {})
            i0 = int(round(w.index_of(1_709_251_200 * NS)))
            w.write(i0, vals)
            w.update_pyramid(i0, i0 + len(vals), vals)
            w.commit()
    Store(str(path), "a").set_events([])  # a write drops any consolidated copy
    plain = _median_ms(lambda: open_datatree(open_store(str(path))), 3)
    t = time.perf_counter()
    consolidate(Store(str(path), "a"))
    cons_ms = (time.perf_counter() - t) * 1e3
    fast = _median_ms(lambda: open_datatree(open_store(str(path))), 3)
    print(f"open_datatree, {n_streams} streams: node by node {plain:.0f} ms, consolidated "
          f"{fast:.0f} ms (ratio {plain / fast:.2f}); consolidate {cons_ms:.0f} ms")


def _event_ms(dmap, a: int, span: int, repeat: int, rng: np.random.Generator) -> float:
    def event():
        t0 = a + int(rng.integers(0, max(span // 10, 1)))
        dmap.event(x_range=(np.datetime64(t0, "ns"), np.datetime64(t0 + span, "ns")))

    return _median_ms(event, repeat)


def product_frame_times(base: Path, repeat: int) -> None:
    import holoviews as hv

    from dashboard.notebook_noise import psd_view
    from dashboard.notebook_usage import jobs_view, metric_view
    from pipelines.demo.usage import generate_usage
    from pipelines.store.products import PSD_ROWS_PER_DAY, open_psd, require_psd
    from pipelines.timebase import DAY_NS, parse_time
    from pipelines.usage.usage_store import open_usage_store

    hv.extension("bokeh")
    renderer = hv.renderer("bokeh")
    rng = np.random.default_rng(1)
    day0, days = parse_time("2015-01-01"), 3650
    path = base / "client-psd-decade.zarr"
    if not (path / "zarr.json").exists():  # a decade of 30-minute PSD rows on 65 periods
        st = Store(str(path), "a")
        periods = 2.0 ** (np.arange(65) / 8)
        prod = require_psd(st, "BV.BIG.00.HHZ", 0, periods, {}, "bench")
        for d in range(days):
            db = -150 + 10 * rng.standard_normal((PSD_ROWS_PER_DAY, 65)).astype(np.float32)
            prod.write_day(day0 + d * DAY_NS, db)
    prod = open_psd(open_store(str(path)), "BV.BIG.00.HHZ")
    dmap = psd_view(prod, "BV.BIG.00.HHZ", day0, day0 + days * DAY_NS, width=WIDTH,
                    clim=(-180.0, -120.0))
    renderer.get_plot(dmap)
    print(f"{'PSD span':>10} {'event':>8} {'rows':>6} level")
    for label, span in (("decade", days * DAY_NS), ("1 year", 365 * DAY_NS),
                        ("1 month", 30 * DAY_NS), ("1 day", DAY_NS)):
        ms = _event_ms(dmap, day0, span, repeat, rng)
        last = dmap.callback.callable.last
        print(f"{label:>10} {ms:6.1f}ms {last.rows:6d} {last.level}")
    upath = base / "client-usage-90d.zarr"
    u0 = parse_time("2024-01-01")
    if not (upath / "zarr.json").exists():
        generate_usage(str(upath), u0, days=90, n_jobs=20_000, nodes=64)
    usage = open_usage_store(str(upath))
    heat = metric_view(usage.metric("node_cpu"), width=WIDTH)
    bars = jobs_view(usage, "user", width=WIDTH)
    for dm in (heat, bars):
        renderer.get_plot(dm)
    print(f"{'usage span':>10} {'heatmap':>8} {'level':>5} {'jobs bars':>9} {'bin':>8}")
    for label, span in (("90 days", 90 * DAY_NS), ("7 days", 7 * DAY_NS),
                        ("1 day", DAY_NS), ("1 hour", 3600 * NS)):
        h = _event_ms(heat, u0, span, repeat, rng)
        level = heat.callback.callable.last.level
        j = _event_ms(bars, u0, span, repeat, rng)
        print(f"{label:>10} {h:6.1f}ms {level:5d} {j:7.1f}ms "
              f"{bars.callback.callable.last.bin_name:>8}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--big", type=float, default=1e9)
    p.add_argument("--dir", default="/tmp/bench-dash")
    p.add_argument("--streams", type=int, default=300)
    p.add_argument("--repeat", type=int, default=9)
    args = p.parse_args()
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    build_store(base / "big.zarr", int(args.big))
    frame_times(base / "big.zarr", args.repeat)
    datatree_times(base, args.streams)
    product_frame_times(base, args.repeat)


if __name__ == "__main__":
    main()
