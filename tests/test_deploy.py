"""deploy/: the Kubernetes manifests render with kustomize and validate against the Kubernetes
schemas (offline, kubernetes-validate); the compose file passes `docker-compose config`; the
container, Apptainer and CI files say what they must; every BELVEDERE_* variable they set is
one the configuration knows; the configuration files they ship load."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from belvedere.catalog import load_catalog
from belvedere.config import env_names, load

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "kubernetes"
K8S_VERSION = "1.30.0"
# BELVEDERE_* variables that are not configuration keys but are read elsewhere on purpose.
OTHER_VARS = {"BELVEDERE_CONFIG", "BELVEDERE_STORES_DIR", "BELVEDERE_IMAGE", "BELVEDERE_DATASET",
              "BELVEDERE_USAGE_STORE"}


def kustomize(folder: Path) -> list[dict]:
    """`kubectl kustomize FOLDER`, parsed."""
    r = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return kustomize(K8S / "base")


@pytest.fixture(scope="module")
def overlay() -> list[dict]:
    return kustomize(K8S / "overlays" / "example")


def by_kind(docs: list[dict], kind: str) -> dict:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_every_rendered_object_validates_against_the_kubernetes_schemas(which, request):
    docs = request.getfixturevalue(which)
    kinds = sorted(d["kind"] for d in docs)
    for kind in ("ConfigMap", "CronJob", "Deployment", "Ingress", "Job",
                 "PersistentVolumeClaim", "Service"):
        assert kind in kinds
    for doc in docs:
        # strict: an unknown field (a typo) is an error, not silently dropped
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_rejects_a_misspelt_field(base):
    dep = by_kind(base, "Deployment")
    bad = yaml.safe_load(yaml.safe_dump(dep))
    bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {
        "path": "/liveness", "port": "http"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_dashboard_probes_and_security(base):
    pod = by_kind(base, "Deployment")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert c[probe]["httpGet"] == {"path": "/liveness", "port": "http"}
    assert {"name": "http", "containerPort": 5006} in c["ports"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/data/stores"]["readOnly"] is True and "/tmp" in mounts
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["BELVEDERE_CONFIG"] == "/etc/belvedere/config/belvedere.toml"
    # the ConfigMap the pod mounts is the generated one (kustomize renamed it with a hash)
    cm = by_kind(base, "ConfigMap")
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["config"]["configMap"]["name"] == cm["metadata"]["name"]
    assert set(cm["data"]) == {"belvedere.toml", "catalog.toml"}


def test_ingress_keeps_websockets_open_and_sessions_sticky(base, overlay):
    ann = by_kind(base, "Ingress")["metadata"]["annotations"]
    assert int(ann["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(ann["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert ann["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    svc = by_kind(base, "Service")
    assert svc["spec"]["sessionAffinity"] == "ClientIP"
    # the overlay's host is the origin its configuration allows for the websocket
    ing = by_kind(overlay, "Ingress")
    host = ing["spec"]["rules"][0]["host"]
    cfg = (K8S / "overlays" / "example" / "belvedere.toml")
    assert host in load(cfg, env={}).serve.allow_websocket_origin
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == \
        svc["metadata"]["name"]


def test_ingest_job_and_cronjob_write_the_stores_the_dashboard_reads(base, overlay):
    job = by_kind(base, "Job")["spec"]["template"]["spec"]
    cron = by_kind(base, "CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    cron_pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    claim = by_kind(base, "PersistentVolumeClaim")["metadata"]["name"]
    for pod in (job, cron_pod):
        (c,) = pod["containers"]
        assert c["args"][:2] == ["ingest", "dataset"]
        vols = {v["name"]: v for v in pod["volumes"]}
        assert vols["stores"]["persistentVolumeClaim"]["claimName"] == claim
        assert not any(m.get("readOnly") for m in c["volumeMounts"]
                       if m["mountPath"] == "/data/stores")
    # the datasets they name exist in the catalogs they mount
    for folder, docs in ((K8S / "base", base), (K8S / "overlays" / "example", overlay)):
        cat = load_catalog(folder / "catalog.toml")
        for kind in ("Job", "CronJob"):
            doc = by_kind(docs, kind)
            spec = doc["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else doc["spec"]
            assert spec["template"]["spec"]["containers"][0]["args"][2] in cat.datasets
    ov = by_kind(overlay, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert ov["serviceAccountName"] == by_kind(overlay, "ServiceAccount")["metadata"]["name"]
    images = {c["image"] for d in overlay if d["kind"] in ("Deployment", "Job")
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {"registry.campus.example/observatory/belvedere:0.1.0"}
    assert {d["metadata"].get("namespace") for d in overlay if d["kind"] != "Namespace"} == \
        {"belvedere"}


def test_shipped_configuration_files_load():
    for cfg in (K8S / "base" / "belvedere.toml", K8S / "overlays" / "example" / "belvedere.toml",
                DEPLOY / "belvedere.example.toml"):
        settings = load(cfg, env={})
        assert settings.serve.stores, cfg
    overlay = load(K8S / "overlays" / "example" / "belvedere.toml", env={})
    assert overlay.dask.cluster == "kubernetes"
    for cat in (K8S / "base" / "catalog.toml", K8S / "overlays" / "example" / "catalog.toml",
                REPO / "datasets" / "catalog.toml"):
        assert "demo" in load_catalog(cat).datasets


def test_compose_file_passes_docker_compose_config():
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose (Debian package) is missing: .ci/run installs it"
    r = subprocess.run([exe, "-f", str(DEPLOY / "compose.yaml"), "--profile", "prometheus",
                        "config"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    services = cfg["services"]
    assert set(services) == {"dashboard", "dask-scheduler", "dask-worker", "ingest",
                             "prometheus"}
    assert services["dask-worker"]["command"][:2] == ["worker", "tcp://dask-scheduler:8786"]
    dash = services["dashboard"]
    assert dash["environment"]["BELVEDERE_SERVE_ADDRESS"] == "0.0.0.0"
    assert dash["depends_on"]["ingest"]["condition"] == "service_completed_successfully"
    # what the ingest writes (demo dataset into $BELVEDERE_STORES_DIR) is what the dashboard shows
    assert dash["environment"]["BELVEDERE_SERVE_STORES"] == "/data/stores/obspy-examples.zarr"
    assert services["ingest"]["environment"]["BELVEDERE_STORES_DIR"] == "/data/stores"
    assert services["prometheus"]["profiles"] == ["prometheus"]


def test_docker_compose_config_catches_a_mistake(tmp_path):
    text = (DEPLOY / "compose.yaml").read_text().replace("    restart: \"no\"",
                                                        "    restartt: \"no\"")
    (tmp_path / "compose.yaml").write_text(text)
    (tmp_path / "prometheus").mkdir()
    r = subprocess.run(["docker-compose", "-f", str(tmp_path / "compose.yaml"), "config"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "restartt" in r.stderr


def test_containerfile_is_small_non_root_and_checks_liveness():
    text = (DEPLOY / "container" / "Containerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert len(froms) == 2 and all("slim" in f for f in froms), "multi-stage, slim bases"
    user = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert user and not user[-1].startswith(("root", "0")), "runs as a non-root user"
    assert "--no-cache-dir" in text
    health = re.search(r"^HEALTHCHECK .*?\n(?:  .*\n)*", text, flags=re.M).group(0)
    assert "/liveness" in health and "BELVEDERE_SERVE_PORT" in health
    assert re.search(r'^ENTRYPOINT \["belvedere"\]', text, flags=re.M)
    assert "BELVEDERE_SERVE_ADDRESS=0.0.0.0" in text


def test_containerfile_healthcheck_command_works_against_a_real_server(tmp_path):
    """Run the HEALTHCHECK's own command against a server started the way the image starts
    it: `belvedere serve` with no option, configured only by the image's environment."""
    import sys

    from browser import free_port
    from test_dashboard_store import build_store
    from test_deploy_nginx import serve_process

    text = (DEPLOY / "container" / "Containerfile").read_text()
    cmd = re.search(r'CMD \["python", "-c", "(.*)"\]\s*$', text, flags=re.M).group(1)
    cmd = cmd.encode().decode("unicode_escape")
    port = free_port()
    env = {"BELVEDERE_SERVE_STORES": build_store(str(tmp_path / "s.zarr")),
           "BELVEDERE_SERVE_PORT": str(port), "BELVEDERE_SERVE_ADDRESS": "127.0.0.1",
           "BELVEDERE_SERVE_PREFIX": "/bv"}
    with serve_process([], port, "/bv", env=env):
        ok = subprocess.run([sys.executable, "-c", cmd], env={**env, "PATH": "/usr/bin"},
                            capture_output=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
    down = subprocess.run([sys.executable, "-c", cmd], env=env, capture_output=True, timeout=30)
    assert down.returncode != 0, "the health check fails when the server is gone"


def test_apptainer_definition_sections():
    text = (DEPLOY / "apptainer" / "belvedere.def").read_text()
    assert re.search(r"^Bootstrap: docker$", text, flags=re.M)
    assert re.search(r"^From: python:3\.11-slim", text, flags=re.M)
    sections = re.findall(r"^%(\w+)", text, flags=re.M)
    for s in ("files", "post", "environment", "runscript", "startscript", "test"):
        assert s in sections
    files = re.search(r"^%files\n((?:    .*\n)+)", text, flags=re.M).group(1).split("\n")
    for line in filter(None, (x.strip() for x in files)):
        assert (REPO / line.split()[0]).exists(), f"%files copies a missing path: {line}"


def test_gitlab_ci_template_builds_tests_deploys():
    ci = yaml.safe_load((DEPLOY / "gitlab-ci.yml").read_text())
    stages = ci["stages"]
    assert stages == ["build", "test", "deploy"]
    jobs = {k: v for k, v in ci.items() if isinstance(v, dict) and "script" in v}
    assert all(j["stage"] in stages for j in jobs.values())
    for j in jobs.values():
        for need in j.get("needs", []):
            assert need in jobs, f"needs an unknown job {need}"
    scripts = {k: "\n".join(v["script"]) for k, v in jobs.items()}
    assert "deploy/container/Containerfile" in scripts["build-image"]
    assert "bash .ci/run" in scripts["test"]
    assert "kubectl kustomize" in scripts["deploy"] and "kubectl apply" in scripts["deploy"]
    overlay = ci["variables"]["KUSTOMIZE_OVERLAY"]
    assert (REPO / overlay / "kustomization.yaml").exists()


def test_every_belvedere_variable_in_deploy_files_is_known():
    known = set(env_names()) | OTHER_VARS
    seen = set()
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix not in (".png",):
            seen |= set(re.findall(r"\bBELVEDERE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    seen |= set(re.findall(r"\bBELVEDERE_[A-Z0-9_]*[A-Z0-9]\b", (REPO / "datasets" / "catalog.toml")
                           .read_text()))
    assert "BELVEDERE_SERVE_STORES" in seen
    assert not seen - known, f"unknown variables: {sorted(seen - known)}"
