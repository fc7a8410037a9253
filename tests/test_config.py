"""Configuration: one TOML file, BELVEDERE_* variables, the command line on top; clear messages
for bad keys and values; the datasets catalog and `belvedere ingest dataset`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from belvedere.catalog import load_catalog
from belvedere.config import ConfigError, env_names, load

REPO = Path(__file__).resolve().parents[1]

GOOD = """
[serve]
stores = ["a.zarr", "https://data.example.org/stores/b.zarr"]
port = 8080
allow_websocket_origin = ["belvedere.example.org"]
prefix = "/belvedere/"

[ingest]
workers = 3

[dask]
cluster = "slurm"
workers = 4

[dask.slurm]
queue = "short"
memory = "8GiB"
job_script_prologue = ["module load python"]
"""


def write(tmp_path: Path, text: str, name: str = "belvedere.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_good_file(tmp_path):
    s = load(write(tmp_path, GOOD), env={})
    assert s.serve.stores == ["a.zarr", "https://data.example.org/stores/b.zarr"]
    assert (s.serve.port, s.serve.address, s.serve.prefix) == (8080, "127.0.0.1", "/belvedere")
    assert s.ingest.workers == 3 and s.ingest.snap_tolerance == 0.25
    assert s.dask.cluster == "slurm" and s.dask.slurm.memory == "8GiB"
    assert s.dask.slurm.job_script_prologue == ["module load python"]


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./belvedere.toml here
    s = load(None, env={})
    assert (s.serve.port, s.serve.stores, s.dask.cluster) == (5006, [], "local")


def test_file_found_by_environment_and_in_the_working_folder(tmp_path, monkeypatch):
    cfg = write(tmp_path, "[serve]\nport = 7001\n", "site.toml")
    assert load(None, env={"BELVEDERE_CONFIG": str(cfg)}).serve.port == 7001
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "[serve]\nport = 7002\n")
    assert load(None, env={}).serve.port == 7002


def test_unknown_key_names_the_key_and_what_is_allowed(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load(write(tmp_path, "[serve]\nprot = 8080\n"), env={})
    msg = str(exc.value)
    assert "[serve] prot" in msg and "belvedere.toml" in msg
    assert "allowed here: stores, port, address" in msg


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key \[server\].*allowed here: serve, "
                                          r"ingest, dask"):
        load(write(tmp_path, "[server]\nport = 1\n"), env={})


@pytest.mark.parametrize("text, expect", [
    ("[serve]\nport = 99999\n", r"\[serve\] port .*less than or equal to 65535; got 99999"),
    ('[serve]\nport = "http"\n', r"\[serve\] port .*valid integer.*got 'http'"),
    ('[dask]\ncluster = "pbs"\n',
     r"\[dask\] cluster .*'local', 'scheduler', 'slurm' or 'kubernetes'; got 'pbs'"),
    ('[dask]\ncluster = "scheduler"\n', r"needs scheduler = 'tcp://HOST:8786'"),
    ('[dask.slurm]\nmemory = "lots"\n', r"\[dask.slurm\] memory .*16GiB"),
    ('[dask.slurm]\nwalltime = "2h"\n', r"\[dask.slurm\] walltime .*02:00:00"),
    ('[serve]\nprefix = "bel videre"\n', r"\[serve\] prefix .*URL path"),
    ("[ingest]\nsnap_tolerance = 0.7\n", r"\[ingest\] snap_tolerance .*0.5"),
    ("[serve\nport = 1\n", r"not valid TOML"),
])
def test_bad_values_say_which_key_and_what_is_allowed(tmp_path, text, expect):
    with pytest.raises(ConfigError, match=expect):
        load(write(tmp_path, text), env={})


def test_environment_beats_the_file(tmp_path):
    env = {"BELVEDERE_SERVE_PORT": "9000", "BELVEDERE_SERVE_STORES": "x.zarr, s3://b/y.zarr",
           "BELVEDERE_DASK_SLURM_QUEUE": "long", "BELVEDERE_SERVE_USE_XHEADERS": "true",
           "BELVEDERE_DASK_KUBERNETES_ENV": '{"AWS_ENDPOINT_URL": "https://s3.example.org"}'}
    s = load(write(tmp_path, GOOD), env=env)
    assert s.serve.port == 9000 and s.serve.stores == ["x.zarr", "s3://b/y.zarr"]
    assert s.serve.use_xheaders is True
    assert s.dask.slurm.queue == "long" and s.dask.slurm.memory == "8GiB"  # the rest: file
    assert s.dask.kubernetes.env == {"AWS_ENDPOINT_URL": "https://s3.example.org"}
    assert s.ingest.workers == 3


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"\[serve\] port \(from environment variable "
                                          r"BELVEDERE_SERVE_PORT\).*got 'abc'"):
        load(None, env={"BELVEDERE_SERVE_PORT": "abc", "BELVEDERE_CONFIG": str(
            write(tmp_path, ""))})
    with pytest.raises(ConfigError, match=r"unknown environment variable BELVEDERE_SERVE_PROT;"
                                          r".*BELVEDERE_SERVE_PORT"):
        load(None, env={"BELVEDERE_SERVE_PROT": "1", "BELVEDERE_CONFIG": str(
            write(tmp_path, ""))})


def test_old_tile_url_variable_still_works():
    s = load(None, env={"BELVEDERE_TILE_URL": "https://t.example.org/{Z}/{X}/{Y}.png",
                        "BELVEDERE_CONFIG": os.devnull})
    assert s.serve.tile_url == "https://t.example.org/{Z}/{X}/{Y}.png"


def test_every_key_has_an_environment_variable():
    names = env_names()
    for var in ("BELVEDERE_SERVE_STORES", "BELVEDERE_SERVE_ALLOW_WEBSOCKET_ORIGIN",
                "BELVEDERE_INGEST_SNAP_TOLERANCE", "BELVEDERE_DASK_CLUSTER",
                "BELVEDERE_DASK_SLURM_JOB_EXTRA_DIRECTIVES", "BELVEDERE_DASK_KUBERNETES_IMAGE"):
        assert var in names



def test_the_servers_worker_options_come_from_the_file_and_the_environment(tmp_path):
    s = load(write(tmp_path, "[serve]\nthreads = 4\nchunk_cache_mb = 64\n"),
             env={"BELVEDERE_SERVE_QUEUE": "10", "BELVEDERE_SERVE_NUM_PROCS": "0"})
    assert (s.serve.threads, s.serve.chunk_cache_mb, s.serve.queue) == (4, 64, 10)
    assert s.serve.num_procs == 0 and s.serve.snapshot_queue == 2  # the rest: defaults
    with pytest.raises(ConfigError, match=r"\[serve\] threads"):
        load(write(tmp_path, "[serve]\nthreads = 0\n"), env={})


# -- the command line -------------------------------------------------------------------------
def run(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO
        ) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith("BELVEDERE_")}
    return subprocess.run([sys.executable, "-m", "belvedere", *args], capture_output=True,
                          text=True, timeout=300, env={**e, **(env or {})}, cwd=cwd)


def test_cli_reports_a_bad_configuration_and_exits_2(tmp_path):
    cfg = write(tmp_path, "[serve]\nprot = 1\n")
    r = run("serve", "--config", str(cfg))
    assert r.returncode == 2
    assert "[serve] prot" in r.stderr and "allowed here" in r.stderr
    r = run("serve", env={"BELVEDERE_SERVE_PORT": "x", "BELVEDERE_CONFIG": os.devnull})
    assert r.returncode == 2 and "BELVEDERE_SERVE_PORT" in r.stderr


def test_cli_option_beats_environment_beats_file(tmp_path):
    """`belvedere serve` opens its stores before serving: which store it names in the error
    shows which layer won."""
    cfg = write(tmp_path, '[serve]\nstores = ["/from/file.zarr"]\n')
    r = run("serve", "--config", str(cfg))
    assert r.returncode == 2 and "/from/file.zarr" in r.stderr
    r = run("serve", "--config", str(cfg), env={"BELVEDERE_SERVE_STORES": "/from/env.zarr"})
    assert r.returncode == 2 and "/from/env.zarr" in r.stderr
    r = run("serve", "--config", str(cfg), "--store", "/from/cli.zarr",
            env={"BELVEDERE_SERVE_STORES": "/from/env.zarr"})
    assert r.returncode == 2 and "/from/cli.zarr" in r.stderr and "env.zarr" not in r.stderr


# -- the catalog ------------------------------------------------------------------------------
def test_repository_catalog_loads_with_paths_resolved():
    cat = load_catalog(REPO / "datasets" / "catalog.toml")
    demo = cat.datasets["demo"]
    assert demo.kind == "seismic" and all(Path(s).is_file() for s in demo.sources)
    assert Path(demo.store).is_absolute()
    usage = cat.datasets["local-cluster-usage"]
    assert usage.kind == "usage" and usage.start == "now-1d" and "cpu_busy" in usage.queries


def test_bad_catalog_entry_says_which_dataset(tmp_path):
    p = write(tmp_path, '[datasets.x]\nkind = "radar"\nstore = "s.zarr"\n', "cat.toml")
    with pytest.raises(ConfigError, match=r"(?s)bad catalog .*cat.toml.*datasets.*x.*'seismic', "
                                          r"'usage'"):
        load_catalog(p)
    p = write(tmp_path, '[datasets.x]\nkind = "seismic"\nstore = "s.zarr"\nsource = ["a"]\n',
              "cat2.toml")
    with pytest.raises(ConfigError, match=r"unknown key \[datasets.x.seismic\] source"):
        load_catalog(p)


def test_ingest_dataset_runs_the_catalog_entry(tmp_path):
    """The demo entry (ObsPy's real files) through `belvedere ingest dataset`, then again:
    the second run changes nothing."""
    from pipelines.store import open_store

    store = tmp_path / "demo.zarr"
    r = run("ingest", "dataset", "demo", "--catalog", str(REPO / "datasets" / "catalog.toml"),
            env={"BELVEDERE_STORES_DIR": str(tmp_path), "BELVEDERE_CONFIG": os.devnull})
    assert r.returncode == 0, r.stderr
    st = open_store(str(tmp_path / "obspy-examples.zarr"))
    assert "BW.BGLD..EHE" in st.streams() and len(st.events()) == 3
    r = run("ingest", "dataset", "demo", "--store", str(store), "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert open_store(str(store)).streams() == st.streams()
    r = run("ingest", "dataset", "demo", "--store", str(store))
    assert r.returncode == 0 and "0 ingested, 4 already in the store" in r.stdout
    r = run("ingest", "dataset", "nope")
    assert r.returncode == 2 and "no dataset 'nope'" in r.stderr and "demo" in r.stderr
