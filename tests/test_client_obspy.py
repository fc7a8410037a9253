"""belvedere.Client against ObsPy's own clients on the same archive: the SDS client's
waveforms, the tsindex client's availability (on ObsPy's tsindex test database), StationXML
and QuakeML as ObsPy reads them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import obspy
import pytest
from conftest import T0, make_sds, sds_path
from obspy import UTCDateTime, read, read_events, read_inventory
from obspy.clients.filesystem.sds import Client as SDSClient
from obspy.clients.filesystem.tsindex import Client as TSIndexClient

from belvedere import Client
from pipelines.seismic.ingest import ingest_seismic

OBSPY = Path(obspy.__file__).parent
GAPS_MSEED = OBSPY / "io/mseed/tests/data/gaps.mseed"  # BW.BGLD..EHE, 200 Hz, three gaps
TSINDEX = OBSPY / "clients/filesystem/tests/data/tsindex_data"
INVENTORY = OBSPY / "io/stationxml/tests/data/IRIS_single_channel_with_response.xml"
EVENTS = OBSPY / "io/quakeml/tests/data/neries_events.xml"
CHANNELS = ("XX.TST.00.HHZ", "XX.TST.00.HHN", "XX.TWO.10.HHZ")


def _copy_into_sds(root: Path, path: Path) -> None:
    """A real file copied byte for byte to the SDS path of its first trace's day."""
    tr = read(str(path), headonly=True)[0]
    day = UTCDateTime(tr.stats.starttime.date)
    if tr.stats.starttime.hour == 23:  # gaps.mseed starts 85 ms before midnight
        day += 86400
    dest = sds_path(root, tr.stats.network, tr.stats.station, tr.stats.location,
                    tr.stats.channel, day)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, dest)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """An SDS archive (synthetic Steim2 channels with gaps, across midnight, plus ObsPy's
    real gaps.mseed and tsindex files) ingested into a store; (sds root, store path)."""
    base = tmp_path_factory.mktemp("client")
    root = base / "sds"
    make_sds(root, channels=CHANNELS, rate=20.0, hours=4.0,
             gaps=[("XX.TST.00.HHZ", 1800, 600.0), ("XX.TST.00.HHZ", 7300, 0.5),
                   ("XX.TWO.10.HHZ", 3 * 3600, 3600)])
    _copy_into_sds(root, GAPS_MSEED)
    for f in sorted(TSINDEX.rglob("*.mseed")):
        _copy_into_sds(root, f)
    store = str(base / "store.zarr")
    report = ingest_seismic(store, [str(root)], [str(INVENTORY)], [str(EVENTS)])
    assert not [i for i in report.issues if "StationXML matches none" not in i.reason]
    return root, store


def _same(a: obspy.Stream, b: obspy.Stream, start_tol: float = 0.0) -> None:
    """Trace for trace and sample for sample (ids, start within `start_tol` samples, rate,
    dtype, values)."""
    a, b = a.copy().sort(), b.copy().sort()
    assert [tr.id for tr in a] == [tr.id for tr in b]
    for x, y in zip(a, b, strict=True):
        assert abs(x.stats.starttime - y.stats.starttime) <= start_tol * x.stats.delta, (x, y)
        assert x.stats.sampling_rate == y.stats.sampling_rate
        assert x.stats.npts == y.stats.npts, (x, y)
        assert x.data.dtype == y.data.dtype
        np.testing.assert_array_equal(x.data, y.data)


REQUESTS = [
    ("XX", "TST", "00", "HHZ", T0 + 1500, T0 + 2700),  # across a 10 min gap: two traces
    ("XX", "TST", "00", "HH?", T0 + 7000, T0 + 7600),  # a half-second gap on HHZ only
    ("XX", "*", "*", "HHZ", T0 + 3000, T0 + 4 * 3600),  # wildcards, across midnight
    ("X?", "T*", "*", "*", T0 + 7199.93, T0 + 7200.12),  # across midnight's day files
    ("XX", "TWO", "10", "HHZ", T0 + 3 * 3600 + 60, T0 + 3 * 3600 + 120),  # inside a gap
    ("BW", "BGLD", "", "EHE", UTCDateTime(2007, 12, 31, 23, 59), UTCDateTime(2008, 1, 1, 0, 1)),
    ("BW", "BGLD", "*", "EH?", UTCDateTime(2008, 1, 1, 0, 0, 3), UTCDateTime(2008, 1, 1, 0, 0, 12)),
    ("IU,CU", "*", "*", "BHZ", UTCDateTime(2018, 1, 1, 0, 0, 10),
     UTCDateTime(2018, 1, 1, 0, 0, 20)),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: ".".join(r[:4]))
