"""Small real archives for the analysis tests: Steim2 SDS files with coincident bursts and a
StationXML with a flat velocity response, written by ObsPy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import sds_path
from obspy import Stream, Trace, UTCDateTime
from obspy.core.inventory import Channel, Inventory, Network, Response, Site, Station

DAY0 = UTCDateTime(2024, 3, 4)
SENSITIVITY = 1.0e9  # counts per m/s, flat


def flat_inventory(path: Path, channels, rate: float) -> Path:
    """A StationXML whose channels have a flat velocity response of SENSITIVITY."""
    nets: dict[str, Network] = {}
    for ch in channels:
        net, sta, loc, cha = ch.split(".")
        n = nets.setdefault(net, Network(net, stations=[]))
        s = next((x for x in n.stations if x.code == sta), None)
        if s is None:
            s = Station(sta, 45.0, 6.0, 1000.0, site=Site(name=sta), creation_date=DAY0 - 86400)
            n.stations.append(s)
        resp = Response.from_paz(zeros=[], poles=[], stage_gain=SENSITIVITY,
                                 input_units="M/S", output_units="COUNTS")
        resp.instrument_sensitivity.frequency = 1.0
        s.channels.append(Channel(cha, loc, 45.0, 6.0, 1000.0, 0.0, azimuth=0.0, dip=-90.0,
                                  sample_rate=rate, start_date=DAY0 - 86400, response=resp))
    Inventory(networks=list(nets.values()), source="belvedere tests").write(
        str(path), format="STATIONXML")
    return path


def write_archive(root: Path, channels=("XX.AAA.00.HHZ", "XX.BBB.00.HHZ"), rate: float = 20.0,
                  days: int = 2, sigma: float = 1000.0, bursts_s=(3600.0 * 5, 86400 + 3600.0),
                  seed: int = 1, only_day: int | None = None,
                  gaps=()) -> dict[str, np.ndarray]:
    """White noise (std `sigma` counts) with bursts at the same times on every channel, one
    Steim2 file per channel-day, without the (channel, offset s, length s) `gaps`; returns
    each channel's samples from DAY0."""
    n = int(days * 86400 * rate)
    out = {}
    for k, ch in enumerate(channels):
        rng = np.random.default_rng(seed + k)
        x = rng.normal(0.0, sigma, n)
        for b in [b for b in bursts_s if b < days * 86400 - 60]:
            i = int((b + 2.0 * k) * rate)
            m = int(8 * rate)
            x[i:i + m] += 12 * sigma * np.sin(np.arange(m) * 2 * np.pi * 4 / rate) * \
                np.hanning(m)
        data = np.round(x).astype(np.int32)
        out[ch] = data
        net, sta, loc, cha = ch.split(".")
        for d in range(days):
            if only_day is not None and d != only_day:
                continue
            day = DAY0 + d * 86400
            i0 = int(d * 86400 * rate)
            keep = np.ones(int(86400 * rate), dtype=bool)
            for gch, off, length in gaps:
                if gch == ch:
                    keep[max(int(off * rate) - i0, 0):max(int((off + length) * rate) - i0, 0)] \
                        = False
            edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.view(np.int8), [0]])))
            traces = [Trace(data[i0 + a:i0 + b].copy(), header={
                "network": net, "station": sta, "location": loc, "channel": cha,
                "sampling_rate": rate, "starttime": day + a / rate})
                for a, b in zip(edges[::2], edges[1::2], strict=True)]
            path = sds_path(root, net, sta, loc, cha, day)
            path.parent.mkdir(parents=True, exist_ok=True)
            Stream(traces).write(str(path), format="MSEED", encoding="STEIM2", reclen=512)
    return out
