"""The plan of one preset: its streams on the global sample grid and the seeded generators.

Everything downstream is a pure function of (seed, stream, global sample number), so a
channel-day computed in any process joins its neighbours sample for sample.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from obspy import UTCDateTime

from pipelines.demo.network import DAY_NS, REF_NS, STATIONS, StationSpec, SyntheticSpec, sid_of


@dataclass(frozen=True)
class StreamPlan:
    """One stream of a plan: its station, rate, seed key, dead flag and gaps."""

    sid: str
    station: StationSpec
    channel: str
    sr: int
    key: int
    dead: bool
    gaps: tuple[tuple[int, int], ...]  # global sample numbers [g0, g1)

    @property
    def period_ns(self) -> int:
        return 10**9 // self.sr


@dataclass(frozen=True)
class Plan:
    """A preset under one seed: its streams and span in nanoseconds."""

    spec: SyntheticSpec
    seed: int
    streams: tuple[StreamPlan, ...]
    start_ns: int
    end_ns: int


def stable_key(text: str) -> int:
    """A number for text that is the same in every process (crc32)."""
    # Python's hash() is salted per process; workers need a stable number.
    return zlib.crc32(text.encode())


def to_index(t_ns: int, period_ns: int, what: str) -> int:
    """Global sample number of t_ns on a period_ns grid, or a ValueError off the grid."""
    q, r = divmod(t_ns - REF_NS, period_ns)
    if r:
        raise ValueError(f"{what} is not on the {period_ns} ns sample grid")
    return q


@lru_cache(maxsize=16)
def plan_for(spec: SyntheticSpec, seed: int) -> Plan:
    """The plan of a preset under a seed (cached)."""
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    start_ns = UTCDateTime(spec.start).ns
    if (start_ns - REF_NS) % 10**9 or start_ns < REF_NS + DAY_NS:
        raise ValueError(f"span must start on a whole second after {UTCDateTime(ns=REF_NS)}")
    end_ns = start_ns + spec.duration_s * 10**9
    streams = []
    for code in spec.stations:
        st = STATIONS[code]
        for cha in st.channels:
            sid = sid_of(code, cha)
            period = 10**9 // st.sampling_rate
            gaps = tuple(sorted(
                (to_index(UTCDateTime(g.start).ns, period, f"gap start of {sid}"),
                 to_index(UTCDateTime(g.end).ns, period, f"gap end of {sid}"))
                for g in spec.gaps if g.stream == sid
            ))
            streams.append(StreamPlan(sid, st, cha, st.sampling_rate, stable_key(sid),
                                       sid == spec.dead_channel, gaps))
    return Plan(spec, seed, tuple(streams), start_ns, end_ns)


def stream_plan(plan: Plan, sid: str) -> StreamPlan:
    """The plan of one stream, or a KeyError naming the preset."""
    for s in plan.streams:
        if s.sid == sid:
            return s
    raise KeyError(f"{sid} is not a stream of preset {plan.spec.name!r}")


def seeded_rng(*words: int) -> np.random.Generator:
    """A PCG64 generator seeded by the given words."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(words))))
