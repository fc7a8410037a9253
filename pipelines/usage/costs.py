"""What an ingest run cost this machine: wall time, CPU time, peak memory, what it wrote.

`RunMeter` reads `getrusage` for this process and its finished children at the start and the
end of a run. Peak RSS is the larger of the two processes' high-water marks since they began
(Linux reports it in KiB); work done on remote Dask workers is not counted.
"""

from __future__ import annotations

import os
import resource
import socket
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any


def _cpu_seconds() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def peak_rss_bytes() -> int:
    """High-water resident memory of this process or its largest finished child, in bytes."""
    s = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return int(max(s, c)) * 1024


class RunMeter:
    """Measure one run: `with RunMeter("usage") as m: ...; m.record(...)`."""

    def __init__(self, kind: str, infrastructure: str = "", inputs: str = ""):
        self.kind = kind
        self.infrastructure = infrastructure
        self.inputs = inputs
        self.run_id = uuid.uuid4().hex
        self.started_ns = time.time_ns()
        self._t0 = time.perf_counter()
        self._cpu0 = _cpu_seconds()

    def __enter__(self) -> RunMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def elapsed(self) -> float:
        """Wall seconds since the run began."""
        return time.perf_counter() - self._t0

    def record(self, samples_written: int, bytes_written: int, status: str = "ok",
               detail: str = "") -> dict[str, Any]:
        """The run's row for the `runs` table, measured now."""
        return {
            "run_id": self.run_id, "kind": self.kind, "infrastructure": self.infrastructure,
            "host": socket.gethostname(), "started": self.started_ns,
            "seconds": time.perf_counter() - self._t0,
            "cpu_seconds": _cpu_seconds() - self._cpu0, "peak_rss_bytes": peak_rss_bytes(),
            "samples_written": int(samples_written), "bytes_written": int(bytes_written),
            "inputs": self.inputs[:2000], "status": status, "detail": detail[:2000],
        }


def usage_run_hook(kind: str, inputs: str) -> Callable[[int, int, bool], None]:
    """Start measuring a run; the returned `done(samples, bytes, failed)` records it.

    Runs are recorded in the usage store named by `BELVEDERE_USAGE_STORE` (with the label
    `BELVEDERE_INFRASTRUCTURE`); without it, `done` does nothing. A store that cannot be
    written gets a warning on stderr, never a failed ingest.
    """
    meter = RunMeter(kind, os.environ.get("BELVEDERE_INFRASTRUCTURE", ""), inputs)

    def done(samples_written: int, bytes_written: int, failed: bool) -> None:
        url = os.environ.get("BELVEDERE_USAGE_STORE")
        if not url:
            return
        from pipelines.store import StoreError
        from pipelines.usage.usage_store import UsageStore

        try:
            UsageStore(url, mode="a").add_run(meter.record(
                samples_written, bytes_written, "failed" if failed else "ok"))
        except (StoreError, OSError) as exc:
            print(f"warning: could not record this run's cost in {url}: {exc}",
                  file=sys.stderr)

    return done
