"""FDSN services of `belvedere serve`: figures.

    python tests/bench/bench_fdsn.py [--days 30] [--rate 100] [--dir /tmp/belvedere-fdsn] [--reuse]

Writes a 100 Hz channel as one real Steim2 SDS file per day (ObsPy), ingests it with the
real command line, starts `belvedere serve` and measures over loopback:
- dataselect of one channel-day (8.64e6 samples): seconds and Msamples/s, side by side with
  ObsPy reading the same SDS file and writing it as Steim2 (the baseline), and the ratio;
- dataselect of the whole month: seconds, Msamples/s and the server's peak RSS while it
  streams (sampled from /proc every 20 ms), against its RSS before;
- availability `query` and `extent` over a channel with 1e5 gaps (text and json);
- 20 concurrent dataselect clients (one hour each, 5 requests per client): p50/p95 latency
  and errors.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from obspy import Trace, UTCDateTime, read

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from browser import free_port, wait_until  # noqa: E402

from pipelines.store import open_store  # noqa: E402
from pipelines.timebase import NS  # noqa: E402

T0 = UTCDateTime(2024, 6, 1)


def sds_day(root: Path, day: int, rate: float) -> Path:
    """One SDS day file of XX.BIG.00.HHZ, a random walk written as Steim2 by ObsPy."""
    t = T0 + day * 86400
    n = int(86400 * rate)
    data = np.cumsum(np.random.default_rng(day).integers(-50, 51, n)).astype(np.int32)
    path = root / f"{t.year}/XX/BIG/HHZ.D/XX.BIG.00.HHZ.D.{t.year}.{t.julday:03d}"
    path.parent.mkdir(parents=True, exist_ok=True)
    Trace(data, header={"network": "XX", "station": "BIG", "location": "00", "channel": "HHZ",
                        "sampling_rate": rate, "starttime": t}).write(
        str(path), format="MSEED", encoding="STEIM2", reclen=4096)
    return path


def gappy_store(path: str, gaps: int) -> None:
    """A store with one channel of `gaps` gaps: 1 s of samples then 1 s missing, written
    through the store's writer; its segment list is the one an ingest would leave.
    (Ingesting 1e5 real gaps takes too long today: see the report.)"""
    from pipelines.store import Store

    store = Store(path, mode="a")
    rate, n_seg = 10.0, gaps + 1
    w = store.create_stream("XX.GAP.00.HHZ", rate, T0.ns, np.dtype("int32"), {
        "network": "XX", "station": "GAP", "location": "00", "channel": "HHZ"})
    w.write(int(round(w.index_of(T0.ns))), np.zeros(int(2 * n_seg * rate), dtype=np.int32))
    starts = T0.ns + np.arange(n_seg, dtype=np.int64) * 2 * NS
    w.segments = np.stack([starts, starts + NS], axis=1)
    w.commit()


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def fetch(url: str, keep_body: bool = False, chunk: int = 1 << 20
          ) -> tuple[float, int, bytes | None, int]:
    """(seconds, bytes, body when small, status) of a GET read to its end in chunks."""
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as r:
        keep = io.BytesIO() if keep_body else None
        n = 0
        while True:
            b = r.read(chunk)
            if not b:
                break
            n += len(b)
            if keep is not None:
                keep.write(b)
        return time.perf_counter() - t, n, keep.getvalue() if keep else None, r.status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--gaps", type=int, default=100_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/belvedere-fdsn"))
    ap.add_argument("--reuse", action="store_true", help="keep the data of an earlier run")
    args = ap.parse_args()
    skip_data = args.reuse and (args.dir / "big.zarr").exists()
    if not skip_data:
        shutil.rmtree(args.dir, ignore_errors=True)
    sds = args.dir / "sds"
    store = str(args.dir / "big.zarr")
    gap_store = str(args.dir / "gaps.zarr")
    if skip_data:
        files = sorted((sds / f"{T0.year}/XX/BIG/HHZ.D").iterdir())
    else:
        t = time.perf_counter()
        files = [sds_day(sds, d, args.rate) for d in range(args.days)]
        print(f"wrote {args.days} SDS day files in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "belvedere", "ingest", "seismic", str(sds),
                              "--store", store, "--workers", "2"], cwd=REPO,
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
        print(f"ingested in {time.perf_counter() - t:.1f} s")
        gappy_store(gap_store, args.gaps)
    n_month = open_store(store)["XX.BIG.00.HHZ"].n_samples
    args.days = len(files)

    # Baseline: ObsPy reads the day from SDS and writes it as Steim2 (same record length).
    day_file = files[min(1, len(files) - 1)]
    from pipelines.seismic.fdsn import dataselect as fdsn_ds
    from pipelines.seismic.fdsn.select import Selection

    d0 = T0 + 86400 * min(1, len(files) - 1)
    sel = Selection(("XX",), ("BIG",), ("00",), ("HHZ",), d0.ns, (d0 + 86400).ns)

    def obspy_day() -> float:
        t = time.perf_counter()
        st = read(str(day_file))
        st.write(io.BytesIO(), format="MSEED", encoding="STEIM2", reclen=4096)
        return time.perf_counter() - t

    def local_day() -> float:  # the query in this process, without HTTP
        t = time.perf_counter()
        sum(len(p) for p in fdsn_ds.miniseed_pieces(fdsn_ds.plan([open_store(store)], [sel],
                                                                 10**10)))
        return time.perf_counter() - t

    st = read(str(day_file))
    n_day = st[0].stats.npts

    port = free_port()
    log = open(args.dir / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "belvedere", "serve", "--port", str(port),
                             "--address", "127.0.0.1", "--store", store, "--store", gap_store],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "BELVEDERE_FDSN_MAX_SAMPLES": str(10**10)})
    url = f"http://127.0.0.1:{port}"
    try:
        def live() -> bool:
            with urllib.request.urlopen(url + "/liveness", timeout=2) as r:
                return r.status == 200
        wait_until(live, 120, "belvedere serve did not start")
        ds = f"{url}/fdsnws/dataselect/1/query?net=XX&sta=BIG&loc=00&cha=HHZ"
        day_url = f"{ds}&start={str(d0)[:-1]}&end={str(d0 + 86400)[:-1]}"
        fetch(day_url)  # warm: the first request opens the store
        # Interleaved, so that the three see the same load on a shared machine; the ratio
        # is the median of the per-round ratios.
        base_t, local_t, server_t = [], [], []
        for _ in range(5):
            base_t.append(obspy_day())
            local_t.append(local_day())
            sec, nbytes, _, _ = fetch(day_url)
            server_t.append(sec)
        baseline, in_process, server = map(statistics.median, (base_t, local_t, server_t))
        ratio = statistics.median(s / b for s, b in zip(server_t, base_t, strict=True))
        ratio_local = statistics.median(s / b for s, b in zip(local_t, base_t, strict=True))
        _, _, body, _ = fetch(day_url, keep_body=True)
        got = read(io.BytesIO(body))
        same = len(got) == 1 and np.array_equal(got[0].data, st[0].data)
        print(f"\ndataselect one channel-day ({n_day:,} samples, {nbytes / 1e6:.1f} MB):")
        print(f"  server (HTTP on loopback) {server:.3f} s = {n_day / server / 1e6:.1f} Ms/s")
        print(f"  ObsPy read SDS + write Steim2 {baseline:.3f} s = "
              f"{n_day / baseline / 1e6:.1f} Ms/s")
        print(f"  the same query in-process, no HTTP {in_process:.3f} s = "
              f"{n_day / in_process / 1e6:.1f} Ms/s ({ratio_local:.2f}x)")
        print(f"  ratio server / ObsPy = {ratio:.2f}x (target <= 1.0x); "
              f"samples identical to the SDS file: {same}")
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        rss0 = rss_kb(proc.pid)
        peak = [rss0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_kb(proc.pid))
                time.sleep(0.02)
        th = threading.Thread(target=sample)
        th.start()
        sec, nbytes, _, _ = fetch(f"{ds}&start={str(T0)[:-1]}"
                                  f"&end={str(T0 + 86400 * args.days)[:-1]}")
        done.set()
        th.join()
        print(f"\ndataselect whole stream ({n_month:,} samples, {args.days} days, "
              f"{nbytes / 1e6:.0f} MB): {sec:.2f} s = {n_month / sec / 1e6:.1f} Ms/s")
        print(f"  server RSS before {rss0 / 1e3:.0f} MB, peak while streaming "
              f"{peak[0] / 1e3:.0f} MB (+{(peak[0] - rss0) / 1e3:.0f} MB; the response is "
              f"{nbytes / 1e6:.0f} MB)")

        av = f"{url}/fdsnws/availability/1/"
        print(f"\navailability over a channel with {args.gaps:,} gaps:")
        for what, q in (("query text", "query?net=XX&sta=GAP"),
                        ("query json", "query?net=XX&sta=GAP&format=json"),
                        ("query mergegaps=1.5", "query?net=XX&sta=GAP&mergegaps=1.5"),
                        ("extent", "extent?net=XX&sta=GAP")):
            ts = []
            for _ in range(3):
                sec, nbytes, _, _ = fetch(av + q)
                ts.append(sec)
            print(f"  {what}: median {statistics.median(ts):.3f} s ({nbytes / 1e6:.1f} MB)"
                  " (target < 1 s)")

        hour = [f"{ds}&start={str(d0 + 3600 * h)[:-1]}&end={str(d0 + 3600 * (h + 1))[:-1]}"
                for h in range(24)]
        errors, lat = [], []

        def client(i: int) -> None:
            for k in range(5):
                try:
                    sec, nbytes, _, status = fetch(hour[(i + k) % 24])
                    lat.append(sec)
                    if status != 200 or nbytes == 0:
                        errors.append(status)
                except Exception as exc:
                    errors.append(repr(exc))
        t = time.perf_counter()
        with ThreadPoolExecutor(20) as pool:
            list(pool.map(client, range(20)))
        wall = time.perf_counter() - t
        lat.sort()
        print(f"\n20 concurrent dataselect clients x 5 requests of one hour "
              f"({int(3600 * args.rate):,} samples): p50 {lat[len(lat) // 2]:.3f} s, "
              f"p95 {lat[int(len(lat) * 0.95) - 1]:.3f} s, wall {wall:.1f} s, "
              f"errors {len(errors)} {errors[:3]}")
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


if __name__ == "__main__":
    main()
