"""Recursive STA/LTA triggers per stream (ObsPy's `recursive_sta_lta` and `trigger_onset`)
and their network coincidence (as ObsPy's `coincidence_trigger` counts it, one vote a stream).

A day's triggers are those whose onset lies in the day; the LTA runs in over the padding before
(ten LTA lengths: its memory has decayed to e^-10 by midnight) and triggers end within the
padding after (`max_len_s`), so a day's triggers do not depend on where the day ends.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.signal import butter, sosfiltfilt

from pipelines.analysis.base import DayInput
from pipelines.store import runs_of

NAME = "detect"
ALGORITHM = "obspy-recursive-sta-lta/trigger-onset/coincidence/1"
DEFAULTS: dict[str, Any] = {"sta_s": 1.0, "lta_s": 10.0, "thr_on": 3.5, "thr_off": 1.0,
                            "max_len_s": 60.0, "freqmin": 1.0, "freqmax": 10.0,
                            "coincidence": 2}


def padding_s(params: dict[str, Any], sampling_rate: float) -> tuple[float, float]:
    """LTA run-in before, the longest trigger after (plus the filter's run-in)."""
    return 10.0 * params["lta_s"] + 60.0, params["max_len_s"] + 60.0


def compute(day: DayInput, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """The day's triggers: onset and end times (ns) and the peak STA/LTA ratio."""
    from obspy.signal.trigger import recursive_sta_lta, trigger_onset

    rate = day.sampling_rate
    nsta, nlta = int(params["sta_s"] * rate), int(params["lta_s"] * rate)
    fmax = min(params["freqmax"], 0.45 * rate) if params["freqmax"] else None
    sos = None
    if params["freqmin"] and fmax and params["freqmin"] < fmax:
        sos = butter(4, (params["freqmin"], fmax), btype="bandpass", fs=rate, output="sos")
    on, off, peak = [], [], []
    day_end = day.day_ns + 86400 * 10**9
    for a, b in runs_of(day.present):
        if b - a <= nlta + 30:
            continue
        x = day.values[a:b] - day.values[a:b].mean()
        if sos is not None:
            x = sosfiltfilt(sos, x)
        cft = recursive_sta_lta(np.ascontiguousarray(x), nsta, nlta)
        trig = trigger_onset(cft, params["thr_on"], params["thr_off"],
                             max_len=int(params["max_len_s"] * rate), max_len_delete=False)
        for i_on, i_off in trig:
            t_on = int(day.time_of(a + int(i_on)))
            if day.day_ns <= t_on < day_end:
                on.append(t_on)
                off.append(int(day.time_of(a + int(i_off))))
                peak.append(float(cft[int(i_on):int(i_off) + 1].max()))
    return {"time_ns": np.asarray(on, dtype=np.int64), "end_ns": np.asarray(off, dtype=np.int64),
            "peak": np.asarray(peak, dtype=np.float32)}


def coincidences(triggers: dict[str, dict[str, np.ndarray]], minimum: int
                 ) -> dict[str, np.ndarray]:
    """Network detections: triggers of at least `minimum` streams that overlap in time.

    As ObsPy's `coincidence_trigger`: in onset order, each trigger not yet in a detection
    opens one, which takes every later trigger of another stream starting before it ends.
    """
    rows = sorted((int(t), int(e), name) for name, tab in triggers.items()
                  for t, e in zip(tab["time_ns"], tab["end_ns"], strict=True))
    used = [False] * len(rows)
    out_t, out_e, out_c, out_s = [], [], [], []
    for i, (t, e, name) in enumerate(rows):
        if used[i]:
            continue
        members = {name: i}
        end = e
        for j in range(i + 1, len(rows)):
            tj, ej, nj = rows[j]
            if tj > e:
                break
            if not used[j] and nj not in members:
                members[nj] = j
                end = max(end, ej)
        if len(members) >= minimum:
            for j in members.values():
                used[j] = True
            out_t.append(t)
            out_e.append(end)
            out_c.append(len(members))
            out_s.append(",".join(sorted(members)))
    return {"time_ns": np.asarray(out_t, dtype=np.int64),
            "end_ns": np.asarray(out_e, dtype=np.int64),
            "count": np.asarray(out_c, dtype=np.int64), "streams": np.asarray(out_s, dtype=object)}
