"""Real servers for the usage tests: Prometheus + node exporter on loopback, a one-node Slurm.

Registered as session fixtures by tests/conftest.py. Nothing here is mocked: Prometheus and
the node exporter are Debian's binaries on free loopback ports (1 s scrape interval, a
temporary TSDB), and Slurm is the machine's own single-node cluster brought up by
`.ci/slurm-up` (idempotent; `.ci/run` runs it before pytest).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prom_get(url: str, path: str, **params: str) -> dict:
    """GET Prometheus' HTTP API and return its JSON answer (errors included, not raised)."""
    full = f"{url}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(full, timeout=20) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


@dataclass
class PrometheusServer:
    """A running Prometheus scraping a running node exporter every second."""

    url: str
    exporter_url: str
    started_ns: int
    logs: Path


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory) -> PrometheusServer:
    """Start `prometheus-node-exporter` and `prometheus` on loopback; wait for real samples."""
    for exe in ("prometheus", "prometheus-node-exporter"):
        if shutil.which(exe) is None:
            pytest.fail(f"{exe} is not installed; `.ci/run` installs it "
                        "(apt-get install prometheus prometheus-node-exporter)")
    base = tmp_path_factory.mktemp("prometheus")
    ne_port, prom_port = _free_port(), _free_port()
    (base / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: node\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{ne_port}']\n")
    procs = [
        subprocess.Popen(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{ne_port}"],
                         stdout=open(base / "node-exporter.log", "w"),
                         stderr=subprocess.STDOUT),
        subprocess.Popen(["prometheus", f"--config.file={base / 'prometheus.yml'}",
                          f"--web.listen-address=127.0.0.1:{prom_port}",
                          f"--storage.tsdb.path={base / 'tsdb'}"],
                         stdout=open(base / "prometheus.log", "w"),
                         stderr=subprocess.STDOUT),
    ]
    url = f"http://127.0.0.1:{prom_port}"
    started = time.time_ns()
    deadline = time.time() + 90
    try:
        while True:
            try:
                ans = prom_get(url, "/api/v1/query",
                               query='count_over_time(node_load1{job="node"}[1m])')
                res = ans.get("data", {}).get("result", [])
                if res and float(res[0]["value"][1]) >= 12:  # twelve real scrapes, ~12 s
                    break
            except OSError:
                pass
            if time.time() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"Prometheus gave no samples in time; see logs in {base}")
            time.sleep(0.5)
        yield PrometheusServer(url, f"http://127.0.0.1:{ne_port}", started, base)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@dataclass
class SlurmJobs:
    """Jobs that really ran under Slurm: what was submitted, and when."""

    submitted_ns: int
    single: str  # job id of a one-task job that holds 80 MiB for a moment
    failing: str  # job id of a job that exits with status 3
    array: str  # array job id (tasks 1-3)
    cancelled: str  # a running job cancelled with scancel (state `CANCELLED by UID`)
    cluster: str = ""
    ids: list[str] = field(default_factory=list)


def _sh(*cmd: str, timeout: float = 60) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout.strip()


def slurm_up() -> None:
    """Run `.ci/slurm-up` (does nothing when Slurm is already up)."""
    import tempfile

    script = REPO / ".ci" / "slurm-up"
    # Output to a file, not a pipe: the daemons it starts inherit it, and a pipe they hold
    # open would never reach end-of-file (the run then hung until its timeout).
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.run(["bash", str(script)], stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, text=True, timeout=300)
        log.seek(0)
        out = log.read()
    if proc.returncode != 0:
        pytest.fail(f".ci/slurm-up failed (run `.ci/run` as root to install Slurm):\n{out}")


@pytest.fixture(scope="session")
def slurm_jobs(tmp_path_factory) -> SlurmJobs:
    """Submit a few real sbatch jobs (one an array) and wait until sacct shows them ended."""
    if shutil.which("sbatch") is None:
        pytest.fail("Slurm is not installed; `.ci/run` installs slurm-wlm, slurmdbd, "
                    "mariadb-server and munge and runs .ci/slurm-up")
    slurm_up()
    work = tmp_path_factory.mktemp("slurm")
    os.chmod(work, 0o777)
    t0 = time.time_ns()
    out = f"--output={work}/%x-%j.out"
    sb = ("sbatch", "--parsable", f"--chdir={work}", out)
    single = _sh(*sb, "--job-name=bv-single", "--cpus-per-task=1", "--wrap",
                 "python3 -c 'import time; x = bytearray(80 * 2**20); time.sleep(1.5)'")
    failing = _sh(*sb, "--job-name=bv-fail", "--wrap", "sleep 0.5; exit 3")
    array = _sh(*sb, "--job-name=bv-array", "--array=1-3", "--wrap", "sleep 1")
    held = _sh(*sb, "--job-name=bv-cancel", "--wrap", "sleep 120")
    deadline = time.time() + 60
    while _sh("squeue", "-h", "-j", held, "-o", "%T") != "RUNNING":
        if time.time() > deadline:
            raise RuntimeError(f"job {held} did not start: {_sh('squeue')}")
        time.sleep(0.2)
    time.sleep(1)  # let it run a moment
    _sh("scancel", held)
    ids = [single.split(";")[0], failing.split(";")[0], array.split(";")[0],
           held.split(";")[0]]
    expect = {ids[0], ids[1], f"{ids[2]}_1", f"{ids[2]}_2", f"{ids[2]}_3", ids[3]}
    deadline = time.time() + 120
    while True:
        text = _sh("sacct", "-X", "-n", "-P", "--format=JobID,State", "-S", "now-1hour")
        states = dict(line.split("|", 1) for line in text.splitlines() if "|" in line)
        done = {j for j, s in states.items()
                if j in expect and s.split()[0] not in {"PENDING", "RUNNING", "REQUEUED"}}
        if done == expect:
            break
        if time.time() > deadline:
            raise RuntimeError(f"Slurm jobs did not end in time: {states}")
        time.sleep(0.5)
    cluster = _sh("scontrol", "show", "config")
    name = next((ln.split("=", 1)[1].strip() for ln in cluster.splitlines()
                 if ln.startswith("ClusterName")), "")
    return SlurmJobs(t0, ids[0], ids[1], ids[2], ids[3], name, ids)
