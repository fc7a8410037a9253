"""The FDSN queries without the server: streamed miniSEED in pieces, availability spans,
FDSN times, over real SDS archives written by ObsPy (tests/conftest.py)."""

from __future__ import annotations

import glob
import io

import numpy as np
import pytest
from conftest import make_sds, run_cli
from obspy import Stream, UTCDateTime, read

from dashboard.webservices.params import parse_time
from pipelines.seismic.fdsn import availability as av
from pipelines.seismic.fdsn import dataselect as ds
from pipelines.seismic.fdsn.select import QueryError, Selection, code_patterns
from pipelines.store import open_store

START = UTCDateTime(2024, 3, 4, 22, 0, 0)
GAPS = [("XX.TST.00.HHZ", 600, 30), ("XX.TST.00.HHZ", 1800, 0.5), ("XX.TST.00.HHZ", 5000, 200)]


@pytest.fixture(scope="module")
def sds(tmp_path_factory):
    root = tmp_path_factory.mktemp("sds")
    out = tmp_path_factory.mktemp("store")
    make_sds(root, channels=("XX.TST.00.HHZ", "XX.TST..HHN"), rate=20.0, start=START,
             hours=3.0, gaps=GAPS)
    store = str(out / "s.zarr")
    res = run_cli("ingest", "seismic", str(root), "--store", store)
    assert res.returncode == 0, res.stderr + res.stdout
    files = sorted(glob.glob(str(root / "2024/XX/TST/HHZ.D/*")))
    return open_store(store), Stream([tr for f in files for tr in read(f)])


def test_pieces_join_into_the_source_traces_whatever_the_piece_size(sds):
    store, source = sds
    source = source.copy().merge(-1)  # one trace per contiguous run, as a reader sees them
    cuts = ds.plan([store], [Selection(code_patterns("network", "XX"), ("TST",), ("00",),
                                       ("HHZ",))], 10**9)
    assert [c.stream.name for c in cuts] == ["XX.TST.00.HHZ"]
    pieces = list(ds.miniseed_pieces(cuts, piece_samples=5000))
    assert len(pieces) > 10 and max(len(p) for p in pieces) < 5000 * 4
    got = read(io.BytesIO(b"".join(pieces)))
    assert len(got) == len(source) == len(GAPS) + 1
    for g, w in zip(got.sort(), source.sort(), strict=True):
        assert g.stats.starttime == w.stats.starttime
        np.testing.assert_array_equal(g.data, w.data)


def test_a_window_is_cut_on_the_grid_half_open(sds):
    store, source = sds
    t0, t1 = START + 100.01, START + 160.0  # t1 on a sample: not included
    sel = Selection(("XX",), ("TST",), ("00",), ("HHZ",), t0.ns, t1.ns)
    got = read(io.BytesIO(b"".join(ds.miniseed_pieces(ds.plan([store], [sel], 10**9)))))
    want = source.slice(t0, t1 - 1e-6, nearest_sample=False)
    assert got[0].stats.starttime == want[0].stats.starttime == START + 100.05
    np.testing.assert_array_equal(got[0].data, want[0].data)


def test_the_size_limit_is_checked_before_reading(sds):
    store, _ = sds
    with pytest.raises(ds.RequestTooLarge, match="1,000 samples"):
        ds.plan([store], [Selection()], 1000)


def test_empty_location_and_bad_codes():
    assert code_patterns("location", "--,00") == ("", "00")
    assert code_patterns("channel", "hh?") == ("HH?",)
    for bad in ("../x", "A/B", "X.Y"):
        with pytest.raises(QueryError, match="codes are letters"):
            code_patterns("network", bad)


def test_availability_spans_are_the_segment_list(sds):
    store, source = sds
    q = av.AvailabilityQuery()
    rows = av.sources([store], [Selection(location=("",))], q)
    assert [r.codes for r in rows] == [("XX", "TST", "", "HHN")]
    rows = av.sources([store], [Selection(location=("00",))], q)
    want = source.copy().merge(-1)
    assert len(rows[0].spans) == len(want)
    assert [UTCDateTime(ns=int(s)) for s in rows[0].spans[:, 0]] == [
        tr.stats.starttime for tr in want]
    merged = av.sources([store], [Selection(location=("00",))],
                        av.AvailabilityQuery(mergegaps_s=60.0))
    assert len(merged[0].spans) == 2  # the 30 s and 0.5 s gaps joined, the 200 s one kept


def test_merging_gaps_matches_a_plain_loop():
    rng = np.random.default_rng(3)
    starts = np.cumsum(rng.integers(1, 100, 5000))
    seg = np.stack([starts, starts + rng.integers(0, 1, 5000) + 1], axis=1).astype(np.int64)
    seg[:, 1] = np.minimum(seg[:, 1], np.concatenate([seg[1:, 0], [10**9]]))
    for tol in (0, 5, 50):
        out = [list(seg[0])]
        for s, e in seg[1:]:
            if s - out[-1][1] <= tol:
                out[-1][1] = e
            else:
                out.append([s, e])
        np.testing.assert_array_equal(av._merge_gaps(seg, tol), np.array(out))


def test_fdsn_times():
    assert parse_time("t", "2012-01-02T03:04:05.666666") == UTCDateTime(
        "2012-01-02T03:04:05.666666").ns
    assert parse_time("t", "2012-01-02T03:04:05Z") == UTCDateTime(2012, 1, 2, 3, 4, 5).ns
    assert parse_time("t", "2012-01-02") == UTCDateTime(2012, 1, 2).ns
    for bad in ("2012-01-02T25:00:00", "2012/01/02", "2300-01-01", "now"):
        with pytest.raises(QueryError):
            parse_time("starttime", bad)
