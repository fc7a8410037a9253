"""The usage store and the `ingest usage` / `export` command lines, without servers."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from pipelines.timebase import NS
from pipelines.usage.aggregate import job_metrics, running_and_pending, top_n, usage_over_time
from pipelines.usage.usage_store import UsageStore
from tests.conftest import make_sds, run_cli

HEADER = "JobID|JobIDRaw|Cluster|Partition|Account|User|Submit|Start|End|Elapsed|State|NCPUS|" \
         "AllocTRES|MaxRSS|TotalCPU|JobName"
PENDING = f"""{HEADER}
500|500|hpc|cpu|geo|ann|2024-03-05T10:00:00|Unknown|Unknown|00:00:00|PENDING|4||||job
501|501|hpc|cpu|geo|ben|2024-03-05T10:00:00|2024-03-05T10:00:00|2024-03-05T12:00:00|02:00:00|COMPLETED|2|cpu=2,gres/gpu=1||01:00:00|job
"""
DONE = f"""{HEADER}
500|500|hpc|cpu|geo|ann|2024-03-05T10:00:00|2024-03-05T11:00:00|2024-03-05T11:30:00|00:30:00|COMPLETED|4|cpu=4||01:00:00|job
500.batch|500.batch|hpc|||||2024-03-05T11:00:00|2024-03-05T11:30:00|00:30:00|COMPLETED|4||1G|01:00:00|batch
"""
BAD = f"""{HEADER}
600|600|hpc|cpu|geo|cy|2024-03-05T10:00:00|2024-03-05T10:00:00|yesterday|00:10:00|COMPLETED|1||||j
601|601|hpc|cpu|geo|cy|2024-03-05T10:00:00|2024-03-05T10:00:00|2024-03-05T10:10:00|00:10:00|TIMEOUT|1||||j
"""


def ts(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value)


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def tree_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def ingest(store: Path, *args: str, infra: str = "local-cluster"):
    return run_cli("ingest", "usage", "--store", str(store), "--infrastructure", infra,
                   "--timezone", "UTC", *args)


def test_reingest_is_idempotent_and_updates_progress(tmp_path):
    store = tmp_path / "u.zarr"
    pending, done = write(tmp_path, "a.txt", PENDING), write(tmp_path, "b.txt", DONE)
    r = ingest(store, "--sacct", pending)
    assert r.returncode == 0, r.stderr
    assert "2 added" in r.stdout
    before = tree_digest(store / "jobs")
    r = ingest(store, "--sacct", pending)
    assert r.returncode == 0 and "nothing changed" in r.stdout
    assert tree_digest(store / "jobs") == before  # not one jobs file rewritten
    # The pending job ran and ended: the same job, updated in place.
    r = ingest(store, "--sacct", done)
    assert r.returncode == 0 and "1 updated" in r.stdout
    jobs = UsageStore(str(store)).jobs().set_index("job_id")
    assert len(jobs) == 2
    assert jobs.loc["500", "state"] == "COMPLETED"
    assert jobs.loc["500", "max_rss_bytes"] == 1024**3  # from its batch step
    assert jobs.loc["500", "start"] == pd.Timestamp("2024-03-05T11:00:00")
    # The old pending record again: the ended one is further along and is kept.
    r = ingest(store, "--sacct", pending)
    assert r.returncode == 0 and "kept it" in r.stdout
    assert UsageStore(str(store)).jobs().set_index("job_id").loc["500", "state"] == "COMPLETED"
    runs = UsageStore(str(store)).runs()
    assert len(runs) == 4 and set(runs["kind"]) == {"usage"}
    assert (runs["seconds"] > 0).all() and (runs["peak_rss_bytes"] > 10 * 2**20).all()
    assert runs["samples_written"].tolist() == [2, 0, 1, 0]


def test_bad_lines_reported_good_ones_kept_and_stdin(tmp_path):
    store = tmp_path / "u.zarr"
    path = write(tmp_path, "bad.txt", BAD)
    r = ingest(store, "--sacct", path)
    assert r.returncode == 1
    assert f"{path}:2: cannot read time 'yesterday'" in r.stderr
    jobs = UsageStore(str(store)).jobs()
    assert jobs["job_id"].tolist() == ["601"] and jobs["state"].tolist() == ["TIMEOUT"]
    proc = subprocess.run([sys.executable, "-m", "belvedere", "ingest", "usage", "--store",
                           str(store), "--infrastructure", "grid", "--timezone", "UTC",
                           "--sacct", "-"], input=DONE, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    jobs = UsageStore(str(store)).jobs().set_index("job_id")
    assert jobs.loc["500", "infrastructure"] == "grid" and jobs.loc["500", "source"] == "stdin"


@pytest.mark.parametrize("args", [
    [],  # nothing to ingest
    ["--query", "a=up"],  # --query without --prometheus
    ["--prometheus", "http://127.0.0.1:9"],  # --prometheus without --query
    ["--sacct", "x", "--timezone", "Nowhere/Else"],
    ["--prometheus", "http://127.0.0.1:9", "--query", "a b=up"],  # bad name
    ["--prometheus", "http://127.0.0.1:9", "--query", "a=up", "--step", "0.5ms"],
    ["--prometheus", "http://127.0.0.1:9", "--query", "a=up", "--from", "now", "--to", "now-1h"],
    ["--prometheus", "http://127.0.0.1:9", "--query", "a=up"],  # nothing listens there
])
def test_usage_errors_exit_2_and_create_nothing(tmp_path, args):
    store = tmp_path / "u.zarr"
    r = run_cli("ingest", "usage", "--store", str(store), "--infrastructure", "x", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "error:" in r.stderr
    assert not store.exists()


def test_newer_layout_version_refused(tmp_path):
    store = tmp_path / "u.zarr"
    assert ingest(store, "--sacct", write(tmp_path, "a.txt", PENDING)).returncode == 0
    root = zarr.open_group(str(store), mode="a")
    meta = dict(root.attrs["belvedere"])
    root.attrs["belvedere"] = {**meta, "layout_version": 99}
    before = tree_digest(store)
    r = ingest(store, "--sacct", write(tmp_path, "b.txt", DONE))
    assert r.returncode == 2 and "layout version 99" in r.stderr and "newer" in r.stderr
    r = run_cli("export", "--store", str(store), "jobs", "--format", "csv", "-o",
                str(tmp_path / "j.csv"))
    assert r.returncode == 1 and "layout version 99" in r.stderr
    assert tree_digest(store) == before


def test_usage_refuses_a_seismic_store(tmp_path):
    from pipelines.store import Store

    Store(str(tmp_path / "s.zarr"), mode="a")
    r = ingest(tmp_path / "s.zarr", "--sacct", write(tmp_path, "a.txt", PENDING))
    assert r.returncode == 2 and "not a usage store" in r.stderr


def test_export_jobs_csv_and_parquet(tmp_path):
    store = tmp_path / "u.zarr"
    ingest(store, "--sacct", write(tmp_path, "a.txt", PENDING))
    ingest(store, "--sacct", write(tmp_path, "b.txt", DONE))
    stored = UsageStore(str(store)).jobs()
    out = tmp_path / "jobs.parquet"
    r = run_cli("export", "--store", str(store), "jobs", "--format", "parquet", "-o", str(out))
    assert r.returncode == 0, r.stderr
    back = pd.read_parquet(out)
    assert back["job_id"].tolist() == stored["job_id"].tolist()
    assert back["end"].dt.tz_convert(None).tolist() == stored["end"].tolist()
    assert back["ngpus"].tolist() == [0, 1]
    out = tmp_path / "jobs.csv"
    r = run_cli("export", "--store", str(store), "jobs", "--format", "csv", "-o", str(out))
    assert r.returncode == 0, r.stderr
    csv = pd.read_csv(out, dtype={"job_id": str})
    assert csv.set_index("job_id").loc["500", "end"] == "2024-03-05T11:30:00.000000Z"
    assert csv.set_index("job_id").loc["501", "total_cpu_s"] == 3600
    r = run_cli("export", "--store", str(store), "jobs", "--format", "mseed", "-o", str(out))
    assert r.returncode == 2
    r = run_cli("info", str(store), "--json")
    assert r.returncode == 0, r.stderr
    desc = json.loads(r.stdout)
    assert desc["kind"] == "usage" and desc["jobs"]["rows"] == 2 and desc["runs"] == 2
    assert desc["jobs"]["states"] == {"COMPLETED": 2}
    r = run_cli("export", "--store", str(store), "nosuch", "--format", "csv", "-o", str(out))
    assert r.returncode == 1 and "no metric 'nosuch'" in r.stderr


def test_metric_merges_append_overlap_backfill(tmp_path):
    st = UsageStore(str(tmp_path / "u.zarr"), mode="a")
    t = np.arange(10, dtype=np.int64) * 30 * NS + ts("2024-03-05")
    a = {"name": 'cpu{instance="a"}', "labels": {"instance": "a"}}
    b = {"name": 'cpu{instance="b"}', "labels": {"instance": "b"}}
    v = np.arange(20, dtype=float).reshape(2, 10)
    v[1, 3] = np.nan
    assert st.write_metric("cpu", t, [a, b], v) == 19
    assert st.write_metric("cpu", t, [a, b], v) == 0  # idempotent
    # Append later times; a third series appears.
    c = {"name": 'cpu{instance="c"}', "labels": {"instance": "c"}}
    t2 = t + 10 * 30 * NS
    assert st.write_metric("cpu", t2, [c, a], np.ones((2, 10))) == 20
    # Overlap: one changed value; a NaN in the input never erases a stored sample.
    v3 = v.copy()
    v3[0, 0] = -1.0
    v3[0, 5] = np.nan
    assert st.write_metric("cpu", t, [a, b], v3) == 1
    # Overlap the end and run past it (the usual re-query): merged in place, no rewrite.
    t4 = t2[5:] + 5 * 30 * NS - 5 * 30 * NS
    t4 = np.concatenate([t4, t2[-1] + np.arange(1, 6) * 30 * NS])
    inode = os.stat(tmp_path / "u.zarr/metrics/cpu").st_ino
    assert st.write_metric("cpu", t4, [c], np.full((1, 10), 2.0)) == 10
    assert os.stat(tmp_path / "u.zarr/metrics/cpu").st_ino == inode  # not swapped
    t2 = np.concatenate([t2, t4[5:]])
    # Backfill before the first time: a rewrite of the metric, swapped in whole.
    t0 = t - 10 * 30 * NS
    assert st.write_metric("cpu", t0, [b], np.full((1, 10), 7.0)) == 10
    assert os.stat(tmp_path / "u.zarr/metrics/cpu").st_ino != inode  # rewritten, swapped in
    m = UsageStore(str(tmp_path / "u.zarr")).metric("cpu")
    assert [s["name"] for s in m.series] == [a["name"], b["name"], c["name"]]
    assert np.array_equal(m.times(), np.concatenate([t0, t, t2]))
    vals = m.values()
    assert vals.shape == (3, 35)
    assert vals[0, 10] == -1.0 and vals[0, 15] == 5.0 and np.isnan(vals[0, 0])
    assert np.isnan(vals[1, 13]) and vals[1, 12] == 12.0 and (vals[1, :10] == 7.0).all()
    assert (vals[2, 20:25] == 1.0).all() and (vals[2, 25:] == 2.0).all()
    assert np.isnan(vals[2, :20]).all() and np.isnan(vals[0, 30:]).all()
    assert m.values(t[2], t[4]).shape == (3, 2)
    assert not any(n.endswith((".tmp", ".old")) for n in os.listdir(tmp_path / "u.zarr/metrics"))
    out = tmp_path / "cpu.csv"
    r = run_cli("export", "--store", str(tmp_path / "u.zarr"), "cpu", "--format", "csv",
                "-o", str(out), "--from", "2024-03-05T00:00:00", "--to", "2024-03-05T00:02:00")
    assert r.returncode == 0, r.stderr
    csv = pd.read_csv(out)
    assert list(csv.columns) == ["time_utc", a["name"], b["name"], c["name"]]
    assert csv["time_utc"].tolist()[:2] == ["2024-03-05T00:00:00.000000Z",
                                            "2024-03-05T00:00:30.000000Z"]
    assert csv[a["name"]].tolist() == [-1.0, 1.0, 2.0, 3.0]


def test_aggregates_for_views(tmp_path):
    store = tmp_path / "u.zarr"
    ingest(store, "--sacct", write(tmp_path, "a.txt", PENDING))
    ingest(store, "--sacct", write(tmp_path, "b.txt", DONE))
    jobs = UsageStore(str(store)).jobs()
    hours = usage_over_time(jobs, ts("2024-03-05T09:00"), ts("2024-03-05T13:00"), 3600 * NS,
                            by="user")
    # ann: 4 CPUs for 30 min in the 11:00 hour; ben: 2 CPUs from 10:00 to 12:00.
    assert hours.loc["2024-03-05 11:00", "ann"] == pytest.approx(2.0)
    assert hours["ben"].tolist() == pytest.approx([0, 2, 2, 0])
    gpu = usage_over_time(jobs, ts("2024-03-05T09:00"), ts("2024-03-05T13:00"), 3600 * NS,
                          what="gpu")
    assert gpu["gpu_hours"].sum() == pytest.approx(2.0)
    rp = running_and_pending(jobs, ts("2024-03-05T09:30"), ts("2024-03-05T12:30"), 3600 * NS)
    assert rp["running"].tolist() == [0, 1, 1] and rp["pending"].tolist() == [0, 1, 0]
    m = job_metrics(jobs).set_index(jobs["job_id"])
    assert m.loc["500", "wait_s"] == 3600 and m.loc["500", "efficiency"] == pytest.approx(0.5)
    top = top_n(jobs, "user")
    assert top.index.tolist() == ["ben", "ann"] and top["jobs"].tolist() == [1, 1]


def test_seismic_ingest_cost_recorded(tmp_path):
    make_sds(tmp_path / "sds", channels=("XX.TST.00.HHZ",), hours=0.5)
    env = {**os.environ, "BELVEDERE_USAGE_STORE": str(tmp_path / "u.zarr"),
           "BELVEDERE_INFRASTRUCTURE": "laptop"}
    r = subprocess.run([sys.executable, "-m", "belvedere", "ingest", "seismic", "--store",
                        str(tmp_path / "s.zarr"), str(tmp_path / "sds")], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    runs = UsageStore(str(tmp_path / "u.zarr")).runs()
    (run,) = runs.to_dict("records")
    assert run["kind"] == "seismic" and run["infrastructure"] == "laptop"
    assert run["samples_written"] == 36000 and run["bytes_written"] > 0
    assert run["cpu_seconds"] > 0 and run["peak_rss_bytes"] > 10 * 2**20
