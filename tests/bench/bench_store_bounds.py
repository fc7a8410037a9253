"""What a read costs for any window, and what a long gap costs an ingest: figures.

    python tests/bench/bench_store_bounds.py [--hours 24] [--rate 100] [--dir /tmp/belvedere-bounds]

Ingests one channel (`--hours` at `--rate` Hz, real Steim2 miniSEED written by ObsPy), then
reads windows of 1x, 1e3x and 1e6x its length and `now-1000000y .. now` at 1200 points:
median time and Python's peak allocation (tracemalloc) of each, with the ratio to the 1x
window. Then ingests two 1000-sample files of one channel 200 years apart and prints the
seconds and the files the store holds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from obspy import Stream, Trace, UTCDateTime

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipelines.seismic.ingest import ingest_seismic  # noqa: E402
from pipelines.store import open_store  # noqa: E402
from pipelines.timebase import NS, now_ns  # noqa: E402


def write(path: Path, start: UTCDateTime, rate: float, n: int, seed: int = 0) -> None:
    data = np.cumsum(np.random.default_rng(seed).integers(-50, 51, n)).astype(np.int32)
    Stream([Trace(data, header={"network": "XX", "station": "BND", "location": "00",
                                "channel": "HHZ", "sampling_rate": rate, "starttime": start})]
           ).write(str(path), format="MSEED", encoding="STEIM2")


def measure(fn, repeat: int = 5) -> tuple[float, int, int]:
    """Median seconds, peak bytes (tracemalloc, one run), buckets returned."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        w = fn()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak, len(w.lo)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/belvedere-bounds"))
    args = ap.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    start = UTCDateTime(2024, 3, 4)
    n = int(args.hours * 3600 * args.rate)
    write(args.dir / "day.mseed", start, args.rate, n)
    store = str(args.dir / "s.zarr")
    ingest_seismic(store, [str(args.dir / "day.mseed")])
    s = open_store(store)["XX.BND.00.HHZ"]
    t0, t1 = s.span_ns
    length, mid = t1 - t0, (t0 + t1) // 2
    print(f"stream: {n:,} samples at {args.rate:g} Hz, {s.levels} stored pyramid levels")
    base = None
    now = now_ns()
    for label, a, b in [("1x the stream", t0, t1),
                        ("1e3x", mid - 500 * length, mid + 500 * length),
                        ("1e6x", mid - 500_000 * length, mid + 500_000 * length),
                        ("now-1000000y..now", now - 1_000_000 * 365 * 86400 * NS, now)]:
        sec, peak, buckets = measure(lambda a=a, b=b: s.read_window(a, b, max_points=1200))
        base = base or (sec, peak)
        print(f"read_window {label:>18}: {sec * 1e3:7.2f} ms ({sec / base[0]:4.2f}x), "
              f"peak {peak / 1e6:6.2f} MB ({peak / base[1]:4.2f}x), {buckets} buckets")
    seg_sec, seg_peak, _ = measure(lambda: _Seg(s.read_segments(mid, mid + 10 * NS)))
    print(f"read_segments 10 s: {seg_sec * 1e3:.2f} ms, peak {seg_peak / 1e6:.2f} MB")

    gap_dir = args.dir / "gap"
    gap_dir.mkdir()
    write(gap_dir / "a.mseed", UTCDateTime(1900, 1, 1), 100.0, 1000, seed=1)
    write(gap_dir / "b.mseed", UTCDateTime(2100, 1, 1), 100.0, 1000, seed=2)
    gap_store = str(args.dir / "gap.zarr")
    t = time.perf_counter()
    ingest_seismic(gap_store, [str(gap_dir / "a.mseed"), str(gap_dir / "b.mseed")])
    sec = time.perf_counter() - t
    files = sum(len(f) for _, _, f in os.walk(gap_store))
    print(f"two files 200 years apart: ingest {sec:.2f} s, {files} files in the store")


class _Seg:
    """read_segments' result with the `lo` that `measure` counts."""

    def __init__(self, segs):
        self.lo = [v for _, v in segs]


if __name__ == "__main__":
    main()
