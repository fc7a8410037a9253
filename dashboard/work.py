"""Work off the event loop: page builds, frames and snapshots run in bounded thread pools.

The server's event loop answers every session and `/liveness`; anything that reads the store
runs in a pool here instead. Each pool takes at most `threads + queued` jobs at once and turns
the next away with `Busy` ("busy, try again"), so a burst of slow requests waits in a bounded
queue instead of growing one without limit. Results come back to the loop through Bokeh's
`Document.add_next_tick_callback` (the one Document method safe to call from another thread)
or, for plain Tornado handlers, `asyncio.wrap_future`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

THREAD_PREFIX = "belvedere-work"


class Busy(Exception):
    """The server is at its limit of work in progress: try again in a moment."""


class WorkPool:
    """A thread pool that takes at most `threads + queued` jobs at a time."""

    def __init__(self, name: str, threads: int, queued: int):
        self.name = name
        self.threads = max(int(threads), 1)
        self.limit = self.threads + max(int(queued), 0)
        self._executor = ThreadPoolExecutor(self.threads,
                                            thread_name_prefix=f"{THREAD_PREFIX}-{name}")
        self._lock = threading.Lock()
        self.in_flight = 0
        self.refused = 0

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """Run `fn(*args, **kwargs)` in the pool; Busy when it already holds `limit` jobs."""
        with self._lock:
            if self.in_flight >= self.limit:
                self.refused += 1
                raise Busy(f"the server is busy ({self.in_flight} {self.name} jobs in progress,"
                           f" at most {self.limit}); try again in a moment")
            self.in_flight += 1
        try:
            future = self._executor.submit(fn, *args, **kwargs)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future | None) -> None:
        with self._lock:
            self.in_flight -= 1

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`submit` awaited from the event loop (Busy at once when full)."""
        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    def resize(self, threads: int, queued: int) -> None:
        """Start over with this many threads and queue places (jobs running keep running)."""
        old = self._executor
        self.__init__(self.name, threads, queued)
        old.shutdown(wait=False)


# Frames (numpy and numba, which let go of the GIL) have `--threads` threads. Page builds and
# first document pulls are Python through and through (Panel and Bokeh models), holding the
# GIL: a second thread for them builds no faster, it only takes the GIL from the event loop
# more often, so they have one thread of their own. Snapshots (seconds each, many frames)
# have their own small pool, so a few snapshots never starve the sessions.
FRAMES = WorkPool("frame", threads=2, queued=60)
BUILDS = WorkPool("build", threads=1, queued=60)
SNAPSHOTS = WorkPool("snapshot", threads=1, queued=2)


def configure(threads: int, queued: int, snapshot_threads: int = 1, snapshot_queued: int = 2
              ) -> None:
    """Size the pools (from `belvedere serve --threads/--queue`)."""
    FRAMES.resize(threads, queued)
    BUILDS.resize(1, queued)
    SNAPSHOTS.resize(snapshot_threads, snapshot_queued)


def on_worker() -> bool:
    """True in one of the pools' threads (already off the event loop)."""
    return threading.current_thread().name.startswith(THREAD_PREFIX)


def deliver(doc: Any, future: Future, callback: Callable[[Future], None]) -> None:
    """Call `callback(future)` on the document's event loop, holding its lock, once the
    future is done (Bokeh's way back from a thread)."""
    future.add_done_callback(lambda f: doc.add_next_tick_callback(lambda: callback(f)))
