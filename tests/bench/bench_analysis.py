"""Analysis benchmark: prints figures as ratios against baselines measured in the same run.

    python tests/bench/bench_analysis.py [--channels 3] [--days 2] [--rate 100] [--dir /tmp/ba]
                                         [--no-slurm] [--analysis psd]

1. psd over one channel-day at 100 Hz: our `psd.compute` as a ratio to ObsPy's `PPSD.add` on
   the same day with the same response and period grid (target <= 0.5), and their largest
   difference in dB (must stay < 1).
2. The same analysis over the same archive (`--channels` x `--days` at `--rate`) on local
   threads (1 and 2), a Dask LocalCluster of 2 worker processes, and Slurm through
   dask-jobqueue (one job of 2 cores, the machine's real Slurm: .ci/slurm-up): wall time,
   channel-days per core-hour, start-up (cluster until workers are ready) and the overhead
   (cores x wall - task seconds: scheduling, data movement, writing, idle cores).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from obspy import Stream, Trace, UTCDateTime

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from analysis_archive import flat_inventory  # noqa: E402
from conftest import sds_path  # noqa: E402

from pipelines.analysis import psd  # noqa: E402
from pipelines.analysis.base import DayInput  # noqa: E402
from pipelines.analysis.engine import analyse  # noqa: E402
from pipelines.seismic.ingest import ingest_seismic  # noqa: E402

DAY0 = UTCDateTime(2024, 3, 4)


def noise(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Counts with a microseism peak and white noise (int32)."""
    from scipy.signal import butter, sosfilt

    sos = butter(2, [0.1, 0.4], btype="band", fs=rate, output="sos")
    x = sosfilt(sos, rng.standard_normal(n)) * 3000 + rng.standard_normal(n) * 30
    return np.round(x).astype(np.int32)


