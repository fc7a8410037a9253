"""Dask clusters for ingest, chosen by configuration (`[dask] cluster`).

- `local`: no cluster; the runner uses local processes (`--workers N`).
- `scheduler`: an existing Dask scheduler (`[dask] scheduler = "tcp://host:8786"`).
- `slurm`: dask-jobqueue's SLURMCluster; `[dask] workers` Slurm jobs, each a Dask worker
  with the `[dask.slurm]` options (queue, account, cores, memory, walltime, ...).
- `kubernetes`: dask-kubernetes' KubeCluster (the Dask operator must run in the cluster);
  `[dask] workers` pods with the `[dask.kubernetes]` image, resources and environment.

`use_cluster(settings)` starts the cluster for the duration of an ingest and makes its
scheduler the one `pipelines.ingest.runner` submits to.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.ingest.cluster_settings import DaskSettings

_active: list[str] = []  # scheduler addresses of the clusters in use, innermost last


class ClusterError(RuntimeError):
    """A cluster that cannot be started as configured."""


def active_address() -> str | None:
    """The scheduler of the cluster started by `use_cluster`, if one is in use."""
    return _active[-1] if _active else None


def slurm_kwargs(settings: DaskSettings) -> dict[str, Any]:
    """Keyword arguments of dask_jobqueue.SLURMCluster from the `[dask.slurm]` settings."""
    s = settings.slurm
    kw: dict[str, Any] = {
        "cores": s.cores, "processes": s.processes, "memory": s.memory,
        "walltime": s.walltime, "job_name": s.job_name,
        "job_extra_directives": list(s.job_extra_directives),
        "job_script_prologue": list(s.job_script_prologue),
        "python": s.python or sys.executable,
    }
    for key in ("queue", "account", "interface", "local_directory", "log_directory"):
        value = getattr(s, key)
        if value is not None:
            kw[key] = value
    return kw


def slurm_cluster(settings: DaskSettings, **extra: Any):
    """A SLURMCluster (its scheduler runs here; no job is submitted until it is scaled)."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as exc:
        raise ClusterError("[dask] cluster = 'slurm' needs dask-jobqueue: "
                           "pip install 'belvedere[dask]'") from exc
    return SLURMCluster(**(slurm_kwargs(settings) | extra))


def slurm_job_script(settings: DaskSettings) -> str:
    """The batch script each Slurm job of the cluster would run (nothing is submitted)."""
    cluster = slurm_cluster(settings, scheduler_options={"dashboard_address": ":0"})
    try:
        return cluster.job_script()
    finally:
        cluster.close()


def kubernetes_kwargs(settings: DaskSettings) -> dict[str, Any]:
    """Keyword arguments of dask_kubernetes.operator.KubeCluster from `[dask.kubernetes]`."""
    k = settings.kubernetes
    kw: dict[str, Any] = {"name": k.name, "image": k.image, "n_workers": settings.workers,
                          "resources": k.resources, "env": dict(k.env),
                          "shutdown_on_close": True}
    if k.namespace:
        kw["namespace"] = k.namespace
    return kw


def kubernetes_cluster(settings: DaskSettings):
    """A dask-kubernetes KubeCluster (needs the Dask operator and a kubeconfig or in-cluster
    service account allowed to create DaskCluster resources)."""
    try:
        from dask_kubernetes.operator import KubeCluster
    except ImportError as exc:
        raise ClusterError("[dask] cluster = 'kubernetes' needs dask-kubernetes: "
                           "pip install dask-kubernetes (and the Dask operator in the "
                           "cluster)") from exc
    return KubeCluster(**kubernetes_kwargs(settings))


@contextlib.contextmanager
def use_cluster(settings: DaskSettings) -> Iterator[str | None]:
    """Start (or name) the configured cluster; yields its scheduler address (None: local)."""
    if settings.cluster == "local":
        yield None
        return
    if settings.cluster == "scheduler":
        _active.append(str(settings.scheduler))
        try:
            yield settings.scheduler
        finally:
            _active.pop()
        return
    if settings.cluster == "slurm":
        cluster = slurm_cluster(settings)
        cluster.scale(jobs=settings.workers)
    else:
        cluster = kubernetes_cluster(settings)
    _active.append(cluster.scheduler_address)
    try:
        yield cluster.scheduler_address
    finally:
        _active.pop()
        cluster.close()
