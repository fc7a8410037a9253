"""Mission benchmark: ingest throughput of a large LISA-layout file, frame and spectrum times.

    python tests/bench/bench_mission.py [--samples 1e8] [--links 6] [--dir /tmp/bench-mission]

Writes a LISA instrument simulation file (format 2.x layout: one float64 dataset per link,
metadata_json) of `--samples` samples over `--links` channels at 4 Hz (coloured noise), then
prints, measured in this run:
1. h5py alone reading every dataset (the floor), and `ingest_mission` on the same file, with
   spectra (hourly Welch ASD) and without, as Msamples/s and as a ratio to the h5py read.
2. Server-side frame times (`dashboard.frames.make_frame`, 1200 x 120 px per band) on one
   LISA stream, on six stacked ones, and on a year of irregular housekeeping (1e6 samples),
   for windows from one minute to the whole stream.
3. The time to average the precomputed spectra over the whole stream (`spectra.read_asd`).
4. The real lisainstrument 2.3.0 file of tests/data/mission (126 series of 200 samples, the
   `debug/` ones included): h5py reading every dataset, and `ingest_mission` of it, as seconds
   per stream (with many short series the per-stream cost, not the samples, sets the time).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dashboard.frames import make_frame  # noqa: E402
from pipelines.mission import spectra  # noqa: E402
from pipelines.mission.ingest import ingest_mission  # noqa: E402
from pipelines.mission.options import MissionOptions  # noqa: E402
from pipelines.store import open_store  # noqa: E402
from pipelines.timebase import NS

LINKS = ("12", "13", "21", "23", "31", "32")
REAL_LISA = (Path(__file__).resolve().parents[1] / "data" / "mission"
             / "lisainstrument-2.3.0-size200-seed1.h5")
WIDTH, BAND = 1200, 120


def write_file(path: Path, samples: int, links: int) -> int:
    """A LISA-layout file of about `samples` float64 samples; returns samples per link."""
    import h5py

    n = samples // links
    if path.exists():
        with h5py.File(path, "r") as f:
            if json.loads(f.attrs["metadata_json"])["size"] == n:
                return n
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.attrs["metadata_json"] = json.dumps({"version": "2.1", "dt": 0.25, "fs": 4.0,
                                               "size": n, "t0": 0.0})
        g = f.create_group("isi_carrier_fluctuations")
        for link in LINKS[:links]:
            ds = g.create_dataset(link, shape=(n,), dtype="f8")
            for c0 in range(0, n, 2**22):
                m = min(2**22, n - c0)
                x = np.cumsum(rng.standard_normal(m)) * 1e-3 + rng.standard_normal(m)
                ds[c0:c0 + m] = x * 1e-12
    return n


def h5_read(path: Path) -> float:
    """Seconds for h5py to read every dataset, in the ingest's chunk size."""
    import h5py

    t = time.perf_counter()
    with h5py.File(path, "r") as f:
        for q in f:
            for link in f[q]:
                ds = f[q][link]
                for c0 in range(0, ds.shape[0], 2**22):
                    ds[c0:c0 + 2**22]
    return time.perf_counter() - t


def frame_ms(streams, t0: int, t1: int, repeat: int = 5) -> float:
    """Median milliseconds of one frame."""
    times = []
    for _ in range(repeat):
        a = time.perf_counter()
        make_frame(streams, t0, t1, WIDTH, BAND * len(streams))
        times.append((time.perf_counter() - a) * 1e3)
    return statistics.median(times)


