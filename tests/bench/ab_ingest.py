"""Interleaved A/B of seismic ingest between two checkouts: wall and CPU time, medians.

    python tests/bench/ab_ingest.py OLD_CHECKOUT NEW_CHECKOUT [--rounds 5] [--runs 3]
                                   [--days 2] [--channels 3] [--dir /tmp/belvedere-ab]

On a small shared VM the wall time of one ingest varies by +-30 % from minute to minute, so a
change is judged by many runs of both checkouts interleaved: each round starts one process
per checkout (A then B), each ingests the same generated archive `--runs` times into fresh
stores. CPU is user + system time of the process (all threads), less sensitive to how much of
the second core the host lends at that moment.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

_CHILD = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
try:
    from pipelines.seismic.ingest import ingest_seismic
except ImportError:  # checkouts before the seismic package
    from pipelines.ingest import ingest_seismic
try:  # what `belvedere ingest` does (older checkouts: elsewhere, or no such module)
    from pipelines.ingest.allocator import tune_allocator
except ImportError:
    try:
        from pipelines.allocator import tune_allocator
    except ImportError:
        tune_allocator = lambda: None
tune_allocator()
base, archive, runs = sys.argv[2], sys.argv[3], int(sys.argv[4])
ingest_seismic(f"{base}-warm.zarr", [archive])  # imports, thread pool, first allocations
out = []
for i in range(runs):
    a, t = os.times(), time.perf_counter()
    ingest_seismic(f"{base}-{i}.zarr", [archive])
    w, b = time.perf_counter() - t, os.times()
    out.append([w, b.user - a.user + b.system - a.system])
print(json.dumps(out))
"""


def main() -> None:
    """Run the rounds and print wall and CPU medians per checkout."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3, help="ingests per process")
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/belvedere-ab"))
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_ingest import write_archive

    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    archive = args.dir / "sds"
    write_archive(archive, args.days, args.channels)
    results: dict[str, list[list[float]]] = {"A": [], "B": []}
    for r in range(args.rounds):
        for label, tree in (("A", args.a), ("B", args.b)):
            base = args.dir / f"{label}{r}"
            proc = subprocess.run([sys.executable, "-c", _CHILD, str(tree.resolve()), str(base),
                                   str(archive), str(args.runs)],
                                  capture_output=True, text=True, check=True)
            results[label] += json.loads(proc.stdout.strip().splitlines()[-1])
            for p in args.dir.glob(f"{label}{r}-*.zarr"):  # outside the timings
                shutil.rmtree(p)
    for label, tree in (("A", args.a), ("B", args.b)):
        wall = [w for w, _ in results[label]]
        cpu = [c for _, c in results[label]]
        print(f"{label} {tree}: wall median {statistics.median(wall) * 1e3:.0f} ms "
              f"(min {min(wall) * 1e3:.0f}), CPU median {statistics.median(cpu) * 1e3:.0f} ms "
              f"(min {min(cpu) * 1e3:.0f}), {len(wall)} ingests")
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
