"""Ingest that is interrupted (SIGKILL) and ingest on a real Dask cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from obspy import UTCDateTime

from pipelines.seismic.ingest import ingest_seismic
from pipelines.store import open_store
from tests.conftest import make_sds, run_cli
from tests.storeutil import assert_same_store

CHANNELS = tuple(f"XX.S{i}.00.HH{c}" for i in range(2) for c in "ZNE")


def _archive(tmp_path):
    root = tmp_path / "sds"
    make_sds(root, channels=CHANNELS, rate=20.0, hours=24 * 5, start=UTCDateTime(2024, 3, 1))
    return root


def test_sigkill_mid_ingest_then_rerun_completes(tmp_path):
    root = _archive(tmp_path)
    reference = str(tmp_path / "ref.zarr")
    ingest_seismic(reference, [str(root)])
    total = sum(s.n_samples for s in open_store(reference))
    store = str(tmp_path / "s.zarr")
    proc = subprocess.Popen([sys.executable, "-m", "belvedere", "ingest", "seismic", "--store",
                             store, str(root)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # Kill as soon as the first file of some stream is committed, mid-run.
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            if any(len(s.attrs.get("provenance", [])) >= 1 for s in open_store(store)):
                break
        except Exception:
            pass
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = open_store(store)  # the killed store opens
    done = sum(s.n_samples for s in partial)
    assert 0 < done < total, (done, total)
    for s in partial:  # what it shows is exactly what was committed, and it reads
        if s.span_ns:
            s.read_window(*s.span_ns)
    r = run_cli("ingest", "seismic", "--store", store, str(root))
    assert r.returncode == 0, r.stderr
    assert_same_store(reference, store)


def test_dask_cluster_ingest_matches_local(tmp_path, dask_cluster):
    root = _archive(tmp_path)
    local = str(tmp_path / "local.zarr")
    ingest_seismic(local, [str(root)], workers=2)
    remote = str(tmp_path / "dask.zarr")
    r = run_cli("ingest", "seismic", "--store", remote, str(root), "--scheduler", dask_cluster)
    assert r.returncode == 0, r.stderr
    assert_same_store(local, remote)
    # The scheduler also comes from the environment, as Dask users expect.
    env_store = str(tmp_path / "env.zarr")
    r = subprocess.run([sys.executable, "-m", "belvedere", "ingest", "seismic", "--store",
                        env_store, str(root)], capture_output=True, text=True,
                       env={**os.environ, "DASK_SCHEDULER_ADDRESS": dask_cluster})
    assert r.returncode == 0, r.stderr
    assert_same_store(local, env_store)
    r = run_cli("ingest", "seismic", "--store", str(tmp_path / "x.zarr"), str(root),
                "--scheduler", "tcp://127.0.0.1:9")
    assert r.returncode == 2 and "Dask scheduler" in r.stderr
