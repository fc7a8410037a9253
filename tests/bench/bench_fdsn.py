"""FDSN services of `belvedere serve`: figures.

    python tests/bench/bench_fdsn.py [--days 30] [--rate 100] [--rounds 7] [--huge-rate 400]
                                     [--ingest-gaps 10000] [--dir /tmp/belvedere-fdsn] [--reuse]

Writes a 100 Hz channel as one real Steim2 SDS file per day (ObsPy), ingests it with the
real command line, starts `belvedere serve` and measures over loopback:
- dataselect of one channel-day (8.64e6 samples): seconds and Msamples/s, side by side with
  ObsPy reading the same SDS file and writing it as Steim2 (the baseline), interleaved
  over `--rounds` rounds with the load average of each, and the median of the ratios;
- dataselect of the whole month, and of a month of a stream of 1e9 samples (`--huge-rate`
  Hz over the days, written through the store's writer): seconds, Msamples/s and the
  server's peak RSS while it streams (sampled from /proc every 20 ms), against its RSS
  before; the server runs with the default size limit, so the huge stream's whole span
  (beyond it) must be refused with 413 before any sample is read;
- availability `query` and `extent` over a channel with 1e5 gaps (text and json), its
  segment list stored as an array (layout 2) and, for comparison in the same run, as the
  JSON attribute version 1 stores hold;
- ingesting a real miniSEED file (ObsPy-written) with `--ingest-gaps` gaps;
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
import urllib.error
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
    """A store with two channels of `gaps` gaps each: 1 s of samples then 1 s missing,
    written through the store's writer (the segment list an ingest would leave; ingesting
    1e5 real gaps takes minutes: see `ingest_gaps`). XX.GAP keeps its list as layout 2 does
    (an array); XX.OLD as a version 1 store holds it (the JSON attribute)."""
    from pipelines.store import Store

    store = Store(path, mode="a")
    rate, n_seg = 10.0, gaps + 1
    for sta in ("GAP", "OLD"):
        w = store.create_stream(f"XX.{sta}.00.HHZ", rate, T0.ns, np.dtype("int32"), {
            "network": "XX", "station": sta, "location": "00", "channel": "HHZ"})
        w.write(int(round(w.index_of(T0.ns))), np.zeros(int(2 * n_seg * rate), dtype=np.int32))
        starts = T0.ns + np.arange(n_seg, dtype=np.int64) * 2 * NS
        w.segments = np.stack([starts, starts + NS], axis=1)
        w.commit()
    group = store.root["XX.OLD.00.HHZ"]
    attrs = dict(group.attrs)
    attrs["segments"] = w.segments.tolist()
    attrs["belvedere"] = {**attrs["belvedere"], "layout_version": 1}
    group.attrs.put(attrs)


def huge_stream(path: str, rate: float, days: int) -> int:
    """A store with one stream of `rate` Hz over `days` days (400 Hz over 29 days: 1e9
    samples), a random walk written day by day through the store's writer with its
    pyramid, as an ingest writes it; the number of samples."""
    from pipelines.store import Store

    store = Store(path, mode="a")
    w = store.create_stream("XX.HUGE.00.HHZ", rate, T0.ns, np.dtype("int32"), {
        "network": "XX", "station": "HUGE", "location": "00", "channel": "HHZ"})
    n_day = int(86400 * rate)
    last = 0
    for d in range(days):
        v = (last + np.cumsum(np.random.default_rng(d).integers(-50, 51, n_day))
             ).astype(np.int32)
        last = int(v[-1])
        i0 = int(round(w.index_of((T0 + 86400 * d).ns)))
        w.write(i0, v)
        w.update_pyramid(i0, i0 + n_day, values=v)
        w.commit()
    return n_day * days


def ingest_gaps(folder: Path, gaps: int) -> None:
    """Ingest one ObsPy-written Steim2 file of `gaps` gaps (10 samples at 10 Hz every 2 s)
    with the command line; prints the seconds."""
    from obspy import Stream

    path = folder / f"gaps{gaps}.mseed"
    rng = np.random.default_rng(0)
    Stream([Trace(np.cumsum(rng.integers(-50, 51, 10)).astype(np.int32), header={
        "network": "XX", "station": "ING", "location": "00", "channel": "HHZ",
        "sampling_rate": 10.0, "starttime": T0 + 2 * k}) for k in range(gaps + 1)]).write(
        str(path), format="MSEED", encoding="STEIM2", reclen=512)
    store = folder / f"ingest{gaps}.zarr"
    shutil.rmtree(store, ignore_errors=True)
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "belvedere", "ingest", "seismic", str(path),
                          "--store", str(store)], cwd=REPO, capture_output=True, text=True)
    sec = time.perf_counter() - t
    assert res.returncode == 0, res.stdout + res.stderr
    n = len(open_store(str(store))["XX.ING.00.HHZ"].segments)
    print(f"\ningest of one file with {gaps:,} gaps ({n:,} segments stored): {sec:.1f} s "
          f"(load {load0:.1f} -> {os.getloadavg()[0]:.1f})")


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
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds of the day")
    ap.add_argument("--huge-rate", type=float, default=400.0,
                    help="rate of the 1e9-sample stream (0: skip it)")
    ap.add_argument("--ingest-gaps", type=int, default=10_000, help="0: skip")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/belvedere-fdsn"))
    ap.add_argument("--reuse", action="store_true", help="keep the data of an earlier run")
    args = ap.parse_args()
    skip_data = args.reuse and (args.dir / "big.zarr").exists()
    if not skip_data:
        shutil.rmtree(args.dir, ignore_errors=True)
    sds = args.dir / "sds"
    store = str(args.dir / "big.zarr")
    gap_store = str(args.dir / "gaps.zarr")
    huge_store = str(args.dir / "huge.zarr")
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
    if not skip_data or not Path(gap_store).exists():
        shutil.rmtree(gap_store, ignore_errors=True)
        gappy_store(gap_store, args.gaps)
    if args.huge_rate and not (args.reuse and Path(huge_store).exists()):
        shutil.rmtree(huge_store, ignore_errors=True)
        t = time.perf_counter()
        n_huge = huge_stream(huge_store, args.huge_rate, args.days)
        print(f"wrote the {n_huge:,}-sample stream in {time.perf_counter() - t:.1f} s")
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
    stores = [store, gap_store] + ([huge_store] if args.huge_rate else [])
    env = {k: v for k, v in os.environ.items() if k != "BELVEDERE_FDSN_MAX_SAMPLES"}
    proc = subprocess.Popen([sys.executable, "-m", "belvedere", "serve", "--port", str(port),
                             "--address", "127.0.0.1",
                             *[a for s in stores for a in ("--store", s)]],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
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
        print(f"\ndataselect one channel-day, {args.rounds} interleaved rounds:")
        for r in range(args.rounds):
            load = os.getloadavg()[0]
            base_t.append(obspy_day())
            local_t.append(local_day())
            sec, nbytes, _, _ = fetch(day_url)
            server_t.append(sec)
            print(f"  round {r + 1}: load {load:4.1f}  ObsPy {base_t[-1]:.3f} s  "
                  f"in-process {local_t[-1]:.3f} s  served {sec:.3f} s  "
                  f"ratio {sec / base_t[-1]:.2f}x")
        baseline, in_process, server = map(statistics.median, (base_t, local_t, server_t))
        ratio = statistics.median(s / b for s, b in zip(server_t, base_t, strict=True))
        ratio_local = statistics.median(s / b for s, b in zip(local_t, base_t, strict=True))
        _, _, body, _ = fetch(day_url, keep_body=True)
        got = read(io.BytesIO(body))
        same = len(got) == 1 and np.array_equal(got[0].data, st[0].data)
        print(f"medians, one channel-day ({n_day:,} samples, {nbytes / 1e6:.1f} MB):")
        print(f"  server (HTTP on loopback) {server:.3f} s = {n_day / server / 1e6:.1f} Ms/s")
        print(f"  ObsPy read SDS + write Steim2 {baseline:.3f} s = "
              f"{n_day / baseline / 1e6:.1f} Ms/s")
        print(f"  the same query in-process, no HTTP {in_process:.3f} s = "
              f"{n_day / in_process / 1e6:.1f} Ms/s ({ratio_local:.2f}x)")
        print(f"  ratio server / ObsPy = {ratio:.2f}x, median of the rounds' ratios "
              f"(target <= 1.0x); samples identical to the SDS file: {same}")
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        def streamed(what: str, query: str, n: int) -> None:
            rss0 = rss_kb(proc.pid)
            peak = [rss0]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak[0] = max(peak[0], rss_kb(proc.pid))
                    time.sleep(0.02)
            th = threading.Thread(target=sample)
            th.start()
            load = os.getloadavg()[0]
            try:
                sec, nbytes, _, _ = fetch(query)
            finally:
                done.set()
                th.join()
            print(f"\ndataselect {what} ({n:,} samples, {nbytes / 1e6:.0f} MB): "
                  f"{sec:.2f} s = {n / sec / 1e6:.1f} Ms/s (load {load:.1f})")
            print(f"  server RSS before {rss0 / 1e3:.0f} MB, peak while streaming "
                  f"{peak[0] / 1e3:.0f} MB (+{(peak[0] - rss0) / 1e3:.0f} MB; the response is "
                  f"{nbytes / 1e6:.0f} MB)")

        streamed(f"whole stream, {args.days} days", f"{ds}&start={str(T0)[:-1]}"
                 f"&end={str(T0 + 86400 * args.days)[:-1]}", n_month)
        if args.huge_rate:
            huge = f"{url}/fdsnws/dataselect/1/query?net=XX&sta=HUGE&loc=00&cha=HHZ"
            n_huge = open_store(huge_store)["XX.HUGE.00.HHZ"].n_samples
            limit = 1_000_000_000  # the server's default max_samples
            days = min(args.days, int(limit // (86400 * args.huge_rate)))
            streamed(f"of the {n_huge:,}-sample stream, {days} days (under the default "
                     f"limit of {limit:,})", f"{huge}&start={str(T0)[:-1]}"
                     f"&end={str(T0 + 86400 * days)[:-1]}", int(days * 86400 * args.huge_rate))
            t = time.perf_counter()
            body = b""
            try:
                urllib.request.urlopen(huge, timeout=60)
                status = 200
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read()
            lines = body.decode().splitlines() + ["", ""]
            print(f"  its whole span ({n_huge:,} samples): HTTP {status} in "
                  f"{time.perf_counter() - t:.3f} s ({lines[0]}: {lines[2][:100]})")

        av = f"{url}/fdsnws/availability/1/"
        print(f"\navailability over a channel with {args.gaps:,} gaps:")
        for sta, layout in (("GAP", "segments as an array (layout 2)"),
                            ("OLD", "segments as the JSON attribute (version 1 stores)")):
            print(f"  {layout}, load {os.getloadavg()[0]:.1f}:")
            for what, q in (("query text", f"query?net=XX&sta={sta}"),
                            ("query json", f"query?net=XX&sta={sta}&format=json"),
                            ("query mergegaps=1.5", f"query?net=XX&sta={sta}&mergegaps=1.5"),
                            ("extent", f"extent?net=XX&sta={sta}")):
                ts = []
                for _ in range(3):
                    sec, nbytes, _, _ = fetch(av + q)
                    ts.append(sec)
                print(f"    {what}: median {statistics.median(ts):.3f} s "
                      f"({nbytes / 1e6:.1f} MB) (target < 1 s)")

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
    if args.ingest_gaps:
        ingest_gaps(args.dir, args.ingest_gaps)


if __name__ == "__main__":
    main()
