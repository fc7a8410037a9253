"""A small store of real ObsPy test files for the FDSN service tests, and a server over it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import obspy
from obspy import Trace, UTCDateTime

OBSPY = Path(obspy.__file__).parent
ANMO_SEED = OBSPY / "signal/tests/data/IUANMO.seed"  # IU.ANMO.00.LHZ, one day at 1 Hz
ANMO_XML = OBSPY / "signal/tests/data/IUANMO.xml"  # its StationXML with the full response
GAPS = OBSPY / "io/mseed/tests/data/gaps.mseed"  # BW.BGLD..EHE at 200 Hz, four runs
FLOAT32 = OBSPY / "io/mseed/tests/data/encoding/float32_Float32_littleEndian.mseed"
NERIES = OBSPY / "io/quakeml/tests/data/neries_events.xml"  # three events, no picks


def picked_events_file(folder: Path) -> Path:
    """A QuakeML file written by ObsPy: one event near ANMO on 2010-01-01 with P and S
    picks on IU.ANMO.00.LHZ (an arrival each), magnitude 5.1 Mw, 10 km deep."""
    from obspy.core.event import (
        Arrival,
        Catalog,
        Event,
        Magnitude,
        Origin,
        Pick,
        ResourceIdentifier,
        WaveformStreamID,
    )

    t = UTCDateTime(2010, 1, 1, 1, 30)
    picks = [Pick(time=t + dt, phase_hint=ph,
                  waveform_id=WaveformStreamID(seed_string="IU.ANMO.00.LHZ"))
             for ph, dt in (("P", 20.5), ("S", 36.25))]
    origin = Origin(time=t, latitude=35.5, longitude=-106.0, depth=10000.0,
                    arrivals=[Arrival(pick_id=p.resource_id, phase=p.phase_hint)
                              for p in picks])
    ev = Event(resource_id=ResourceIdentifier("smi:local/event/anmo-2010"), origins=[origin],
               magnitudes=[Magnitude(mag=5.1, magnitude_type="Mw")], picks=picks)
    path = folder / "anmo_events.xml"
    Catalog(events=[ev]).write(str(path), format="QUAKEML")
    return path


def float64_file(folder: Path) -> Path:
    """A FLOAT64 miniSEED file written by ObsPy (XX.F64..HHZ, 2 minutes at 10 Hz)."""
    path = folder / "XX.F64..HHZ.mseed"
    data = np.sin(np.arange(1200) / 7.0) * 1e-6
    Trace(data, header={"network": "XX", "station": "F64", "location": "", "channel": "HHZ",
                        "sampling_rate": 10.0,
                        "starttime": UTCDateTime(2021, 5, 1, 0, 0, 0.05)}).write(
        str(path), format="MSEED", encoding="FLOAT64")
    return path


def sources(folder: Path) -> list[Path]:
    """The miniSEED files ingested into the test store."""
    return [ANMO_SEED, GAPS, FLOAT32, float64_file(folder)]


def ingest(folder: Path, run_cli) -> str:
    """Ingest the files (with ANMO's StationXML and the two catalogues) into
    FOLDER/fdsn.zarr; returns its path."""
    store = str(folder / "fdsn.zarr")
    res = run_cli("ingest", "seismic", *map(str, sources(folder)), "--inventory", str(ANMO_XML),
                  "--events", str(NERIES), "--events", str(picked_events_file(folder)),
                  "--store", store)
    assert res.returncode == 0, res.stderr + res.stdout
    assert os.path.isdir(store)
    return store
