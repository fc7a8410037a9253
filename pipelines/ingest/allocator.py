"""Tune glibc's allocator for an ingest process (the `belvedere ingest` commands).

An ingest allocates and frees arrays of 0.1-32 MB thousands of times (decoded records, codec
outputs, pyramid buckets) from several threads. With glibc's defaults, freed blocks of that
size go back to the kernel (unmapped, or trimmed off a thread's heap) and the next allocation
faults in fresh zeroed pages: ~29,000 page faults and ~9 % of the CPU of an ingest of 1e8
samples went to zeroing pages (`perf`; `tests/bench/ab_ingest.py` measures the effect). Keeping
blocks up to 32 MB on the heap and not trimming it makes the process reuse its own memory
(~6,000 faults). The process keeps its peak heap until it exits, which suits a command that
ingests and ends; a library caller (a notebook, a Dask worker) keeps glibc's defaults unless
it calls this.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest accepted value on 64-bit
TRIM_THRESHOLD = 1 << 30

_done = False


def tune_allocator() -> bool:
    """Keep freed blocks up to 32 MB for reuse instead of returning them to the kernel (glibc
    only; a no-op elsewhere). True when the settings were applied."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
