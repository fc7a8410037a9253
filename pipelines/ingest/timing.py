"""Whether a run of samples fits the store's time base: a grid of int64 nanoseconds.

A sample period under 1 ns cannot be told apart on that grid, and times outside the
supported range (`pipelines.timebase`: 1800 to 2200, inside int64 nanoseconds' 1677-2262)
would overflow; both are refused before anything is written, with the limit named.
"""

from __future__ import annotations

import math

from pipelines.timebase import NS, TIME_MAX_NS, TIME_MIN_NS, utc_iso

MAX_RATE_HZ = float(NS)  # one sample per nanosecond
_RANGE = f"{utc_iso(TIME_MIN_NS)[:10]} to {utc_iso(TIME_MAX_NS)[:10]}"


class UnsupportedTiming(ValueError):
    """Samples whose rate or span does not fit int64 nanoseconds (the message says which)."""


def timing_problem(what: str, start_ns: int, sampling_rate: float, n: int) -> str | None:
    """Why `n` samples from `start_ns` at `sampling_rate` Hz cannot be stored, or None.

    Parameters
    ----------
    what
        The channel or stream, named in the message.
    start_ns
        Time of the first sample (ns since 1970).
    sampling_rate
        Samples per second.
    n
        Number of samples.

    Returns
    -------
    str or None
        One line naming the rate, the span and the limit they exceed.
    """
    rate = float(sampling_rate)
    if not math.isfinite(rate) or rate <= 0:
        return (f"{what}: sampling rate {rate:g} Hz is not a positive number of samples per "
                "second; its samples were not ingested")
    if rate > MAX_RATE_HZ:
        return (f"{what}: sampling rate {rate:g} Hz is above {MAX_RATE_HZ:g} Hz, the highest "
                "a grid of integer nanoseconds holds (a period under 1 ns); nothing of this "
                "file was ingested")
    end = start_ns + (max(n, 1) - 1) * (NS / rate)
    if not TIME_MIN_NS <= start_ns <= TIME_MAX_NS or not TIME_MIN_NS <= end <= TIME_MAX_NS:
        years = max(n - 1, 0) / rate / (365.25 * 86400)
        year = 1970 + end / NS / (365.2425 * 86400)
        return (f"{what}: {n:,} samples at {rate:g} Hz from {_iso(start_ns)} span "
                f"{years:,.4g} years (last sample in year {year:.0f}), outside the supported times "
                f"{_RANGE} (int64 nanoseconds); its samples were not ingested")
    return None


def check_timing(what: str, start_ns: int, sampling_rate: float, n: int) -> None:
    """Raise UnsupportedTiming (see `timing_problem`) when the samples do not fit."""
    problem = timing_problem(what, start_ns, sampling_rate, n)
    if problem:
        raise UnsupportedTiming(problem)


def _iso(ns: int) -> str:
    try:
        return utc_iso(int(ns))
    except (OverflowError, OSError, ValueError):
        return f"{int(ns)} ns"
