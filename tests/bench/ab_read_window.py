"""Interleaved A/B of `read_window` between two checkouts on one store: median ms by span.

    python tests/bench/ab_read_window.py OLD_CHECKOUT NEW_CHECKOUT STORE [--rounds 3]

Each round runs one process per checkout (A then B) that reads 40 windows of each span
(1 min, 1 h, 1 day, the whole stream) at 2,000 points from the store's longest stream.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

_CHILD = """
import statistics, sys, time
sys.path.insert(0, sys.argv[1])
from pipelines.store import open_store
st = open_store(sys.argv[2])
s = st[max(st.streams(), key=lambda n: st[n].n_samples)]
t0, t1 = s.span_ns
out = []
for span in (60e9, 3600e9, 86400e9, t1 - t0):
    ts = []
    for i in range(40):
        a = t0 + (i * 7919e9) % max(t1 - t0 - span, 1)
        t = time.perf_counter()
        s.read_window(int(a), int(a + span), 2000)
        ts.append(time.perf_counter() - t)
    out.append(statistics.median(ts) * 1e3)
print(" ".join(f"{x:.2f}" for x in out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("store")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    got: dict[str, list[list[float]]] = {args.a: [], args.b: []}
    for _ in range(args.rounds):
        for co in (args.a, args.b):
            r = subprocess.run([sys.executable, "-c", _CHILD, co, args.store],
                               capture_output=True, text=True, check=True)
            got[co].append([float(x) for x in r.stdout.split()])
    for co, rows in got.items():
        med = [sorted(col)[len(col) // 2] for col in zip(*rows, strict=True)]
        print(f"{co}: median ms 1 min / 1 h / 1 day / whole: "
              + " / ".join(f"{m:.2f}" for m in med))


if __name__ == "__main__":
    main()
