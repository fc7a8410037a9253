"""The demo recipe: ObsPy's own real files plus a synthetic network, ingested like real data.

Its three generators: `seismic` (the synthetic SDS archive, StationXML and QuakeML),
`mission` (LISA, LDC, light curve and housekeeping files), `usage` (jobs and node metrics).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Real recordings that ship inside ObsPy's wheel (relative to the obspy package folder).
REAL_MSEED = [
    "io/mseed/tests/data/CH.BALST..LHE.D.2025.314",  # one SDS day file, 1 Hz
    "io/mseed/tests/data/gaps.mseed",  # BW.BGLD..EHE, 200 Hz with gaps
    "core/tests/data/IU_ULN_00_LH1_2015-07-18T02.mseed",
    "clients/fdsn/tests/data/dataselect_example_wildcards.mseed",  # IU.ADK.00.BH?
]
REAL_STATIONXML = ["io/stationxml/tests/data/IRIS_single_channel_with_response.xml"]
REAL_QUAKEML = ["io/quakeml/tests/data/neries_events.xml"]


@dataclass(frozen=True)
class DemoInputs:
    """What the demo ingests."""

    mseed: list[str]
    stationxml: list[str]
    quakeml: list[str]


def obspy_files() -> DemoInputs:
    """Paths of the real miniSEED, StationXML and QuakeML files shipped inside ObsPy."""
    import obspy

    base = Path(obspy.__file__).parent
    pick = [str(base / p) for p in REAL_MSEED if (base / p).exists()]
    inv = [str(base / p) for p in REAL_STATIONXML if (base / p).exists()]
    qml = [str(base / p) for p in REAL_QUAKEML if (base / p).exists()]
    return DemoInputs(pick, inv, qml)


def default_demo_dir() -> Path:
    """Where `belvedere demo` keeps its archive and store unless told otherwise."""
    return Path(os.environ.get("BELVEDERE_DEMO_DIR", Path.cwd() / "belvedere-demo"))