def housekeeping(path: Path) -> Path:
    """A year of irregular housekeeping (1e6 samples) as Parquet."""
    import pandas as pd

    out = path / "hk_year.parquet"
    if out.exists():
        return out
    rng = np.random.default_rng(1)
    n = 1_000_000
    dt = rng.uniform(0.3, 1.7, n) * (365 * 86400 / n)
    t = (np.datetime64("2024-01-01T00:00:00", "ns")
         + (np.cumsum(dt) * 1e9).astype(np.int64).astype("timedelta64[ns]"))
    pd.DataFrame({"time": t, "temp": 20 + np.cumsum(rng.standard_normal(n)) * 0.01}
                 ).to_parquet(out)
    return out


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=float, default=1e8)
    ap.add_argument("--links", type=int, default=6)
    ap.add_argument("--dir", default="/tmp/bench-mission")
    args = ap.parse_args()
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    src = base / "lisa.h5"
    t = time.perf_counter()
    n = write_file(src, int(args.samples), args.links)
    total = n * args.links
    print(f"file: {src} ({total:,} samples, {args.links} links x {n:,}, "
          f"{src.stat().st_size / 1e9:.2f} GB; {time.perf_counter() - t:.1f} s to prepare)")
    read_s = min(h5_read(src) for _ in range(2))
    print(f"h5py read alone: {read_s:.2f} s = {total / read_s / 1e6:.0f} Msamples/s")
    results = {}
    for label, block in (("with hourly spectra", 3600.0), ("without spectra", 1e12)):
        store = base / f"store-{block:g}.zarr"
        shutil.rmtree(store, ignore_errors=True)
        t = time.perf_counter()
        rep = ingest_mission(str(store), [str(src)], MissionOptions(spectra_block_s=block))
        secs = time.perf_counter() - t
        assert not rep.issues, [i.line() for i in rep.issues]
        results[label] = store
        size = sum(p.stat().st_size for p in store.rglob("*") if p.is_file())
        print(f"ingest {label}: {secs:.2f} s = {total / secs / 1e6:.1f} Msamples/s, "
              f"{secs / read_s:.2f}x the h5py read; store {size / 1e9:.2f} GB "
              f"({size / src.stat().st_size:.2f}x the file)")
    t = time.perf_counter()
    rep = ingest_mission(str(results["with hourly spectra"]), [str(src)])
    print(f"re-ingest of the same file: {time.perf_counter() - t:.2f} s, "
          f"{rep.samples_written} samples written")

    st = open_store(str(results["with hourly spectra"]))
    names = st.streams()
    one = st[names[0]]
    a, b = one.span_ns
    hk_store = base / "hk.zarr"
    shutil.rmtree(hk_store, ignore_errors=True)
    ingest_mission(str(hk_store), [str(housekeeping(base))])
    hk = open_store(str(hk_store))["hk_year.temp"]
    ha, hb = hk.span_ns
    make_frame([one], a, a + 60 * NS, WIDTH, BAND)  # warm-up (Datashader compiles)
    print(f"frames ({WIDTH} px wide, {BAND} px per band), median of 5, ms:")
    print(f"{'window':>10} {'1 LISA stream':>14} {'6 stacked':>10} {'irregular HK':>13}")
    for label, secs in (("1 min", 60), ("1 h", 3600), ("1 day", 86400), ("7 days", 7 * 86400),
                        ("whole", None)):
        t1 = b if secs is None else min(a + secs * NS, b)
        h1 = hb if secs is None else min(ha + secs * NS, hb)
        print(f"{label:>10} {frame_ms([one], a, t1):14.1f} "
              f"{frame_ms([st[x] for x in names[:6]], a, t1):10.1f} "
              f"{frame_ms([hk], ha, h1):13.1f}")
    t = time.perf_counter()
    freq, asd, used = spectra.read_asd(one, a, b)
    print(f"precomputed ASD over the whole stream ({used} hourly blocks, {len(freq)} "
          f"frequencies): {(time.perf_counter() - t) * 1e3:.1f} ms")
    t = time.perf_counter()
    vals, _ = one.read_raw(0, min(one.length, 2**21))
    spectra.welch_asd(vals[~np.isnan(vals)], one.sampling_rate, 2**16)
    print(f"on-the-fly Welch of 2^21 samples (~6 days at 4 Hz): "
          f"{(time.perf_counter() - t) * 1e3:.0f} ms")
    real_file(base)


def real_file(base: Path) -> None:
    """Print the ingest cost of the real lisainstrument file, per stream, against h5py."""
    import h5py

    from pipelines.mission.hdf5 import datasets

    t = time.perf_counter()
    with h5py.File(REAL_LISA, "r") as f:
        for p in datasets(f):
            f[p][()]
    read_s = time.perf_counter() - t
    store = base / "real-lisa.zarr"
    shutil.rmtree(store, ignore_errors=True)
    t = time.perf_counter()
    rep = ingest_mission(str(store), [str(REAL_LISA)])
    secs = time.perf_counter() - t
    assert not rep.issues, [i.line() for i in rep.issues]
    n = len(rep.streams)
    print(f"real lisainstrument 2.3.0 file ({REAL_LISA.name}, {rep.samples_written:,} samples "
          f"in {n} streams): h5py reads every dataset in {read_s * 1e3:.0f} ms; ingest "
          f"{secs:.2f} s = {secs / n * 1e3:.0f} ms per stream, {secs / read_s:.0f}x the h5py "
          "read")


if __name__ == "__main__":
    main()
