"""The FDSN web services of `belvedere serve`, asked by ObsPy's real FDSN client (and plain
HTTP for what it does not parse), over a store ingested from ObsPy's own test files."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
from browser import free_port, serve_process
from conftest import run_cli
from fdsn_archive import ANMO_SEED, ANMO_XML, FLOAT32, GAPS, NERIES, ingest
from lxml import etree
from obspy import UTCDateTime, read, read_events, read_inventory
from obspy.clients.fdsn import Client
from obspy.clients.fdsn.header import (
    FDSNBadRequestException,
    FDSNNoDataException,
    FDSNRequestTooLargeException,
)
from obspy.clients.fdsn.wadl_parser import WADLParser

PREFIX = "/bv"
MAX_SAMPLES = 100_000  # more than any one channel here, less than all of them together
ANMO_T0 = UTCDateTime(2010, 1, 1, 1, 0, 0.5)  # between samples: [t0, t1) is unambiguous
ANMO_T1 = UTCDateTime(2010, 1, 1, 3, 0, 0.5)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fdsn")
    return folder, ingest(folder, run_cli)


@pytest.fixture(scope="module")
def base(archive):
    port = free_port()
    args = ["--address", "127.0.0.1", "--store", archive[1], "--prefix", PREFIX]
    with serve_process(args, port, prefix=PREFIX, timeout=120,
                       env={"BELVEDERE_FDSN_MAX_SAMPLES": str(MAX_SAMPLES)}) as url:
        yield url


@pytest.fixture(scope="module")
def client(base):
    return Client(base)


def http(url: str, data: bytes | None = None, method: str | None = None):
    """(status, headers, body) of a plain HTTP request, errors included."""
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def same_traces(got, want) -> None:
    """Sample for sample, trace for trace (a gap is a new trace), same start times."""
    got, want = got.copy().sort(), want.copy().sort()
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        assert g.id == w.id
        assert g.stats.starttime == w.stats.starttime
        assert g.stats.sampling_rate == w.stats.sampling_rate
        assert g.data.dtype == w.data.dtype
        np.testing.assert_array_equal(g.data, w.data)


# -- discovery ------------------------------------------------------------------------------
def test_the_client_discovers_dataselect_and_station_under_the_prefix(client, base):
    assert {"dataselect", "station"} <= set(client.services)
    assert "starttime" in client.services["dataselect"]
    assert "level" in client.services["station"]
    for service in ("dataselect", "station", "availability", "event"):
        status, _, body = http(f"{base}/fdsnws/{service}/1/version")
        assert status == 200 and body.decode().replace(".", "").isdigit()
    assert http(base.replace(PREFIX, "") + "/fdsnws/dataselect/1/version")[0] == 404


def test_the_wadl_documents_parse_with_obspys_parser(base):
    for service in ("dataselect", "station"):
        body = http(f"{base}/fdsnws/{service}/1/application.wadl")[2]
        parsed = WADLParser(body).parameters
        assert {"starttime", "endtime", "network", "station", "location", "channel"} <= set(
            parsed)
        assert parsed["starttime"]["type"] is UTCDateTime
    parsed = WADLParser(http(f"{base}/fdsnws/event/1/application.wadl")[2]).parameters
    assert {"starttime", "minmagnitude", "latitude", "maxradius", "eventid", "orderby",
            "includearrivals", "limit"} <= set(parsed)
    assert parsed["minmagnitude"]["type"] is float
    body = http(f"{base}/fdsnws/availability/1/application.wadl")[2]
    doc = etree.fromstring(body)  # ObsPy's parser knows only dataselect, station and event
    ns = {"w": "http://wadl.dev.java.net/2009/02"}
    assert doc.xpath("//w:resources/@base", namespaces=ns)[0].endswith("/availability/1/")
    for method in ("extent", "query"):
        names = set(doc.xpath(f"//w:method[@id='{method}']/w:request/w:param/@name",
                              namespaces=ns))
        assert {"merge", "mergegaps", "show", "orderby", "limit", "format"} <= names


def test_answers_carry_cors_headers_and_preflight_succeeds(base):
    status, headers, _ = http(f"{base}/fdsnws/station/1/query?network=IU")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    status, headers, _ = http(f"{base}/fdsnws/dataselect/1/query", method="OPTIONS")
    assert status == 204 and "GET" in headers["Access-Control-Allow-Methods"]


# -- dataselect -----------------------------------------------------------------------------
def test_one_channel_comes_back_sample_for_sample_as_steim2(client, base):
    st = client.get_waveforms("IU", "ANMO", "00", "LHZ", ANMO_T0, ANMO_T1)
    same_traces(st, read(str(ANMO_SEED)).slice(ANMO_T0, ANMO_T1 - 0.1, nearest_sample=False))
    q = urllib.parse.urlencode({"net": "IU", "sta": "ANMO", "loc": "00", "cha": "LHZ",
                                "start": str(ANMO_T0)[:-1], "end": str(ANMO_T1)[:-1]})
    status, headers, body = http(f"{base}/fdsnws/dataselect/1/query?{q}")
    assert status == 200 and headers["Content-Type"] == "application/vnd.fdsn.mseed"
    raw = read(io.BytesIO(body), details=True)
    assert {tr.stats.mseed.encoding for tr in raw} == {"STEIM2"}


def test_gaps_stay_separate_traces_and_the_empty_location_is_dashes(client):
    st = client.get_waveforms("BW", "BGLD", "--", "EHE", UTCDateTime(2007, 12, 31),
                              UTCDateTime(2008, 1, 2))
    same_traces(st, read(str(GAPS)))
    assert len(st) == 4


def test_float_samples_keep_their_encoding_and_values(base):
    want = read(str(FLOAT32))
    q = urllib.parse.urlencode({"net": "XX", "sta": "TEST", "loc": "--", "cha": "BHE"})
    body = http(f"{base}/fdsnws/dataselect/1/query?{q}")[2]
    got = read(io.BytesIO(body), details=True)
    assert got[0].stats.mseed.encoding == "FLOAT32"
    same_traces(got, want)
    body = http(f"{base}/fdsnws/dataselect/1/query?net=XX&sta=F64&cha=HHZ")[2]
    got = read(io.BytesIO(body), details=True)
    assert got[0].stats.mseed.encoding == "FLOAT64" and got[0].data.dtype == np.float64
    assert got[0].stats.npts == 1200


def test_wildcards_and_lists_select_channels(client):
    t0, t1 = UTCDateTime(1990, 1, 1), UTCDateTime(2030, 1, 1)
    st = client.get_waveforms("IU,XX", "*", "*", "?H?", t0, t1)
    assert {tr.id for tr in st} == {"IU.ANMO.00.LHZ", "XX.TEST..BHE", "XX.F64..HHZ"}
    st = client.get_waveforms("*", "B?LD", "*", "E*", t0, t1)
    assert {tr.id for tr in st} == {"BW.BGLD..EHE"}


def test_bulk_requests_answer_every_line(client):
    lines = [("BW", "BGLD", "--", "EHE", UTCDateTime(2008, 1, 1, 0, 0, 0.0025),
              UTCDateTime(2008, 1, 1, 0, 0, 9.0025)),
             ("IU", "ANMO", "00", "LHZ", ANMO_T0, ANMO_T0 + 60)]
    st = client.get_waveforms_bulk(lines)
    want = (read(str(GAPS)).slice(lines[0][4], lines[0][5] - 0.001,
                                          nearest_sample=False)
            + read(str(ANMO_SEED)).slice(ANMO_T0, ANMO_T0 + 59.9, nearest_sample=False))
    same_traces(st, want)


def test_nothing_matching_is_204_or_404_when_asked(client, base):
    with pytest.raises(FDSNNoDataException):
        client.get_waveforms("IU", "ANMO", "00", "LHZ", UTCDateTime(2015, 1, 1),
                             UTCDateTime(2015, 1, 2))
    status, _, body = http(f"{base}/fdsnws/dataselect/1/query?net=ZZ")
    assert status == 204 and body == b""
    status, _, body = http(f"{base}/fdsnws/dataselect/1/query?net=ZZ&nodata=404")
    assert status == 404 and body.startswith(b"Error 404: Not Found")


def test_a_request_beyond_the_limit_is_413_naming_the_limit(client, base):
    with pytest.raises(FDSNRequestTooLargeException):
        client.get_waveforms("*", "*", "*", "*", UTCDateTime(1990, 1, 1),
                             UTCDateTime(2030, 1, 1))
    status, _, body = http(f"{base}/fdsnws/dataselect/1/query?net=*")
    assert status == 413
    assert f"{MAX_SAMPLES:,} samples".encode() in body and b"max_samples" in body


@pytest.mark.parametrize("query, words", [
    ("net=IU&colour=red", b"unknown parameter 'colour'"),
    ("net=IU&start=yesterday", b"starttime='yesterday' is not a time"),
    ("net=IU&start=2010-02-30T00:00:00", b"not a valid time"),
    ("net=IU&start=2010-01-02&end=2010-01-01", b"end time must be after the start time"),
    ("net=" + "A" * 10_000, b"10,000 characters long"),
    ("net=../../etc", b"codes are letters, digits"),
    ("net=IU&longestonly=maybe", b"write true or false"),
])
def test_bad_parameters_get_400_with_a_clear_message_and_no_traceback(base, query, words):
    for service in ("dataselect", "station", "availability"):
        path = "query" if service != "availability" else "extent"
        status, _, body = http(f"{base}/fdsnws/{service}/1/{path}?{query}")
        if b"longestonly" in query.encode() and service != "dataselect":
            assert status == 400 and b"unknown parameter 'longestonly'" in body
            continue
        assert status == 400, (service, body)
        assert body.startswith(b"Error 400: Bad Request") and words in body, body
        assert b"Traceback" not in body and b"Service version:" in body


def test_obspy_reports_a_bad_request_as_such(client):
    with pytest.raises(FDSNBadRequestException):
        client.get_waveforms("IU", "ANMO", "00", "LHZ", ANMO_T1, ANMO_T0)


def test_paths_outside_the_services_are_404_and_read_nothing(base):
    for path in ("/fdsnws/station/1/..%2F..%2F..%2Fetc%2Fpasswd", "/fdsnws/dataselect/2/query",
                 "/fdsnws/%2e%2e/%2e%2e/etc/passwd"):
        status, _, body = http(base + path)
        assert 400 <= status < 500, (path, status)
        assert b"root:" not in body and b"Traceback" not in body


def test_a_malformed_post_body_is_400(base):
    status, _, body = http(f"{base}/fdsnws/dataselect/1/query", data=b"IU ANMO 00\n")
    assert status == 400 and b"six fields" in body


# -- station --------------------------------------------------------------------------------
def test_stations_at_every_level_in_xml(client):
    full = read_inventory(str(ANMO_XML))
    nets = client.get_stations(level="network")
    assert {n.code for n in nets} == {"BW", "IU", "XX"} and not any(n.stations for n in nets)
    stas = client.get_stations(level="station")
    assert {f"{n.code}.{s.code}" for n in stas for s in n} == {"BW.BGLD", "IU.ANMO",
                                                                "XX.TEST", "XX.F64"}
    assert not any(s.channels for n in stas for s in n)
    chans = client.get_stations(level="channel")
    assert set(chans.get_contents()["channels"]) == {"BW.BGLD..EHE", "IU.ANMO.00.LHZ",
                                                      "XX.TEST..BHE", "XX.F64..HHZ"}
    anmo = chans.select(station="ANMO")[0][0][0]
    want = full.select(station="ANMO", channel="LHZ")[0][0][0]
    assert (anmo.latitude, anmo.longitude, anmo.sample_rate) == (want.latitude, want.longitude,
                                                                 want.sample_rate)
    assert anmo.response is None or not anmo.response.response_stages
    bgld = chans.select(station="BGLD")[0][0][0]  # no StationXML: what the store knows
    assert bgld.sample_rate == 200.0
    assert bgld.start_date == read(str(GAPS))[0].stats.starttime
    resp = client.get_stations(network="IU", channel="LHZ", level="response")
    got = resp[0][0][0].response
    assert len(got.response_stages) == len(want.response.response_stages)
    assert got.instrument_sensitivity.value == want.response.instrument_sensitivity.value


def test_stations_in_text_have_the_fdsn_header_and_parse(client, base):
    headers = {"network": "#Network|Description|StartTime|EndTime|TotalStations",
               "station": "#Network|Station|Latitude|Longitude|Elevation|SiteName|StartTime|"
                          "EndTime",
               "channel": "#Network|Station|Location|Channel|Latitude|Longitude|Elevation|"
                          "Depth|Azimuth|Dip|SensorDescription|Scale|ScaleFreq|ScaleUnits|"
                          "SampleRate|StartTime|EndTime"}
    for level, header in headers.items():
        body = http(f"{base}/fdsnws/station/1/query?level={level}&format=text")[2].decode()
        assert body.splitlines()[0] == header
        inv = client.get_stations(level=level, format="text")
        assert {n.code for n in inv} == {"BW", "IU", "XX"}
    inv = client.get_stations(level="channel", format="text", network="IU")
    assert inv.get_contents()["channels"] == ["IU.ANMO.00.LHZ"]


def test_station_selection_by_box_and_time(client):
    inv = client.get_stations(minlatitude=30, maxlatitude=40, level="station")
    assert [n.code for n in inv] == ["IU"]
    with pytest.raises(FDSNNoDataException):
        client.get_stations(network="IU", starttime=UTCDateTime(2020, 1, 1))


def test_station_selection_by_radius_across_the_antimeridian_and_by_update(client, base):
    from obspy.geodetics import locations2degrees

    anmo = read_inventory(str(ANMO_XML))[0][0]
    d = locations2degrees(35.0, -106.0, anmo.latitude, anmo.longitude)
    assert 0.3 < d < 0.8  # ANMO lies this far from (35, -106)
    inv = client.get_stations(latitude=35, longitude=-106, maxradius=d + 0.01, level="channel")
    assert inv.get_contents()["channels"] == ["IU.ANMO.00.LHZ"]  # the others have no place
    for kw in ({"maxradius": d - 0.01}, {"minradius": d + 0.01, "maxradius": 180}):
        with pytest.raises(FDSNNoDataException):
            client.get_stations(latitude=35, longitude=-106, **kw)
    # A box from 170 E to 100 W crosses the antimeridian and holds ANMO (106.5 W).
    assert [n.code for n in client.get_stations(minlongitude=170, maxlongitude=-100)] == ["IU"]
    with pytest.raises(FDSNNoDataException):
        client.get_stations(minlongitude=170, maxlongitude=-110)
    # Everything was ingested during this test run.
    assert {n.code for n in client.get_stations(updatedafter=UTCDateTime(2020, 1, 1))} == {
        "BW", "IU", "XX"}
    with pytest.raises(FDSNNoDataException):
        client.get_stations(updatedafter=UTCDateTime(2199, 1, 1))
    status, _, body = http(f"{base}/fdsnws/station/1/query?lat=35&lon=-106&minradius=5"
                           "&maxradius=2")
    assert status == 400 and b"minradius=5 must be less than maxradius=2" in body


# -- event ----------------------------------------------------------------------------------
def test_the_event_service_answers_obspys_client_from_the_catalogue(client, base):
    assert "event" in client.services
    assert "eventid" in client.services["event"]
    ref = {str(e.resource_id): e for e in read_events(str(NERIES))}
    cat = client.get_events()  # newest first, no picks unless asked
    assert len(cat) == len(ref) + 1
    times = [e.origins[0].time for e in cat]
    assert times == sorted(times, reverse=True)
    for ev in cat:
        if str(ev.resource_id) in ref:
            r = ref[str(ev.resource_id)]
            assert ev.origins[0].time == r.origins[0].time
            assert ev.origins[0].latitude == r.origins[0].latitude
            assert ev.magnitudes[0].mag == r.magnitudes[0].mag
        assert not ev.picks
    picked = client.get_events(includearrivals=True, minmagnitude=5)
    assert len(picked) == 1 and [p.phase_hint for p in picked[0].picks] == ["P", "S"]
    arrivals = picked[0].origins[0].arrivals
    assert {a.pick_id for a in arrivals} == {p.resource_id for p in picked[0].picks}
    near = client.get_events(latitude=35, longitude=-106, maxradius=1)
    assert [str(e.resource_id) for e in near] == ["smi:local/event/anmo-2010"]
    assert len(client.get_events(minlatitude=38, maxlatitude=40, minlongitude=30,
                                 maxlongitude=50)) == 2
    assert len(client.get_events(mindepth=5, maxdepth=12)) == 2  # 7 and 10 km
    assert [e.magnitudes[0].mag for e in client.get_events(orderby="magnitude-asc",
                                                           limit=2)] == [3.0, 4.3]
    one = client.get_events(eventid="20120404_0000038")
    assert [str(e.resource_id) for e in one] == ["quakeml:eu.emsc/event/20120404_0000038"]
    assert len(client.get_events(starttime=UTCDateTime(2012, 4, 4, 14, 10),
                                 endtime=UTCDateTime(2012, 4, 4, 14, 20))) == 1
    with pytest.raises(FDSNNoDataException):
        client.get_events(minmagnitude=9)
    status, _, body = http(f"{base}/fdsnws/event/1/query?format=text&orderby=time-asc")
    lines = body.decode().splitlines()
    assert status == 200 and lines[0].startswith("#EventID")
    assert [line.split("|")[0] for line in lines[1:]] == [
        "anmo-2010", "20120404_0000039", "20120404_0000038", "20120404_0000041"]
    assert lines[-1].split("|")[9:] == ["mb", "4.40", "", "KYRGYZSTAN"]
    assert read_events(io.StringIO(body.decode()), format="EVENTTXT")[0].origins[0].latitude == 35.5
    for path, root in (("catalogs", b"<Catalogs>"), ("contributors", b"<Contributors>")):
        status, _, body = http(f"{base}/fdsnws/event/1/{path}")
        assert status == 200 and root in body
    for query, words in (("orderby=depth", b"orderby='depth'"),
                         ("updatedafter=2020-01-01", b"updatedafter is not supported"),
                         ("minmag=abc", b"minmagnitude='abc' is not a number"),
                         ("catalog=ISC", b"catalog='ISC'")):
        status, _, body = http(f"{base}/fdsnws/event/1/query?{query}")
        assert status == 400 and words in body and b"Traceback" not in body, body


# -- availability ---------------------------------------------------------------------------
def avail(base: str, what: str, **params) -> tuple[int, str]:
    status, _, body = http(f"{base}/fdsnws/availability/1/{what}?"
                           + urllib.parse.urlencode(params))
    return status, body.decode()


def test_availability_query_lists_the_spans_in_every_format(base):
    src = read(str(GAPS))
    status, text = avail(base, "query", net="BW")
    lines = text.splitlines()
    assert status == 200 and lines[0].split() == ["#Network", "Station", "Location", "Channel",
                                                  "Quality", "SampleRate", "Earliest", "Latest"]
    assert len(lines) == 1 + len(src)
    first = lines[1].split()
    assert first[:3] == ["BW", "BGLD", "EHE"] and first[4] == "200"
    assert UTCDateTime(first[5]) == src[0].stats.starttime
    assert UTCDateTime(first[6]) == src[0].stats.endtime + 1 / 200  # one past the last sample
    status, text = avail(base, "query", net="BW", format="geocsv")
    assert text.splitlines()[0] == "#dataset: GeoCSV 2.0"
    assert text.splitlines()[4].split("|")[:4] == ["Network", "Station", "Location", "Channel"]
    assert len(text.splitlines()) == 5 + len(src)
    status, text = avail(base, "query", net="BW", format="json")
    spans = json.loads(text)["datasources"][0]["timespans"]
    assert [UTCDateTime(s[0]) for s in spans] == [tr.stats.starttime for tr in src]
    status, text = avail(base, "query", net="BW", format="request")
    assert text.splitlines()[0].split()[:4] == ["BW", "BGLD", "--", "EHE"]
    assert len(text.splitlines()) == len(src)


def test_availability_merges_gaps_drops_merged_columns_and_limits(base):
    _, text = avail(base, "query", net="BW", mergegaps="2.5")  # gaps 2.06, 2.06, 4.12 s
    assert len(text.splitlines()) == 1 + 2
    _, text = avail(base, "query", net="BW", merge="quality,samplerate")
    assert text.splitlines()[0].split() == ["#Network", "Station", "Location", "Channel",
                                            "Earliest", "Latest"]
    _, text = avail(base, "query", net="BW", show="latestupdate", limit="2")
    assert text.splitlines()[0].split()[-1] == "Updated" and len(text.splitlines()) == 3
    status, text = avail(base, "query", net="BW", merge="colour")
    assert status == 400 and "merge=colour" in text


def test_availability_extent_gives_one_row_per_channel(base):
    _, text = avail(base, "extent", orderby="timespancount_desc")
    rows = [line.split() for line in text.splitlines()[1:]]
    assert rows[0][:3] == ["BW", "BGLD", "EHE"] and rows[0][-2:] == ["4", "OPEN"]
    assert {r[0] + "." + r[1] for r in rows} == {"BW.BGLD", "IU.ANMO", "XX.TEST", "XX.F64"}
    _, text = avail(base, "extent", net="IU", format="json")
    src = json.loads(text)["datasources"][0]
    assert src["timespanCount"] == 1 and UTCDateTime(src["earliest"]) == read(
        str(ANMO_SEED))[0].stats.starttime
    status, text = avail(base, "extent", net="ZZ", nodata="404")
    assert status == 404


def test_belvederes_client_given_the_servers_url_reads_what_the_store_holds(archive, base):
    from belvedere import Client as BelvedereClient

    over_http, local = BelvedereClient(base), BelvedereClient(archive[1])
    for args in (("IU", "ANMO", "00", "LHZ", ANMO_T0, ANMO_T1),
                 ("BW", "BGLD", "", "EHE", UTCDateTime(2007, 12, 31, 23, 59, 59),
                  UTCDateTime(2008, 1, 1, 0, 0, 20))):
        got, want = over_http.get_waveforms(*args), local.get_waveforms(*args)
        assert len(want) > 0
        same_traces(got, want)
    inv = over_http.get_stations(network="IU", station="ANMO", level="response")
    assert inv.select(channel="LHZ")[0][0][0].response.instrument_sensitivity.value > 0
    # Events and availability through the event and availability services.
    for kw in ({}, {"minmagnitude": 4.0, "orderby": "time-asc"}, {"limit": 1}):
        got, want = over_http.get_events(**kw), local.get_events(**kw)
        assert len(want) > 0
        assert [str(e.resource_id) for e in got] == [str(e.resource_id) for e in want]
        assert [len(e.picks) for e in got] == [len(e.picks) for e in want]
    assert sum(len(e.picks) for e in over_http.get_events()) == 2
    for args in ((), ("BW", "*", "", "EH?"),
                 ("BW", "BGLD", "", "EHE", UTCDateTime(2008, 1, 1, 0, 0, 5),
                  UTCDateTime(2008, 1, 1, 0, 0, 15))):
        want = local.get_availability(*args)
        assert len(want) > 0 and over_http.get_availability(*args) == want
        assert over_http.get_availability_extent(*args) == local.get_availability_extent(*args)
    assert len(local.get_availability("BW")) == len(read(str(GAPS)))
    window = ("BW", "BGLD", "", "EHE", UTCDateTime(2007, 12, 31, 23, 59, 50),
              UTCDateTime(2008, 1, 1, 0, 1))
    pct = local.get_availability_percentage(*window)
    assert 0 < pct[0] < 1 and over_http.get_availability_percentage(*window) == pct


def test_the_overview_names_the_services_and_their_links_answer(archive, base):
    import panel as pn

    from dashboard.pages.overview import OverviewPage
    from dashboard.sources import Sources

    layout = OverviewPage(Sources([archive[1]]), {}).__panel__()
    text = " ".join(str(p.object) for p in layout.select(pn.pane.HTML))
    for service in ("dataselect", "station", "availability", "event"):
        assert f"./fdsnws/{service}/1/" in text
        with urllib.request.urlopen(f"{base}/fdsnws/{service}/1/", timeout=60) as r:
            assert r.status == 200


def test_the_share_panel_gives_the_service_root_and_a_dataselect_link_that_works(client, base):
    from dashboard.share import fdsn_html

    text = fdsn_html(f"{base}/waveforms", {"streams": "IU.ANMO.00.LH?",
                                          "from": "2010-01-01T01:00:00Z",
                                          "to": "2010-01-01T01:10:00Z"})
    assert f"<code>{base}/fdsnws/</code>" in text
    url = text.split("href='", 1)[1].split("'", 1)[0].replace("&amp;", "&")
    st = read(io.BytesIO(urllib.request.urlopen(url, timeout=60).read()))
    assert {tr.id for tr in st} == {"IU.ANMO.00.LHZ"} and st[0].stats.npts == 600
    # Codes whose product is wider than the view get no link (a GET cannot say them exactly).
    wide = fdsn_html(f"{base}/waveforms", {"streams": "IU.ANMO.00.LHZ,BW.BGLD..EHE",
                                          "from": "2010-01-01T01:00:00Z",
                                          "to": "2010-01-01T01:10:00Z"})
    assert "href=" not in wide and "/fdsnws/" in wide
