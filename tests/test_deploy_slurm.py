"""Scale-out by configuration: the SLURMCluster job script generated from `[dask.slurm]`, and a
real ingest whose tasks run on Dask workers submitted as jobs to the local Slurm
(.ci/slurm-up), giving the same store as a local run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_sds
from usage_servers import slurm_up

from belvedere.config import load
from pipelines.ingest.clusters import ClusterError, kubernetes_kwargs, slurm_job_script, use_cluster

CFG = """
[dask]
cluster = "slurm"
workers = 1

[dask.slurm]
queue = "ci"
account = "geo"
cores = 2
processes = 1
memory = "3GiB"
walltime = "00:20:00"
job_name = "bv-ingest"
job_extra_directives = ["--constraint=skylake", "--qos=short"]
job_script_prologue = ["module load python/3.11", "source /opt/belvedere/venv/bin/activate"]
python = "/opt/belvedere/venv/bin/python"
local_directory = "/scratch/$USER"
"""


def test_slurm_job_script_from_the_configuration(tmp_path):
    cfg = tmp_path / "belvedere.toml"
    cfg.write_text(CFG)
    script = slurm_job_script(load(cfg, env={}).dask)
    lines = script.splitlines()
    for directive in ("#SBATCH -J bv-ingest", "#SBATCH -p ci", "#SBATCH -A geo",
                      "#SBATCH --cpus-per-task=2", "#SBATCH --mem=3G", "#SBATCH -t 00:20:00",
                      "#SBATCH --constraint=skylake", "#SBATCH --qos=short"):
        assert directive in lines, directive
    # the prologue runs before the worker, in order, after every #SBATCH line
    i_mod = lines.index("module load python/3.11")
    i_src = lines.index("source /opt/belvedere/venv/bin/activate")
    (i_worker,) = [i for i, x in enumerate(lines) if "distributed.cli.dask_worker" in x]
    last_sbatch = max(i for i, x in enumerate(lines) if x.startswith("#SBATCH"))
    assert last_sbatch < i_mod < i_src < i_worker
    worker = lines[i_worker]
    assert worker.startswith("/opt/belvedere/venv/bin/python -m distributed.cli.dask_worker tcp://")
    assert "--nthreads 2" in worker and "--memory-limit 3.00GiB" in worker
    assert "--local-directory /scratch/$USER" in worker


def test_environment_overrides_reach_the_job_script(tmp_path):
    cfg = tmp_path / "belvedere.toml"
    cfg.write_text(CFG)
    script = slurm_job_script(load(cfg, env={"BELVEDERE_DASK_SLURM_QUEUE": "long",
                                             "BELVEDERE_DASK_SLURM_MEMORY": "16GiB"}).dask)
    assert "#SBATCH -p long" in script and "#SBATCH --mem=16G" in script


def test_kubernetes_cluster_options_and_missing_package():
    s = load(None, env={"BELVEDERE_CONFIG": "/dev/null", "BELVEDERE_DASK_CLUSTER": "kubernetes",
                        "BELVEDERE_DASK_WORKERS": "5",
                        "BELVEDERE_DASK_KUBERNETES_IMAGE": "registry.example.org/belvedere:1",
                        "BELVEDERE_DASK_KUBERNETES_NAMESPACE": "obs"})
    kw = kubernetes_kwargs(s.dask)
    assert kw["n_workers"] == 5 and kw["image"] == "registry.example.org/belvedere:1"
    assert kw["namespace"] == "obs" and kw["resources"]["limits"]["memory"] == "4Gi"
    try:
        import dask_kubernetes  # noqa: F401
    except ImportError:
        with pytest.raises(ClusterError, match="pip install dask-kubernetes"):
            with use_cluster(s.dask):
                pass


def slurm_answers() -> bool:
    """Whether the local Slurm answers with a usable node."""
    if not shutil.which("sinfo"):
        return False
    r = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    return r.returncode == 0 and any(s.strip() in ("idle", "mix", "alloc")
                                     for s in r.stdout.split())


def test_ingest_runs_on_dask_workers_submitted_to_slurm(tmp_path):
    if shutil.which("sbatch") is None:
        pytest.fail("Slurm is not installed; `.ci/run` installs slurm-wlm and munge")
    slurm_up()  # starts the daemons when they are not running (.ci/slurm-up)
    assert slurm_answers(), "Slurm does not answer after .ci/slurm-up"
    from pipelines.store import open_store

    sds = tmp_path / "sds"
    truth = make_sds(sds, channels=("XX.SLM.00.HHZ", "XX.SLM.00.HHN", "XX.SLM.00.HHE"),
                     hours=2.0)
    logs = tmp_path / "slurm-logs"
    cfg = tmp_path / "belvedere.toml"
    cfg.write_text(f"""
[dask]
cluster = "slurm"
workers = 1

[dask.slurm]
queue = "ci"
cores = 2
memory = "2GiB"
walltime = "00:10:00"
job_name = "bv-test"
log_directory = "{logs}"
python = "{sys.executable}"
""")
    store = tmp_path / "slurm.zarr"
    r = subprocess.run([sys.executable, "-m", "belvedere", "ingest", "seismic", str(sds),
                        "--store", str(store), "--config", str(cfg)],
                       capture_output=True, text=True, timeout=240,
                       cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 0, r.stderr + r.stdout
    # the work really ran in a Slurm job: its worker log names the tasks it ran
    outs = list(logs.glob("*.err")) + list(logs.glob("*.out"))
    assert outs, "no Slurm job log: the worker never ran as a job"
    text = "".join(p.read_text() for p in outs)
    assert "Start worker" in text or "Starting Worker" in text or "Registered to" in text
    st = open_store(str(store))
    assert st.streams() == sorted(truth)
    for name, samples in truth.items():
        s = st[name]
        i0 = round(s.index_of(s.span_ns[0]))
        got, _ = s.read_raw(i0, i0 + len(samples))
        np.testing.assert_array_equal(got, samples)


def test_runner_submits_to_the_cluster_in_use(monkeypatch):
    from pipelines.ingest.runner import scheduler_address

    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    s = load(None, env={"BELVEDERE_CONFIG": "/dev/null", "BELVEDERE_DASK_CLUSTER": "scheduler",
                        "BELVEDERE_DASK_SCHEDULER": "tcp://10.1.2.3:8786"})
    with use_cluster(s.dask) as address:
        assert address == "tcp://10.1.2.3:8786"
        assert scheduler_address(None) == address
        assert scheduler_address("tcp://other:1") == "tcp://other:1"  # the option still wins
    assert scheduler_address(None) != "tcp://10.1.2.3:8786"
