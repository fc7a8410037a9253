"""The sacct path on jobs that really ran under a single-machine Slurm with accounting."""

from __future__ import annotations

import subprocess

import pandas as pd

from pipelines.usage.usage_store import UsageStore
from tests.conftest import run_cli


def _sacct_truth(ids: list[str]) -> dict[str, dict[str, str]]:
    """sacct's own allocation lines, with columns the parser does not read (ElapsedRaw)."""
    out = subprocess.run(["sacct", "-X", "-n", "-P", "--format=JobID,State,ElapsedRaw,"
                          "AllocCPUS,ExitCode,JobIDRaw", "-j", ",".join(ids)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    rows = {}
    for line in out.splitlines():
        jid, state, elapsed, cpus, code, raw = line.split("|")
        rows[jid] = {"state": state.split()[0], "elapsed": elapsed, "cpus": cpus,
                     "exit": code, "raw": raw}
    return rows


def test_run_sacct_ingests_the_jobs_that_ran(slurm_jobs, tmp_path):
    sj = slurm_jobs
    store = tmp_path / "u.zarr"
    start = pd.Timestamp(sj.submitted_ns - 120 * 10**9, unit="ns").strftime("%Y-%m-%dT%H:%M:%S")
    r = run_cli("ingest", "usage", "--store", str(store), "--infrastructure", "local-cluster",
                "--run-sacct", "--from", start, "--to", "now")
    assert r.returncode == 0, r.stderr
    print(r.stdout)
    jobs = UsageStore(str(store)).jobs().set_index("job_id")
    a = sj.array
    expected = {sj.single: "COMPLETED", sj.failing: "FAILED", f"{a}_1": "COMPLETED",
                f"{a}_2": "COMPLETED", f"{a}_3": "COMPLETED", sj.cancelled: "CANCELLED"}
    for jid, state in expected.items():
        assert jid in jobs.index, f"job {jid} missing from {list(jobs.index)}"
        assert jobs.loc[jid, "state"] == state
        assert jobs.loc[jid, "cluster"] == sj.cluster
        assert jobs.loc[jid, "infrastructure"] == "local-cluster"
    truth = _sacct_truth(sj.ids)
    for jid in expected:
        t = truth[jid]
        assert jobs.loc[jid, "state"] == t["state"]
        assert jobs.loc[jid, "elapsed_s"] == float(t["elapsed"])
        assert jobs.loc[jid, "ncpus"] == int(t["cpus"])
        assert jobs.loc[jid, "exit_code"] == t["exit"]
        assert jobs.loc[jid, "job_id_raw"] == int(t["raw"])
    # The array: three tasks of one array job, each with its own task id.
    tasks = jobs[jobs["array_job_id"] == int(a)]
    assert sorted(tasks["array_task_id"]) == [1, 2, 3]
    assert jobs.loc[sj.single, "array_job_id"] == -1
    # What really ran: the single job held 80 MiB (MaxRSS folded from its batch step) for
    # about 1.5 s; times are UTC and ordered.
    single = jobs.loc[sj.single]
    assert single["max_rss_bytes"] >= 80 * 2**20
    assert single["total_cpu_s"] > 0
    assert single["elapsed_s"] >= 1
    assert single["submit"] <= single["start"] < single["end"]
    assert abs(single["submit"].value - sj.submitted_ns) < 60 * 10**9
    assert jobs.loc[sj.failing, "exit_code"] == "3:0"
    assert jobs.loc[sj.cancelled, "elapsed_s"] >= 1  # it ran before it was cancelled
    # Again: the same jobs, nothing new.
    r = run_cli("ingest", "usage", "--store", str(store), "--infrastructure", "local-cluster",
                "--run-sacct", "--from", start, "--to", "now")
    assert r.returncode == 0 and "nothing changed" in r.stdout, r.stdout
    assert UsageStore(str(store)).n_jobs() == len(jobs)
