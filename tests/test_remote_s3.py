"""Stores in S3-compatible object storage, through fsspec/s3fs, against a real S3 server.

The server is moto's standalone S3 server (`moto_server`, a separate process speaking the S3
HTTP API on loopback). Credentials and endpoint come from the standard AWS environment
variables, as they would for any S3 service (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from browser import REPO, free_port

from dashboard.frames import make_frame
from pipelines.demo import obspy_files
from pipelines.store import open_store

BUCKET = "belvedere-test"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A running S3 server on loopback and the environment that points s3fs at it."""
    exe = shutil.which("moto_server") or os.path.join(os.path.dirname(sys.executable),
                                                      "moto_server")
    port = free_port()
    log = open(tmp_path_factory.mktemp("s3") / "moto.log", "w")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                            stderr=subprocess.STDOUT)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(env["AWS_ENDPOINT_URL"], timeout=1)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "no S3 server"
                time.sleep(0.2)
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        s3fs.S3FileSystem().mkdir(BUCKET)
        yield env
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(10)
        log.close()


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run the belvedere command with the test's environment (the S3 endpoint)."""
    return subprocess.run([sys.executable, "-m", "belvedere", *args], capture_output=True,
                          text=True, cwd=REPO, env=dict(os.environ), timeout=300)


def test_ingest_info_export_and_frames_on_s3_match_a_local_store(s3, tmp_path):
    files = obspy_files().mseed[:4]
    url = f"s3://{BUCKET}/campus.zarr"
    r = cli("ingest", "seismic", "--store", url, *files)
    assert r.returncode == 0, r.stderr
    local = str(tmp_path / "local.zarr")
    assert cli("ingest", "seismic", "--store", local, *files).returncode == 0
    again = cli("ingest", "seismic", "--store", url, *files)
    assert again.returncode == 0 and "nothing changed" in again.stdout.lower()

    info = json.loads(cli("info", url, "--json").stdout)
    remote, here = open_store(url), open_store(local)
    assert sorted(s["stream"] for s in info["streams"]) == remote.streams() == here.streams()
    for name in here.streams():
        for (ta, va), (tb, vb) in zip(remote[name].read_segments(), here[name].read_segments(),
                                      strict=True):
            assert ta == tb and np.array_equal(va, vb) and va.dtype == vb.dtype
        t0, t1 = here[name].span_ns
        fa = make_frame([remote[name]], t0, t1, 600, 80)
        fb = make_frame([here[name]], t0, t1, 600, 80)
        assert np.array_equal(fa.image, fb.image) and fa.image.any()

    name = here.streams()[0]
    out = tmp_path / "out.csv"
    assert cli("export", "--store", url, name, "--format", "csv", "-o", str(out)).returncode == 0
    rows = out.read_text().splitlines()
    assert len(rows) - 1 == here[name].n_samples
