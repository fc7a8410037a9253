"""The `[dask]` settings of an ingest: where its tasks run (here, a scheduler, Slurm, Kubernetes).

Pydantic models, validated where they are read (`belvedere.config` puts them in the whole
configuration, under `[dask]`, `[dask.slurm]` and `[dask.kubernetes]`).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


_WALLTIME = re.compile(r"^(\d+-)?\d{1,3}:\d{2}(:\d{2})?$|^\d+$")


def _check_memory(v: str | None) -> str | None:
    if v is None:
        return v
    from dask.utils import parse_bytes

    try:
        if parse_bytes(v) <= 0:
            raise ValueError
    except ValueError:
        raise ValueError("not an amount of memory such as 16GiB or 4000MB") from None
    return v


class SlurmSettings(_Settings):
    """Options of dask-jobqueue's SLURMCluster (one Slurm job per `jobs`)."""

    queue: str | None = None
    account: str | None = None
    cores: int = Field(1, ge=1)
    processes: int = Field(1, ge=1)
    memory: str = "4GiB"
    walltime: str = "01:00:00"
    job_name: str = "belvedere-ingest"
    job_extra_directives: list[str] = Field(default_factory=list)
    job_script_prologue: list[str] = Field(default_factory=list)
    interface: str | None = None
    local_directory: str | None = None
    log_directory: str | None = None
    python: str | None = None

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        return _check_memory(v)  # type: ignore[return-value]

    @field_validator("walltime")
    @classmethod
    def _walltime(cls, v: str) -> str:
        if not _WALLTIME.match(v):
            raise ValueError("must be a Slurm time such as 02:00:00, 1-00:00:00 or 90 (minutes)")
        return v


class KubernetesSettings(_Settings):
    """Options of a dask-kubernetes cluster (Dask operator) for ingest."""

    image: str = "ghcr.io/example/belvedere:latest"
    namespace: str | None = None
    name: str = "belvedere-ingest"
    resources: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {"requests": {"cpu": "1", "memory": "4Gi"},
                                 "limits": {"cpu": "2", "memory": "4Gi"}})
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("resources")
    @classmethod
    def _resources(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        bad = set(v) - {"requests", "limits"}
        if bad:
            raise ValueError(f"only 'requests' and 'limits' are allowed, not {sorted(bad)}")
        return v


class DaskSettings(_Settings):
    """Where ingest tasks run: here, on an existing scheduler, on Slurm or on Kubernetes."""

    cluster: Literal["local", "scheduler", "slurm", "kubernetes"] = "local"
    scheduler: str | None = Field(None, description="tcp://host:8786 when cluster = scheduler")
    workers: int = Field(2, ge=1, le=10000, description="Slurm jobs or Kubernetes worker pods")
    slurm: SlurmSettings = Field(default_factory=SlurmSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)

    @model_validator(mode="after")
    def _needs_scheduler(self) -> DaskSettings:
        if self.cluster == "scheduler" and not self.scheduler:
            raise ValueError("cluster = 'scheduler' needs scheduler = 'tcp://HOST:8786' "
                             "(BELVEDERE_DASK_SCHEDULER)")
        return self
