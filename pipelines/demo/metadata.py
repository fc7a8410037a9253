"""The synthetic network's metadata: StationXML with responses, QuakeML with theoretical picks."""

from __future__ import annotations

import math

import numpy as np
from obspy import UTCDateTime
from obspy.core.event import (
    Arrival,
    Catalog,
    Event,
    EventDescription,
    Magnitude,
    Origin,
    Pick,
    ResourceIdentifier,
    WaveformStreamID,
)
from obspy.core.inventory import Channel, Equipment, Inventory, Network, Site, Station
from obspy.core.inventory.response import (
    CoefficientsTypeResponseStage,
    InstrumentSensitivity,
    PolesZerosResponseStage,
    Response,
)

from pipelines.demo.network import (
    DIGITIZER_GAIN,
    LOCATION,
    NETWORK,
    SENSITIVITY,
    SENSOR_GAIN,
    STATIONS,
    sid_of,
)
from pipelines.demo.plan import Plan
from pipelines.demo.quakes import EARTH_RADIUS_KM, events_between, ray_path

_RID = "smi:local/belvedere/synthetic"


def _sensor_response(sr: int) -> Response:
    # Flat in velocity from 120 s (0.707 damping) to a ~250 Hz second-order corner.
    zeros = [0j, 0j]
    poles = [-0.03702 + 0.03702j, -0.03702 - 0.03702j, -1131.0 + 1131.0j, -1131.0 - 1131.0j]
    s = 2j * np.pi * 1.0
    a0 = 1.0 / abs(np.prod([s - z for z in zeros]) / np.prod([s - p for p in poles]))
    stages = [
        PolesZerosResponseStage(
            1, SENSOR_GAIN, 1.0, "M/S", "V", "LAPLACE (RADIANS/SECOND)", 1.0, zeros, poles,
            normalization_factor=float(a0), name="Synthetic Trillium 120-like sensor",
            input_units_description="Velocity in meters per second",
            output_units_description="Volts"),
        CoefficientsTypeResponseStage(
            2, DIGITIZER_GAIN, 1.0, "V", "COUNTS", "DIGITAL", numerator=[1.0], denominator=[],
            name="Synthetic 24-bit digitizer", input_units_description="Volts",
            output_units_description="Digital counts", decimation_input_sample_rate=float(sr),
            decimation_factor=1, decimation_offset=0, decimation_delay=0.0,
            decimation_correction=0.0),
    ]
    sens = InstrumentSensitivity(SENSITIVITY, 1.0, "M/S", "COUNTS",
                                 input_units_description="Velocity in meters per second",
                                 output_units_description="Digital counts")
    return Response(instrument_sensitivity=sens, response_stages=stages)


def inventory_of(plan: Plan) -> Inventory:
    """The StationXML inventory of a plan: one station per code, responses included."""
    t0, t1 = UTCDateTime(ns=plan.start_ns), UTCDateTime(ns=plan.end_ns)
    stations = []
    for code in plan.spec.stations:
        st = STATIONS[code]
        channels = [
            Channel(cha, LOCATION, st.latitude, st.longitude, st.elevation, 0.0,
                    azimuth={"Z": 0.0, "N": 0.0, "E": 90.0}[cha[-1]],
                    dip=-90.0 if cha.endswith("Z") else 0.0,
                    types=["CONTINUOUS", "GEOPHYSICAL"], sample_rate=float(st.sampling_rate),
                    sensor=Equipment(type="Broadband seismometer", manufacturer="Synthetic",
                                     model="T120-like", description=(
                                         "Synthetic broadband seismometer (Trillium 120-like)")),
                    data_logger=Equipment(type="Digitizer", manufacturer="Synthetic",
                                          model="24-bit",
                                          description="Synthetic 24-bit digitizer"),
                    response=_sensor_response(st.sampling_rate), start_date=t0, end_date=t1)
            for cha in st.channels
        ]
        stations.append(Station(code, st.latitude, st.longitude, st.elevation, channels=channels,
                                site=Site(name=st.site, region="Swiss Alps (synthetic)"),
                                creation_date=t0, start_date=t0, end_date=t1))
    net = Network(NETWORK, stations=stations, description="Belvedere synthetic network",
                  start_date=t0, end_date=t1)
    # A fixed creation time keeps the file byte-identical between runs.
    return Inventory(networks=[net], source="belvedere synthetic generator",
                     sender="belvedere", created=t0)


def catalog_of(plan: Plan) -> Catalog:
    """The QuakeML catalogue of a plan's span, with theoretical P and S picks and arrivals."""
    seed = plan.seed
    prefix = f"{_RID}/{seed}"
    events = []
    for ev in events_between(seed, plan.start_ns, plan.end_ns):
        base = f"{prefix}/{ev.key}"
        origin = Origin(resource_id=ResourceIdentifier(f"{base}/origin"),
                        time=UTCDateTime(ns=ev.time_ns), latitude=ev.latitude,
                        longitude=ev.longitude, depth=ev.depth_km * 1000.0,
                        depth_type="from location", evaluation_mode="manual",
                        evaluation_status="final")
        picks = []
        for code in plan.spec.stations:
            st = STATIONS[code]
            pth = ray_path(seed, ev, st)
            live = [c for c in st.channels if sid_of(code, c) != plan.spec.dead_channel]
            for phase, t_ns, cha in (("P", pth.p_ns, live[0]), ("S", pth.s_ns, live[-1])):
                pick = Pick(resource_id=ResourceIdentifier(f"{base}/pick/{code}/{phase}"),
                            time=UTCDateTime(ns=t_ns), phase_hint=phase,
                            waveform_id=WaveformStreamID(NETWORK, code, LOCATION, cha),
                            onset="impulsive" if phase == "P" else "emergent",
                            evaluation_mode="manual", evaluation_status="final")
                picks.append(pick)
                origin.arrivals.append(Arrival(
                    resource_id=ResourceIdentifier(f"{base}/arrival/{code}/{phase}"),
                    pick_id=pick.resource_id, phase=phase,
                    distance=math.degrees(pth.epi_km / EARTH_RADIUS_KM),
                    azimuth=round(pth.azimuth, 3), time_residual=0.0, time_weight=1.0))
        mag = Magnitude(resource_id=ResourceIdentifier(f"{base}/magnitude"), mag=ev.magnitude,
                        magnitude_type="ML", origin_id=origin.resource_id,
                        station_count=len(plan.spec.stations), evaluation_mode="manual")
        events.append(Event(
            resource_id=ResourceIdentifier(f"{base}"), event_type="earthquake",
            event_type_certainty="known", origins=[origin], magnitudes=[mag], picks=picks,
            preferred_origin_id=origin.resource_id, preferred_magnitude_id=mag.resource_id,
            event_descriptions=[EventDescription(f"Synthetic ML {ev.magnitude:.1f}, Swiss Alps",
                                                 "region name")]))
    return Catalog(events=events, resource_id=ResourceIdentifier(f"{prefix}/catalog"),
                   description="Belvedere synthetic catalogue (theoretical picks)")
