"""An analysis whose tasks run on Dask workers submitted as jobs to the real local Slurm
(.ci/slurm-up), configured as ingest is, giving the products of a local run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from analysis_archive import flat_inventory, write_archive
from usage_servers import slurm_up

from pipelines.analysis.engine import analyse
from pipelines.seismic.ingest import ingest_seismic
from pipelines.store import open_psd, open_store

REPO = Path(__file__).resolve().parents[1]
CHANNELS = ("XX.SLA.00.HHZ", "XX.SLB.00.HHZ")


def test_psd_runs_on_dask_workers_submitted_to_slurm(tmp_path):
    if shutil.which("sbatch") is None:
        pytest.fail("Slurm is not installed; `.ci/run` installs slurm-wlm and munge")
    slurm_up()
    sds = tmp_path / "sds"
    write_archive(sds, CHANNELS, rate=20.0, days=1)
    xml = flat_inventory(tmp_path / "flat.xml", CHANNELS, 20.0)
    stores = {}
    for name in ("local", "slurm"):
        stores[name] = str(tmp_path / f"{name}.zarr")
        ingest_seismic(stores[name], [str(sds)], [str(xml)])
    analyse(stores["local"], "psd")
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
job_name = "bv-analyse"
log_directory = "{logs}"
python = "{sys.executable}"
""")
    usage = tmp_path / "usage.zarr"
    r = subprocess.run([sys.executable, "-m", "belvedere", "analyse", "psd", "--store",
                        stores["slurm"], "--config", str(cfg)], capture_output=True, text=True,
                       timeout=300, cwd=REPO,
                       env={**__import__("os").environ, "PYTHONPATH": str(REPO),
                            "BELVEDERE_USAGE_STORE": str(usage)})
    assert r.returncode == 0, r.stderr + r.stdout
    assert "2 tasks computed" in r.stdout and "on slurm" in r.stdout
    text = "".join(p.read_text() for p in list(logs.glob("*.err")) + list(logs.glob("*.out")))
    assert "Start worker" in text or "Starting Worker" in text or "Registered to" in text
    for ch in CHANNELS:
        a = open_psd(open_store(stores["local"]), ch).read(0, 2**62)[2]
        b = open_psd(open_store(stores["slurm"]), ch).read(0, 2**62)[2]
        np.testing.assert_array_equal(a, b)
    from pipelines.usage.usage_store import UsageStore

    runs = UsageStore(str(usage)).runs()
    assert list(runs["infrastructure"]) == ["slurm"] and list(runs["kind"]) == ["analyse-psd"]
