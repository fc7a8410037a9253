"""Run independent tasks here (serially or in local threads) or on a Dask cluster."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def scheduler_address(explicit: str | None) -> str | None:
    """The Dask scheduler: the option, else clusters.use_cluster's, else Dask config / env."""
    if explicit:
        return explicit
    from pipelines.ingest.clusters import active_address

    if active_address():
        return active_address()
    try:
        import dask

        addr = dask.config.get("scheduler-address", default=None)
    except ImportError:
        addr = None
    return addr or os.environ.get("DASK_SCHEDULER_ADDRESS") or None


def run_tasks(func: Callable[[T], R], tasks: Iterable[T], workers: int = 1,
              scheduler: str | None = None) -> Iterator[tuple[T, R]]:
    """Yield (task, result) as each task finishes; exceptions propagate per task."""
    tasks = list(tasks)
    if scheduler:
        yield from _run_dask(func, tasks, scheduler)
    elif workers > 1 and len(tasks) > 1:
        # Threads, not processes: the heavy parts (miniSEED decoding, codecs, numpy, file
        # writes) release the GIL, and a spawned process costs ~2 s of imports before its
        # first task (fork is no option: zarr keeps an event-loop thread).
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="belvedere-task") as ex:
            futures = {ex.submit(func, t): t for t in tasks}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
    else:
        for t in tasks:
            yield t, func(t)


def _run_dask(func: Callable[[T], R], tasks: list[T], address: str) -> Iterator[tuple[T, Any]]:
    from distributed import Client
    from distributed import as_completed as dask_completed

    try:
        client = Client(address, timeout="5s")
    except OSError as exc:
        raise RuntimeError(f"cannot reach the Dask scheduler at {address}: {exc}; start one "
                           "with `dask scheduler` or drop --scheduler") from exc
    with client:
        # pure=False: a re-run must run again even with identical arguments.
        futures = {client.submit(func, t, pure=False): t for t in tasks}
        for fut in dask_completed(list(futures)):
            yield futures[fut], fut.result()