def bench_day(rate: float, repeat: int) -> None:
    from obspy.signal import PPSD

    from pipelines.seismic.stationxml import read

    tmp = Path("/tmp/bench-analysis-day")
    tmp.mkdir(exist_ok=True)
    ch = "XX.BEN.00.HHZ"
    inv = read(str(flat_inventory(tmp / "inv.xml", [ch], rate)))
    data = noise(int(86400 * rate), rate, np.random.default_rng(0))
    tr = Trace(data, header={"network": "XX", "station": "BEN", "location": "00",
                             "channel": "HHZ", "sampling_rate": rate, "starttime": DAY0})
    _, periods = psd.period_grid(rate)
    resp = psd.response_curve(inv.get_response(ch, DAY0), rate)
    t_obspy, t_ours, c_obspy, c_ours = [], [], [], []
    for _ in range(repeat):  # interleaved: both see the same load
        pp = PPSD(tr.stats, inv, skip_on_gaps=True, period_limits=(periods[0], periods[-1]))
        t, c = time.perf_counter(), time.thread_time()
        pp.add(Stream([tr.copy()]))
        t_obspy.append(time.perf_counter() - t)
        c_obspy.append(time.thread_time() - c)
        day = DayInput(ch, DAY0.ns, DAY0.ns, rate, data.astype(np.float64),
                       np.ones(len(data), bool), {"response": resp})
        t, c = time.perf_counter(), time.thread_time()
        ours = psd.compute(day, {})
        t_ours.append(time.perf_counter() - t)
        c_ours.append(time.thread_time() - c)
    ref = np.array(pp._binned_psds)[:, :len(periods)]
    diff = np.nanmax(np.abs(ours[:len(ref)] - ref))
    a, b = min(t_obspy), min(t_ours)
    print(f"psd, one channel-day at {rate:g} Hz ({len(ref)} hourly PSDs), best of {repeat}:")
    print(f"  ObsPy PPSD.add {a:.3f} s, ours {b:.3f} s: ratio {b / a:.2f} (target <= 0.5); "
          f"largest difference {diff:.4f} dB")
    ca, cb = min(c_obspy), min(c_ours)
    ratios = sorted(o / r for o, r in zip(t_ours, t_obspy, strict=True))
    print(f"  CPU time (this thread): ObsPy {ca:.3f} s, ours {cb:.3f} s: ratio {cb / ca:.2f}; "
          f"wall ratios of the {repeat} interleaved pairs {min(ratios):.2f}-{max(ratios):.2f}"
          f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def build_archive(root: Path, channels: int, days: int, rate: float) -> str:
    sds = root / "sds"
    names = [f"XX.S{k:02d}.00.HHZ" for k in range(channels)]
    rng = np.random.default_rng(1)
    for name in names:
        net, sta, loc, cha = name.split(".")
        for d in range(days):
            day = DAY0 + d * 86400
            tr = Trace(noise(int(86400 * rate), rate, rng), header={
                "network": net, "station": sta, "location": loc, "channel": cha,
                "sampling_rate": rate, "starttime": day})
            p = sds_path(sds, net, sta, loc, cha, day)
            p.parent.mkdir(parents=True, exist_ok=True)
            Stream([tr]).write(str(p), format="MSEED", encoding="STEIM2", reclen=4096)
    store = str(root / "archive.zarr")
    ingest_seismic(store, [str(sds)], [str(flat_inventory(root / "inv.xml", names, rate))],
                   workers=2)
    return store


def run_on(label: str, store: str, analysis: str, cores: int, startup: float, **kw) -> None:
    shutil.rmtree(Path(store) / "_products", ignore_errors=True)
    t = time.perf_counter()
    rep = analyse(store, analysis, **kw)
    wall = time.perf_counter() - t
    busy = rep.task_seconds
    over = cores * wall - busy
    print(f"  {label:<34} wall {wall:7.2f} s  {rep.channel_days / (wall * cores / 3600):8.0f} "
          f"ch-days/core-h  start-up {startup:5.1f} s  tasks {busy:6.2f} s  overhead "
          f"{over:6.2f} core-s ({100 * over / max(cores * wall, 1e-9):.0f} %)")


def bench_archive(args) -> None:
    root = Path(args.dir)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    t = time.perf_counter()
    store = build_archive(root, args.channels, args.days, args.rate)
    n = args.channels * args.days
    print(f"\n{args.analysis} over {n} channel-days at {args.rate:g} Hz "
          f"(archive built and ingested in {time.perf_counter() - t:.1f} s):")
    run_on("local, 1 thread", store, args.analysis, 1, 0.0)
    run_on("local, 2 threads", store, args.analysis, 2, 0.0, workers=2)
    from distributed import LocalCluster

    t = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        from distributed import Client

        with Client(cluster) as c:
            c.wait_for_workers(2)
            c.run(lambda: __import__("pipelines.analysis.engine"))
        startup = time.perf_counter() - t
        run_on("Dask LocalCluster, 2 processes", store, args.analysis, 2, startup,
               scheduler=cluster.scheduler_address)
    if args.no_slurm:
        return
    from usage_servers import slurm_up

    from pipelines.ingest.cluster_settings import DaskSettings, SlurmSettings
    from pipelines.ingest.clusters import slurm_cluster

    slurm_up()
    settings = DaskSettings(cluster="slurm", workers=1,
                            slurm=SlurmSettings(queue="ci", cores=2, processes=2,
                                                memory="3GiB", walltime="00:30:00",
                                                job_name="bv-bench",
                                                log_directory=str(Path(args.dir) / "slurm"),
                                                job_script_prologue=[f"export PYTHONPATH={REPO}"]))
    t = time.perf_counter()
    cluster = slurm_cluster(settings)
    try:
        cluster.scale(jobs=1)
        from distributed import Client

        with Client(cluster) as c:
            c.wait_for_workers(2, timeout=180)
        startup = time.perf_counter() - t
        run_on("Slurm (dask-jobqueue), 1 job x 2", store, args.analysis, 2, startup,
               scheduler=cluster.scheduler_address)
    finally:
        cluster.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--analysis", default="psd", choices=["psd", "rsam", "detect"])
    ap.add_argument("--dir", default="/tmp/bench-analysis")
    ap.add_argument("--no-slurm", action="store_true")
    args = ap.parse_args()
    bench_day(100.0, args.repeat)
    bench_archive(args)


if __name__ == "__main__":
    main()
