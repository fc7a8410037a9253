"""Figures for the readable waveform page and the live follower (printed, never asserted).

- frame time of a whole day with the robust scale against the maximum (interleaved A/B, same
  frames), and the marks' layout (picks, thinned earthquakes, detections) per frame;
- follow latency: time from a record appended to an SDS day file to its samples being in
  the store, with file events (inotify) and with polling.

    python tests/bench/bench_follow.py [--records 40]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import threading
import time

import numpy as np

sys.path[:0] = [os.path.join(os.path.dirname(__file__), ".."),
                os.path.join(os.path.dirname(__file__), "..", "..")]


def bench_frames(tmp: str, rounds: int) -> None:
    import waveform_store as ws

    from dashboard.frames import FrameOptions, make_frame
    from dashboard.picks import MarkLayers
    from pipelines.store import open_store
    from pipelines.timebase import NS

    path = ws.build(os.path.join(tmp, "w.zarr"))
    st = open_store(path)
    streams = [st[n] for n in ws.DAY_STREAMS]
    t0, t1 = ws.DAY0_NS, ws.DAY0_NS + 86400 * NS
    times = {"robust": [], "trace": []}
    for _ in range(rounds):
        for scale in ("robust", "trace"):  # interleaved: the same load on both
            a = time.perf_counter()
            make_frame(streams, t0, t1, 1200, 360, FrameOptions(scale=scale))
            times[scale].append(1e3 * (time.perf_counter() - a))
    from bokeh.plotting import figure

    marks = MarkLayers(figure(), 3, st.events(), st)
    lay = []
    for _ in range(rounds):
        a = time.perf_counter()
        marks.layout(list(ws.DAY_STREAMS), t0, t1, 1200, 120)
        lay.append(1e3 * (time.perf_counter() - a))
    print(f"day frame, 3 streams x {ws.N:,} samples, 1200x360 px ({rounds} rounds):")
    for k, v in times.items():
        print(f"  scale={k:6s} median {statistics.median(v):6.1f} ms")
    print(f"  marks layout ({len(st.events())} events, detections) median "
          f"{statistics.median(lay):.2f} ms")


def bench_follow(tmp: str, records: int, poll: float | None) -> list[float]:
    from obspy import Stream, Trace, UTCDateTime

    from pipelines.ingest.follow import Follower
    from pipelines.store import open_store

    root = os.path.join(tmp, f"sds-{poll}")
    day = os.path.join(root, "2024", "XW", "B", "HHZ.D")
    os.makedirs(day)
    path = os.path.join(day, "XW.B.00.HHZ.D.2024.122")
    data = np.cumsum(np.random.default_rng(1).integers(-60, 61, 100000)).astype(np.int32)
    buf = io.BytesIO()
    Stream([Trace(data, header={"network": "XW", "station": "B", "location": "00",
                                "channel": "HHZ", "sampling_rate": 100.0,
                                "starttime": UTCDateTime(2024, 5, 1)})]).write(
        buf, format="MSEED", encoding="STEIM2", reclen=512)
    raw = buf.getvalue()
    recs = [raw[i:i + 512] for i in range(0, len(raw), 512)][:records + 1]
    with open(path, "wb") as fh:
        fh.write(recs[0])
    store = os.path.join(tmp, f"f-{poll}.zarr")
    follower = Follower(store, [root])
    stop = threading.Event()
    th = threading.Thread(target=follower.run, args=(stop, poll), daemon=True)
    th.start()
    lags = []

    def samples() -> int:
        try:
            s = open_store(store)["XW.B.00.HHZ"]
            return int(s.n_samples)
        except Exception:
            return 0

    while samples() == 0:
        time.sleep(0.05)
    for rec in recs[1:]:
        before = samples()
        with open(path, "ab") as fh:
            fh.write(rec)
        a = time.perf_counter()
        while samples() == before:
            time.sleep(0.02)
        lags.append(time.perf_counter() - a)
        time.sleep(0.3)
    stop.set()
    th.join(10)
    return lags


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores)")
    with tempfile.TemporaryDirectory() as tmp:
        bench_frames(tmp, args.rounds)
        for poll in (None, 0.5):
            lags = bench_follow(tmp, args.records, poll)
            how = "file events" if poll is None else f"polling {poll:g} s"
            print(f"follow ({how}), {len(lags)} records appended: write -> in the store "
                  f"median {statistics.median(lags):.2f} s, max {max(lags):.2f} s")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
