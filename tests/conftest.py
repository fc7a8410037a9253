"""Shared fixtures: small real SDS archives written with ObsPy, stores, a real Dask cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from browser import free_port, launch_chromium, new_page, wait_until
from obspy import Trace, UTCDateTime

T0 = UTCDateTime(2024, 3, 4, 22, 0, 0)


def sds_path(root: Path, net: str, sta: str, loc: str, cha: str, day: UTCDateTime) -> Path:
    """The SDS path of one channel-day file."""
    return (root / f"{day.year}" / net / sta / f"{cha}.D" /
            f"{net}.{sta}.{loc}.{cha}.D.{day.year}.{day.julday:03d}")


def make_sds(root: Path, channels=("XX.TST.00.HHZ", "XX.TST.00.HHN"), rate: float = 20.0,
             start: UTCDateTime = T0, hours: float = 28.0, gaps=(), seed: int = 0
             ) -> dict[str, np.ndarray]:
    """Write a real Steim2 SDS archive; returns each channel's full sample array (int32).

    `gaps` are (channel, offset seconds, length seconds) spans left out of the files.
    """
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 * rate)
    truth = {}
    for ch in channels:
        data = np.cumsum(rng.integers(-50, 51, n)).astype(np.int32)
        truth[ch] = data
        net, sta, loc, cha = ch.split(".")
        keep = np.ones(n, dtype=bool)
        for gch, off, length in gaps:
            if gch == ch:
                keep[int(off * rate):int((off + length) * rate)] = False
        day = UTCDateTime(start.date)
        while day < start + hours * 3600:
            i0 = max(int(round((day - start) * rate)), 0)
            i1 = min(int(round((day + 86400 - start) * rate)), n)
            runs = np.flatnonzero(np.diff(np.concatenate([[0], keep[i0:i1].view(np.int8), [0]])))
            traces = []
            for a, b in zip(runs[::2], runs[1::2], strict=True):
                traces.append(Trace(data[i0 + a:i0 + b].copy(), header={
                    "network": net, "station": sta, "location": loc, "channel": cha,
                    "sampling_rate": rate, "starttime": start + (i0 + a) / rate}))
            if traces:
                path = sds_path(root, net, sta, loc, cha, day)
                path.parent.mkdir(parents=True, exist_ok=True)
                from obspy import Stream
                Stream(traces).write(str(path), format="MSEED", encoding="STEIM2", reclen=512)
            day += 86400
    return truth


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `belvedere` command line in a subprocess."""
    return subprocess.run([sys.executable, "-m", "belvedere", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    """A real `dask scheduler` and two `dask worker` processes on loopback."""
    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen(["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0", "--no-show"],
                              stdout=open(logs / "s.log", "w"), stderr=subprocess.STDOUT, env=env)]
    for i in range(2):
        procs.append(subprocess.Popen(
            ["dask", "worker", addr, "--nthreads", "1", "--dashboard-address", ":0",
             "--local-directory", str(logs / f"w{i}")],
            stdout=open(logs / f"w{i}.log", "w"), stderr=subprocess.STDOUT, env=env))
    from distributed import Client

    def two_workers() -> bool:
        with Client(addr, timeout="2s") as c:
            return len(c.scheduler_info()["workers"]) >= 2

    wait_until(two_workers, 60, f"dask cluster did not start; see {logs}", interval=0.5)
    yield addr
    for p in procs[::-1]:
        p.terminate()
    for p in procs:
        p.wait(timeout=20)

# Real Prometheus/node exporter and Slurm for the usage tests (issue 6).
from usage_servers import prometheus_server, slurm_jobs  # noqa: E402, F401, I001


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium (through Playwright) for every browser test."""
    with launch_chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    """A page at browser.VIEWPORT in a fresh context of the session's browser; its uncaught
    errors collect in `page.console_errors`."""
    with new_page(browser) as pg:
        yield pg