def test_get_waveforms_equals_obspys_sds_client_trace_for_trace(archive, request_):
    root, store = archive
    net, sta, loc, cha, t0, t1 = request_
    mine = Client(store).get_waveforms(net, sta, loc, cha, t0, t1)
    sds = SDSClient(str(root))
    theirs = obspy.Stream()
    for n in net.split(","):  # the SDS client takes one pattern per code
        theirs += sds.get_waveforms(n, sta, loc, cha, t0, t1)
    # The IU files' record headers drift by up to 36 us (1.4e-3 sample) from the grid of
    # their first sample, and the SDS client starts a cut trace at its first record's
    # header time; the store (as obspy.read of the whole file) keeps the first sample's grid.
    _same(mine, theirs, start_tol=0.01 if net.startswith("IU") else 0.0)
    if "TWO" in sta:
        assert len(mine) == 0  # a window inside a gap holds no trace at all


def test_window_edges_between_samples_keep_the_nearest_sample_as_obspys_trim(archive):
    # The SDS client reads only the miniSEED records that overlap the window, and then trims
    # to the nearest sample: a sample just outside the window is kept or not depending on
    # where its record ends. The store keeps no records, so the answer is always that of
    # ObsPy's trim over the whole archive (obspy.read of every file, merged, trimmed).
    root, store = archive
    t0, t1 = T0 + 7199.97, T0 + 7200.02  # 23:59:59.97 to 00:00:00.02, samples every 0.05 s
    mine = Client(store).get_waveforms("X?", "T*", "*", "*", t0, t1)
    whole = obspy.Stream()
    for f in sorted(root.rglob("XX.*")):
        whole += read(str(f))
    whole.merge(-1)
    whole.trim(t0, t1)
    _same(mine, whole)
    assert all(tr.stats.starttime == T0 + 7199.95 and tr.stats.npts == 2 for tr in mine)


def test_gaps_are_separate_traces_and_merge_follows_obspy(archive):
    root, store = archive
    c, sds = Client(store), SDSClient(str(root))
    t0, t1 = UTCDateTime(2007, 12, 31, 23, 59), UTCDateTime(2008, 1, 1, 0, 5)
    st = c.get_waveforms("BW", "BGLD", "", "EHE", t0, t1)
    assert len(st) == 4  # gaps.mseed has three gaps
    _same(st, read(str(GAPS_MSEED)))
    # merge=0 fills gaps with a masked array, as ObsPy's SDS client does
    merged = c.get_waveforms("BW", "BGLD", "", "EHE", t0, t1, merge=0)
    theirs = sds.get_waveforms("BW", "BGLD", "", "EHE", t0, t1, merge=0)
    assert len(merged) == len(theirs) == 1
    assert np.ma.is_masked(merged[0].data) and np.ma.is_masked(theirs[0].data)
    np.testing.assert_array_equal(merged[0].data.mask, theirs[0].data.mask)
    np.testing.assert_array_equal(merged[0].data.filled(0), theirs[0].data.filled(0))
    unmerged = c.get_waveforms("XX", "TST", "00", "HHZ", T0, T0 + 4 * 3600, merge=None)
    assert len(unmerged) == 3  # two gaps: three runs, whatever the day files


def test_bulk_is_the_requests_added_together(archive):
    root, store = archive
    c, sds = Client(store), SDSClient(str(root))
    bulk = [r for r in REQUESTS if "," not in r[0]][:4]
    _same(c.get_waveforms_bulk(bulk), sds.get_waveforms_bulk(bulk))


def test_all_nslc_equals_sds_client(archive):
    root, store = archive
    assert Client(store).get_all_nslc() == SDSClient(str(root)).get_all_nslc()
    day = UTCDateTime(2008, 1, 1)
    assert Client(store).get_all_nslc(datetime=day) == [("BW", "BGLD", "", "EHE")]


def test_end_before_start_is_refused_as_obspy_does(archive):
    _, store = archive
    with pytest.raises(ValueError, match="'endtime' must be after 'starttime'"):
        Client(store).get_waveforms("XX", "TST", "00", "HHZ", T0 + 10, T0)


@pytest.fixture(scope="module")
def tsindex():
    return TSIndexClient(str(TSINDEX / "timeseries.sqlite"), datapath_replace=("^", str(TSINDEX)))


def _close(a: list[tuple], b: list[tuple], tol: float) -> None:
    assert len(a) == len(b), (a, b)
    for x, y in zip(a, b, strict=True):
        assert x[:4] == y[:4]
        for u, v in zip(x[4:6], y[4:6], strict=True):
            assert abs(UTCDateTime(u) - UTCDateTime(v)) <= tol, (x, y)
        assert x[6:] == y[6:]


AVAIL = [
    dict(network="IU", channel="BHZ"),
    dict(network="*", station="*", location="*", channel="BH?"),
    dict(network="IU,CU", station="ANMO,TGUH", location="*", channel="*"),
    dict(network="IU", starttime=UTCDateTime(2018, 1, 1, 0, 0, 30),
         endtime=UTCDateTime(2018, 1, 1, 0, 0, 40)),
    dict(network="IU", starttime=UTCDateTime(2018, 1, 2), endtime=UTCDateTime(2018, 1, 3)),
]


