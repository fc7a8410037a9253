"""The analysis engine: identical results on 1, 2 workers and a real Dask cluster, incremental
reruns, a day changed by a later ingest recomputed alone, interrupted runs and killed workers
resumed to identical results, detections in the catalogue's form, runs recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from analysis_archive import DAY0, flat_inventory, write_archive
from browser import free_port, wait_until

from pipelines.analysis.engine import analyse
from pipelines.seismic.ingest import ingest_seismic
from pipelines.store import detection_counts, detections, open_psd, open_series, open_store
from pipelines.store.products import open_product, open_table

REPO = Path(__file__).resolve().parents[1]
CHANNELS = ("XX.AAA.00.HHZ", "XX.BBB.00.HHZ", "XX.CCC.00.HHZ")
DAY = 86400 * 10**9


def build(tmp_path: Path, name: str = "a.zarr", days: int = 2, only_day=None) -> str:
    sds = tmp_path / "sds"
    write_archive(sds, CHANNELS, rate=20.0, days=days, only_day=only_day)
    xml = flat_inventory(tmp_path / "flat.xml", CHANNELS, 20.0)
    store = str(tmp_path / name)
    rep = ingest_seismic(store, [str(sds)], [str(xml)])
    assert not rep.issues, rep.issues
    return store


def products(store_url: str) -> dict:
    """Every value the analyses stored, keyed by what it is (layout-independent)."""
    st = open_store(store_url)
    out = {}
    for name in CHANNELS:
        p = open_psd(st, name)
        if p is not None:
            out[f"psd {name}"] = p.read(DAY0.ns - DAY, DAY0.ns + 4 * DAY)[2]
        for series in ("0.5-2Hz_60s_rms", "2-8Hz_600s_mean_abs"):
            s = open_series(st, name, "rsam", series)
            if s is not None:
                out[f"rsam {name} {series}"] = s.read_segments()
        t = open_table(st, name, "detect")
        if t is not None:
            out[f"detect {name}"] = t.read()
    net = open_table(st, "_network", "detect")
    if net is not None:
        out["network"] = net.read()
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, dict):
            for c in x:
                np.testing.assert_array_equal(np.asarray(x[c]), np.asarray(y[c]), err_msg=k)
        elif isinstance(x, list):
            assert len(x) == len(y), k
            for (t1, v1), (t2, v2) in zip(x, y, strict=True):
                assert t1 == t2, k
                np.testing.assert_array_equal(v1, v2, err_msg=k)
        else:
            np.testing.assert_array_equal(x, y, err_msg=k)


def run_all(store: str, **kw) -> dict:
    return {a: analyse(store, a, **kw) for a in ("psd", "rsam", "detect")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    store = build(tmp)
    reps = run_all(store)
    return tmp, store, reps, products(store)


def test_one_and_two_workers_give_identical_products(reference, tmp_path):
    _, _, reps, ref = reference
    assert reps["psd"].tasks == 6 and reps["rsam"].tasks == 6 and reps["detect"].tasks == 6
    assert all(r.samples_read > 0 and not r.issues for r in reps.values())
    store = build(tmp_path)
    run_all(store, workers=2)
    assert_same(ref, products(store))


def test_detections_are_catalogue_events_with_a_network_coincidence(reference):
    _, store, reps, _ = reference
    evs = detections(open_store(store))
    # the archive has a burst on every station at 05:00 on day 0 and 01:00 on day 1
    times = [e["time_ns"] for e in evs if e["coincidence"] == 3]
    for burst in (DAY0.ns + 5 * 3600 * 10**9, DAY0.ns + DAY + 3600 * 10**9):
        assert any(abs(t - burst) < 3 * 10**9 for t in times), (burst, times)
    ev = next(e for e in evs if e["coincidence"] == 3)
    assert {"id", "time_ns", "picks"} <= ev.keys()
    assert {p["stream"] for p in ev["picks"]} == set(CHANNELS)
    counts = detection_counts(open_store(store), DAY0.ns, DAY0.ns + 2 * DAY, 48)
    assert counts.sum() == len(evs) and counts[5] >= 1


def test_rsam_series_have_pyramids_and_cover_the_days(reference):
    _, store, _, _ = reference
    s = open_series(open_store(store), CHANNELS[0], "rsam", "2-8Hz_60s_rms")
    assert s.sampling_rate == pytest.approx(1 / 60)
    assert s.span_ns == (DAY0.ns, DAY0.ns + 2 * DAY)
    w = s.read_window(DAY0.ns, DAY0.ns + 2 * DAY, max_points=100)
    assert w.level >= 1 and np.nanmax(w.hi) > 2 * np.nanmedian(w.lo)  # the 4 Hz bursts stand out


def test_a_second_run_computes_nothing(reference):
    _, store, _, ref = reference
    reps = run_all(store)
    assert all(r.tasks == 0 and r.skipped == 6 for r in reps.values())
    assert_same(ref, products(store))


def test_a_day_changed_by_a_later_ingest_is_recomputed_alone(tmp_path):
    # one channel's day 1 first arrives with an hour missing at noon; the whole file later
    sds = tmp_path / "sds"
    write_archive(sds, CHANNELS, rate=20.0, days=3, gaps=[(CHANNELS[0], 86400 + 12 * 3600, 3600)])
    xml = flat_inventory(tmp_path / "flat.xml", CHANNELS, 20.0)
    store = str(tmp_path / "late.zarr")
    ingest_seismic(store, [str(sds)], [str(xml)])
    first = {a: analyse(store, a) for a in ("psd", "rsam", "detect")}
    assert all(r.tasks == 9 for r in first.values())
    before = open_psd(open_store(store), CHANNELS[0]).computed
    full = tmp_path / "full"
    write_archive(full, CHANNELS[:1], rate=20.0, days=3, only_day=1)
    rep = ingest_seismic(store, [str(full)])
    assert rep.samples_written == 3600 * 20
    for a in ("psd", "rsam", "detect"):
        again = analyse(store, a)
        assert again.tasks == 1 and again.skipped == 8, (a, again)
    after = open_psd(open_store(store), CHANNELS[0]).computed
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"2024-03-05"}
    # and the hours filled in now have their PSDs
    day1 = DAY0.ns + DAY
    _, _, db, _ = open_psd(open_store(store), CHANNELS[0]).read(day1, day1 + DAY)
    assert np.isfinite(db[22:26]).all()


def test_runs_on_a_real_dask_cluster_give_identical_products(reference, dask_cluster, tmp_path):
    _, _, _, ref = reference
    store = build(tmp_path)
    reps = run_all(store, scheduler=dask_cluster)
    assert all(r.tasks == 6 for r in reps.values())
    assert_same(ref, products(store))


def _cli(*args: str, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "belvedere", "analyse", *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def _days_done(store: str, stream: str) -> int:
    try:
        p = open_product(open_store(store), stream, "psd")
    except Exception:
        return 0
    return 0 if p is None else len(p.computed)


def test_a_killed_run_resumes_to_identical_products(reference, tmp_path):
    _, _, _, ref = reference
    store = build(tmp_path)
    proc = _cli("psd", "--store", store)
    wait_until(lambda: sum(_days_done(store, c) for c in CHANNELS) >= 1, 120,
               "the run never recorded a day", interval=0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done = sum(_days_done(store, c) for c in CHANNELS)
    rep = analyse(store, "psd")
    assert rep.tasks == 6 - done and rep.skipped == done
    got = products(store)
    assert_same({k: v for k, v in ref.items() if k.startswith("psd")}, got)


def test_a_killed_dask_worker_does_not_change_the_products(reference, tmp_path):
    _, _, _, ref = reference
    store = build(tmp_path)
    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    logs = tmp_path / "logs"
    logs.mkdir()
    sched = subprocess.Popen(["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                              "--dashboard-address", ":0", "--no-show"], env=env,
                             stdout=open(logs / "s.log", "w"), stderr=subprocess.STDOUT)
    workers = [subprocess.Popen(["dask", "worker", addr, "--nthreads", "1", "--nworkers", "1",
                                 "--dashboard-address", ":0", "--local-directory",
                                 str(logs / f"w{i}")], env=env,
                                stdout=open(logs / f"w{i}.log", "w"), stderr=subprocess.STDOUT)
               for i in range(2)]
    try:
        from distributed import Client

        def ready() -> bool:
            with Client(addr, timeout="2s") as c:
                return len(c.scheduler_info()["workers"]) >= 2

        wait_until(ready, 60, "dask workers did not start", interval=0.5)
        proc = _cli("psd", "--store", store, "--scheduler", addr)
        wait_until(lambda: sum(_days_done(store, c) for c in CHANNELS) >= 1, 120,
                   "the run never recorded a day", interval=0.05)
        killed_at = sum(_days_done(store, c) for c in CHANNELS)
        workers[0].send_signal(signal.SIGKILL)
        out, errs = proc.communicate(timeout=240)
        assert proc.returncode == 0, errs + out
        assert killed_at < 6, "the run ended before the worker was killed"
        assert "6 tasks computed" in out
        assert_same({k: v for k, v in ref.items() if k.startswith("psd")}, products(store))
    finally:
        for p in [*workers, sched]:
            if p.poll() is None:
                p.terminate()
        for p in [*workers, sched]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_the_cli_prints_a_summary_and_records_the_run(reference, tmp_path):
    from pipelines.usage.usage_store import UsageStore

    store = build(tmp_path)
    usage = str(tmp_path / "usage.zarr")
    proc = _cli("rsam", "--store", store, "--workers", "2",
                env={"BELVEDERE_USAGE_STORE": usage})
    out, errs = proc.communicate(timeout=240)
    assert proc.returncode == 0, errs
    assert "6 tasks computed" in out and "samples read" in out and "local-threads-2" in out
    runs = UsageStore(usage).runs()
    assert list(runs["kind"]) == ["analyse-rsam"]
    assert list(runs["infrastructure"]) == ["local-threads-2"]
    assert runs["seconds"].iloc[0] > 0 and runs["cpu_seconds"].iloc[0] > 0
    bad = _cli("psd", "--store", store, "--param", "nope=1")
    _, errs = bad.communicate(timeout=120)
    assert bad.returncode == 2 and "no parameter 'nope'" in errs


def test_results_do_not_depend_on_where_the_day_ends(reference, tmp_path):
    """The same samples ingested one day at a time give the same products as all at once."""
    _, _, _, ref = reference
    store = build(tmp_path, only_day=0)
    run_all(store)
    sds = tmp_path / "sds2"
    write_archive(sds, CHANNELS, rate=20.0, days=2, only_day=1)
    ingest_seismic(store, [str(sds)])
    run_all(store)
    assert_same(ref, products(store))
