"""Helicorder and filtered-view benchmark: server-side times at 1 day, 1 week and 1 year,
against the raw view's in the same run.

    python tests/bench/bench_helicorder.py [--days 8] [--year-rate 1] [--dir /tmp/bench-heli]

Builds (reused when present) a store with one 100 Hz stream of `--days` days and one stream of
a year at `--year-rate` Hz (10 Hz by default: a year at 100 Hz is 3.2e9 samples, hours to
build and filter on a 2-core machine; a frame reads at most ~16 buckets per pixel whatever the
rate, so the year's frame reads as many values at either rate, from a pyramid one level
shallower at 10 Hz), and keeps their `bp0.5-2` filtered pyramid with `analyse filter`. Prints,
interleaved A/B (raw, filtered, raw, ...) with the load average:
1. one waveform band (1200 x 120 px, `make_frame`), raw and band-passed from the stored band;
2. the helicorder (`draw`: one read at the rows' resolution, rows, clip marks; and the palette
   PNG), raw and band-passed; target: a day at 100 Hz filtered under 300 ms, a week too.
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

from bench_ingest import START, seismic_noise  # noqa: E402

from dashboard import encode  # noqa: E402
from dashboard.filters import FilterSpec  # noqa: E402
from dashboard.frames import FrameOptions, make_frame  # noqa: E402
from dashboard.helicorder import PALETTE  # noqa: E402
from dashboard.pages.helicorder import HelicorderState, draw  # noqa: E402
from dashboard.sources import CachedStore  # noqa: E402
from pipelines.analysis.engine import analyse  # noqa: E402
from pipelines.store import open_store  # noqa: E402
from pipelines.timebase import DAY_NS  # noqa: E402

BAND = "bp0.5-2"
REPS = 7
DAY_STREAM, YEAR_STREAM = "BV.DAYS.00.HHZ", "BV.YEAR.00.BHZ"


def build(path: Path, days: int, year_rate: float) -> None:
    """The two streams (written through the store's writer) and their filtered pyramid."""
    st = open_store(str(path), "a")
    rng = np.random.default_rng(3)
    day = seismic_noise(8_640_000, rng)
    for name, rate, n_days in ((DAY_STREAM, 100.0, days), (YEAR_STREAM, year_rate, 366)):
        if name in st.streams():
            continue
        t = time.perf_counter()
        w = st.create_stream(name, rate, START.ns, np.int32, {})
        per_day = int(86400 * rate)
        src = day if rate == 100.0 else day[:: max(int(100 / rate), 1)][:per_day]
        i0 = int(round(w.index_of(START.ns)))
        for d in range(n_days):
            vals = np.roll(src, (d * 7919) % len(src))  # not the same day over and over
            w.write(i0 + d * per_day, vals)
            w.update_pyramid(i0 + d * per_day, i0 + (d + 1) * per_day, vals)
        w.commit()
        print(f"built {name}: {n_days * per_day:,} samples in {time.perf_counter() - t:.0f} s")
    t = time.perf_counter()
    rep = analyse(str(path), "filter", [DAY_STREAM, YEAR_STREAM], workers=2,
                  overrides={"bands": [BAND]})
    if rep.tasks:
        print(f"analyse filter {BAND}: {rep.tasks} stream-days in {time.perf_counter() - t:.0f} s")


def median_ms(fn, reps: int = REPS) -> float:
    """Median wall ms of `fn()` (after one warm-up call)."""
    fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return statistics.median(out)


def interleaved(a, b, reps: int = REPS) -> tuple[float, float, float, float]:
    """Median wall ms of a and b, measured alternately (a, b, a, b ...), and their median CPU
    ms (the process's, every thread: on a shared, loaded machine wall time is mostly waiting)."""
    a(), b()
    ta, tb, ca, cb = [], [], [], []
    for _ in range(reps):
        for fn, acc, cpu in ((a, ta, ca), (b, tb, cb)):
            t, c = time.perf_counter(), time.process_time()
            fn()
            acc.append((time.perf_counter() - t) * 1e3)
            cpu.append((time.process_time() - c) * 1e3)
    return (statistics.median(ta), statistics.median(tb), statistics.median(ca),
            statistics.median(cb))


def frame_job(store, name: str, t0: int, t1: int, options: FrameOptions):
    """One waveform band of the stream over [t0, t1)."""
    return lambda: make_frame([store[name]], t0, t1, 1200, 120, options)


def heli_job(store, query: dict[str, str], band: str, now: int):
    """(the helicorder of `query` in `band`, drawn and encoded; its rows)."""
    state, errors = HelicorderState.from_query(store, "bench", query | {"band": band}, now)
    assert not errors, errors

    def run():
        h, _, _ = draw(store, state)
        encode.png_bytes(h.index, PALETTE)
    return run, state.rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--year-rate", type=float, default=10.0)
    ap.add_argument("--dir", default="/tmp/bench-heli")
    args = ap.parse_args()
    path = Path(args.dir) / "heli.zarr"
    path.parent.mkdir(parents=True, exist_ok=True)
    build(path, max(args.days, 8), args.year_rate)
    store = CachedStore(open_store(str(path)))  # as the server opens stores
    spans = [("1 day", DAY_STREAM, DAY_NS), ("1 week", DAY_STREAM, 7 * DAY_NS),
             ("1 year", YEAR_STREAM, 365 * DAY_NS)]
    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'span':8} {'stream':16} {'frame raw':>10} {'frame bp':>9} {'ratio':>6}   "
          f"{'heli raw':>9} {'heli bp':>8} {'ratio':>6}  rows")
    spec = FilterSpec("bandpass", 0.5, 2.0)
    for label, name, span in spans:
        s = store[name]
        t0 = START.ns
        t1 = t0 + span

        fr, fb, cfr, cfb = interleaved(frame_job(store, name, t0, t1, FrameOptions()),
                             frame_job(store, name, t0, t1, FrameOptions(filter=spec)))
        q = {"stream": name, "from": f"{START.isoformat()}Z",
             "to": f"{(START + span / 1e9).isoformat()}Z"}
        (hr_fn, rows), (hb_fn, _) = heli_job(store, q, "raw", t1), heli_job(store, q, BAND, t1)
        hr, hb, chr_, chb = interleaved(hr_fn, hb_fn)
        print(f"{label:8} {name:16} {fr:9.1f}ms {fb:8.1f}ms {fb / fr:6.2f}   {hr:8.1f}ms "
              f"{hb:7.1f}ms {hb / hr:6.2f}  {rows} x {s.sampling_rate:g} Hz")
        print(f"{'  CPU':25} {cfr:9.1f}ms {cfb:8.1f}ms {cfb / max(cfr, 1e-3):6.2f}   "
              f"{chr_:8.1f}ms {chb:7.1f}ms {chb / max(chr_, 1e-3):6.2f}")
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