@pytest.mark.parametrize("query", AVAIL)
@pytest.mark.parametrize("rate", [False, True])
def test_availability_equals_obspys_tsindex_client(archive, tsindex, query, rate):
    _, store = archive
    mine = Client(store).get_availability(**query, include_sample_rate=rate)
    theirs = tsindex.get_availability(**query, include_sample_rate=rate)
    _close(mine, theirs, 1e-4)  # tsindex keeps float seconds; the store, ns
    if "starttime" in query and query["starttime"].day == 2:
        assert mine == []


def test_availability_extent_nslc_and_percentage_equal_tsindex(archive, tsindex):
    _, store = archive
    c = Client(store)
    _close(c.get_availability_extent(network="IU"), tsindex.get_availability_extent(
        network="IU"), 1e-4)
    assert c.get_nslc(network="IU,CU") == tsindex.get_nslc(network="IU,CU")
    for t0, t1 in [(UTCDateTime(2018, 1, 1, 0, 0, 0, 19500), UTCDateTime(2018, 1, 1, 0, 1, 57)),
                   (UTCDateTime(2017, 12, 31, 23, 59), UTCDateTime(2018, 1, 1, 0, 0, 30)),
                   (UTCDateTime(2018, 2, 1), UTCDateTime(2018, 2, 2))]:
        mine = c.get_availability_percentage("IU", "ANMO", "10", "BHZ", t0, t1)
        theirs = tsindex.get_availability_percentage("IU", "ANMO", "10", "BHZ", t0, t1)
        assert mine[1] == theirs[1]
        assert mine[0] == pytest.approx(theirs[0], abs=1e-5)
    assert c.has_data("CU") and not c.has_data("CU", starttime=UTCDateTime(2019, 1, 1))


def test_availability_follows_the_segments_of_a_gappy_stream(archive):
    _, store = archive
    c = Client(store)
    spans = c.get_availability("XX", "TST", "00", "HHZ")
    assert [(s[4], s[5]) for s in spans] == [
        (T0, T0 + 1800 - 0.05), (T0 + 2400, T0 + 7300 - 0.05),
        (T0 + 7300.5, T0 + 4 * 3600 - 0.05)]
    frac, gaps = c.get_availability_percentage("XX", "TST", "00", "HHZ", T0, T0 + 4 * 3600)
    assert gaps == 3  # two gaps inside, and the last sample is a period before the end
    assert frac == pytest.approx(1 - (600.05 + 0.55 + 0.05) / (4 * 3600), abs=1e-9)


def test_get_stations_gives_the_kept_stationxml_and_what_the_store_knows(archive):
    _, store = archive
    c = Client(store)
    ref = read_inventory(str(INVENTORY))
    net = ref[0].code
    resp = c.get_stations(network=net, level="response")
    chan = resp.select(network=net)[0][0][0]
    ref_chan = ref[0][0][0]
    assert (chan.code, chan.latitude, chan.longitude) == (
        ref_chan.code, ref_chan.latitude, ref_chan.longitude)
    assert chan.response.instrument_sensitivity.value == \
        ref_chan.response.instrument_sensitivity.value
    assert len(chan.response.response_stages) == len(ref_chan.response.response_stages)
    assert c.get_stations(network=net, level="channel")[0][0][0].response is None
    stations = c.get_stations(level="station")
    assert all(len(s.channels) == 0 for n in stations for s in n)
    # Streams no StationXML describes come from the store's attributes.
    xx = c.get_stations(network="XX", station="TST", channel="HH?", level="channel")
    assert sorted(ch.code for ch in xx[0][0]) == ["HHN", "HHZ"]
    assert xx[0][0][0].sample_rate == 20.0
    assert len(c.get_stations(network="XX,BW", level="network").networks) == 2


def test_get_events_gives_the_quakeml_catalogue(archive):
    _, store = archive
    ref = read_events(str(EVENTS))
    cat = Client(store).get_events(orderby="time-asc")
    assert len(cat) == len(ref)
    by_id = {str(e.resource_id): e for e in ref}
    for ev in cat:
        r = by_id[str(ev.resource_id)]
        o, ro = ev.preferred_origin(), r.preferred_origin() or r.origins[0]
        assert o.time == ro.time and o.latitude == ro.latitude and o.depth == ro.depth
        assert ev.preferred_magnitude().mag == (r.preferred_magnitude() or r.magnitudes[0]).mag
    times = [e.origins[0].time for e in cat]
    assert times == sorted(times)
    big = Client(store).get_events(minmagnitude=4.0)
    assert len(big) == sum(1 for e in ref if (e.preferred_magnitude() or e.magnitudes[0]).mag
                           >= 4.0) > 0
    assert len(Client(store).get_events(limit=1)) == 1


def test_a_path_that_is_no_store_says_so(tmp_path):
    from pipelines.store import StoreError

    with pytest.raises(StoreError, match="no store"):
        Client(str(tmp_path / "missing.zarr"))
