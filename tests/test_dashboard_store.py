"""A small seismic store for the dashboard tests, built with the store's writer API.

Other dashboard test modules import `build_store` and the constants from here; the tests in this
module check that the store holds what those tests assume (so a failure points here first).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.store import open_store
from pipelines.timebase import NS

T0_NS = 1_709_251_200 * NS  # 2024-03-01T00:00:00Z: historical, like the demo data
HOURS = 4
GAP_NS = (T0_NS + 90 * 60 * NS, T0_NS + 120 * 60 * NS)  # 01:30-02:00 missing on ALPA HHZ
QUAKE_NS = T0_NS + 150 * 60 * NS  # 02:30, an "earthquake" every station records
SENSITIVITY = 6.3e8  # counts per m/s
STATIONS = {  # name -> (latitude, longitude, distance to the quake in km)
    "ALPA": (46.50, 7.50, 20.0),
    "BETA": (46.80, 8.10, 60.0),
    "GAMA": (46.20, 8.40, 95.0),
}
STREAMS = {  # stream -> (sampling rate, station)
    "BV.ALPA.00.HHZ": (100.0, "ALPA"),
    "BV.ALPA.00.HHN": (100.0, "ALPA"),
    "BV.BETA.00.HHZ": (100.0, "BETA"),
    "BV.GAMA.00.BHZ": (20.0, "GAMA"),
}
NOISE = 300.0  # counts, standard deviation of the background
QUAKE_PEAK = 200_000.0  # counts, peak of the burst


def synthetic_trace(rate: float, station: str, seed: int) -> np.ndarray:
    """Noise, a microseism and an earthquake burst arriving after a distance-dependent delay."""
    rng = np.random.default_rng(seed)
    n = int(HOURS * 3600 * rate)
    t = np.arange(n) / rate
    x = rng.normal(0.0, NOISE, n) + 800.0 * np.sin(2 * np.pi * 0.18 * t)
    arrival = (QUAKE_NS - T0_NS) / NS + STATIONS[station][2] / 6.0  # P at 6 km/s
    after = t - arrival
    on = after >= 0
    burst = QUAKE_PEAK * np.exp(-after[on] / 40.0) * np.sin(2 * np.pi * min(5.0, rate / 4)
                                                             * after[on])
    x[on] += burst
    return x.astype(np.int32)


def build_store(path: str) -> str:
    """Write the test store at `path` (about a second) and return its path."""
    st = open_store(path, "a")
    for seed, (name, (rate, station)) in enumerate(STREAMS.items()):
        lat, lon, _ = STATIONS[station]
        attrs = {"coordinates": {"latitude": lat, "longitude": lon, "elevation": 800.0},
                 "station_name": station.title(), "network": "BV", "station": station}
        if station != "BETA":  # BETA has no StationXML: it stays in counts
            attrs["sensitivity"] = {"value": SENSITIVITY, "input_units": "M/S",
                                    "output_units": "COUNTS"}
        values = synthetic_trace(rate, station, seed)
        w = st.create_stream(name, rate, T0_NS, np.int32, attrs)
        i0 = round(w.index_of(T0_NS))
        if name == "BV.ALPA.00.HHZ":
            g0, g1 = (round(w.index_of(g)) - i0 for g in GAP_NS)
            w.write(i0, values[:g0])
            w.write(i0 + g1, values[g1:])
        else:
            w.write(i0, values)
        w.update_pyramid(i0, i0 + len(values))
        w.commit()
    st.set_events([
        {"id": "ev1", "time_ns": QUAKE_NS, "latitude": 46.4, "longitude": 7.7,
         "depth_m": 10000.0, "magnitude": 4.2, "picks": [
             {"stream": "BV.ALPA.00.HHZ", "phase": "P",
              "time_ns": QUAKE_NS + int(STATIONS["ALPA"][2] / 6.0 * NS)}]},
        {"id": "ev2", "time_ns": T0_NS + 30 * 60 * NS, "latitude": 46.9, "longitude": 8.0,
         "depth_m": 5000.0, "magnitude": 1.1, "picks": []},
    ])
    return path


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> str:
    return build_store(str(tmp_path_factory.mktemp("dash") / "test.zarr"))


def test_store_holds_what_the_dashboard_tests_assume(store_path):
    st = open_store(store_path)
    assert st.streams() == sorted(STREAMS)
    hhz = st["BV.ALPA.00.HHZ"]
    assert hhz.span_ns == (T0_NS, T0_NS + HOURS * 3600 * NS)
    assert [tuple(g) for g in hhz.gaps()] == [GAP_NS]
    assert st["BV.GAMA.00.BHZ"].sampling_rate == 20.0
    assert [e["id"] for e in st.events()] == ["ev2", "ev1"]
    # The burst is in the pyramid: the envelope near the quake is far above the noise.
    w = hhz.read_window(QUAKE_NS, QUAKE_NS + 60 * NS, max_points=100)
    assert w.level > 0 and np.nanmax(w.hi) > 50 * NOISE
