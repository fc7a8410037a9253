"""Segment lists: merged like a reference model, long ones stored as arrays (layout version
2) with a commit that readers never see half done, and version 1 streams (a JSON list in the
attribute) still read and written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as hs

from pipelines.store import Store, open_store
from pipelines.store.layout import SEGMENTS_INLINE
from pipelines.store.segments import cut_out, mask_of, merge_segments
from pipelines.timebase import NS

T0 = 1_717_200_000 * NS


def reference_merge(spans: list[tuple[int, int]]) -> list[list[int]]:
    """The union of spans, one span at a time (the loop the store used to run)."""
    out: list[list[int]] = []
    for s, e in sorted(spans, key=lambda x: x[0]):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


span = hs.tuples(hs.integers(0, 200), hs.integers(1, 30)).map(lambda t: (t[0], t[0] + t[1]))


@settings(max_examples=150, deadline=None)
@given(hs.lists(span, max_size=12), hs.lists(span, max_size=4), hs.integers(0, 240),
       hs.integers(0, 240))
def test_merge_cut_and_mask_agree_with_a_reference_model(old, new, a, b):
    seg = np.asarray(reference_merge(old), dtype=np.int64).reshape(-1, 2)
    got = merge_segments(seg, new)
    assert got.tolist() == reference_merge(old + new)
    lo, hi = min(a, b), max(a, b)
    covered = {i for s, e in seg.tolist() for i in range(s, e)}
    assert {i for s, e in cut_out(seg, lo, hi).tolist() for i in range(s, e)} == \
        covered - set(range(lo, hi))
    assert np.flatnonzero(mask_of(seg, lo, hi)).tolist() == \
        sorted(i - lo for i in covered if lo <= i < hi)


def gappy(store: Store, name: str, n_seg: int):
    """A 10 Hz stream of `n_seg` one-second runs two seconds apart (one write, then its
    segment list set as an ingest of so many gaps would leave it)."""
    w = store.create_stream(name, 10.0, T0, np.dtype("int32"), {})
    w.write(0, np.repeat(np.arange(n_seg, dtype=np.int32), 20))
    starts = T0 + np.arange(n_seg, dtype=np.int64) * 2 * NS
    w.segments = np.stack([starts, starts + NS], axis=1)  # every other second present
    w.commit()
    return w


def test_a_long_list_is_an_array_and_a_reader_open_before_a_commit_reads_its_whole_list(
        tmp_path: Path):
    path = str(tmp_path / "s.zarr")
    store = Store(path, mode="a")
    n = SEGMENTS_INLINE + 5
    w = gappy(store, "XX.GAP.00.HHZ", n)
    meta = json.loads((tmp_path / "s.zarr/XX.GAP.00.HHZ/zarr.json").read_text())["attributes"]
    assert meta["segments"]["count"] == n and meta["segments"]["array"] == "segments/1"
    assert meta["belvedere"]["layout_version"] == 2
    before = open_store(path)["XX.GAP.00.HHZ"]
    assert before.span_ns == (T0, T0 + (2 * (n - 1) + 1) * NS)  # from the attribute alone
    for k in range(n, n + 2):  # two more commits: generations 2 and 3
        if k == n + 1:
            mid = open_store(path)["XX.GAP.00.HHZ"]
        w.write(int(round(w.index_of(T0 + 2 * k * NS))), np.full(10, k, dtype=np.int32))
        w.commit()
    after = open_store(path)["XX.GAP.00.HHZ"]
    assert len(after.segments) == n + 2 and after.n_samples == 10 * (n + 2)
    # Generation 1 is gone, 2 and 3 are kept: a reader that opened at 2 still reads its list.
    assert sorted(p.name for p in (tmp_path / "s.zarr/XX.GAP.00.HHZ/segments").iterdir()
                  if p.is_dir()) == ["2", "3"]
    assert len(mid.segments) == n + 1
    # One that opened at 1 reads the current list rather than failing.
    assert len(before.segments) == n + 2
    np.testing.assert_array_equal(after.segments[:, 1] - after.segments[:, 0],
                                  np.full(n + 2, NS))
    assert [int(v[0]) for _, v in after.read_segments(T0 + 2 * n * NS)] == [n, n + 1]


def test_a_version_1_stream_with_a_long_json_list_opens_and_takes_new_samples(tmp_path):
    path = str(tmp_path / "s.zarr")
    store = Store(path, mode="a")
    gappy(store, "XX.OLD.00.HHZ", 3)
    # As version 1 wrote it: every segment inline in the attribute, the stream marked 1.
    old = [[T0 + 2 * k * NS, T0 + (2 * k + 1) * NS] for k in range(2000)]
    group = store.root["XX.OLD.00.HHZ"]
    attrs = dict(group.attrs)
    attrs["segments"] = old
    attrs["belvedere"] = {**attrs["belvedere"], "layout_version": 1}
    group.attrs.put(attrs)
    s = open_store(path)["XX.OLD.00.HHZ"]
    assert s.segments.tolist() == old and s.span_ns == (old[0][0], old[-1][1])
    w = Store(path, mode="a").writer("XX.OLD.00.HHZ")
    w.write(int(round(w.index_of(T0 + 4000 * NS))), np.ones(10, dtype=np.int32))
    w.commit()
    s = open_store(path)["XX.OLD.00.HHZ"]
    assert s.attrs["segments"]["count"] == 2001
    assert s.attrs["belvedere"]["layout_version"] == 2
    assert s.segments.tolist() == [*old, [T0 + 4000 * NS, T0 + 4001 * NS]]


def test_a_short_list_stays_inline(tmp_path):
    store = Store(str(tmp_path / "s.zarr"), mode="a")
    gappy(store, "XX.FEW.00.HHZ", 4)
    s = open_store(str(tmp_path / "s.zarr"))["XX.FEW.00.HHZ"]
    assert isinstance(s.attrs["segments"], list) and len(s.attrs["segments"]) == 4
    assert not (tmp_path / "s.zarr/XX.FEW.00.HHZ/segments").exists()


def test_the_presence_mask_of_many_runs_equals_one_slice_per_run():
    rng = np.random.default_rng(3)
    starts = np.cumsum(rng.integers(2, 40, 500))
    seg = np.stack([starts, starts + rng.integers(1, 2, 500)], axis=1)  # runs apart
    for i0, i1 in ((0, int(seg[-1, 1]) + 5), (37, 4000), (seg[10, 0], seg[300, 1])):
        want = np.zeros(i1 - i0, dtype=bool)
        for a, b in seg.tolist():
            want[max(a, i0) - i0:max(min(b, i1) - i0, 0)] = True
        got = mask_of(seg, int(i0), int(i1))
        assert want.sum() > 64 and np.array_equal(got, want)


def _gappy_file(path: Path, first_s: int, n: int) -> list:
    """An ObsPy-written Steim2 file of `n` one-second runs (10 Hz) two seconds apart."""
    from obspy import Stream, Trace, UTCDateTime

    rng = np.random.default_rng(first_s)
    traces = [Trace(np.cumsum(rng.integers(-50, 51, 10)).astype(np.int32), header={
        "network": "XX", "station": "ING", "location": "00", "channel": "HHZ",
        "sampling_rate": 10.0, "starttime": UTCDateTime(2024, 6, 1) + first_s + 2 * k})
        for k in range(n)]
    Stream(traces).write(str(path), format="MSEED", encoding="STEIM2", reclen=512)
    return traces


def test_a_file_of_many_gaps_ingests_sample_for_sample_and_fills_the_gaps_of_another(tmp_path):
    from pipelines.seismic.ingest import ingest_seismic

    even = _gappy_file(tmp_path / "even.mseed", 0, 400)
    odd = _gappy_file(tmp_path / "odd.mseed", 1, 400)  # exactly the gaps of the first
    store = str(tmp_path / "s.zarr")
    ingest_seismic(store, [str(tmp_path / "even.mseed")])
    s = open_store(store)["XX.ING.00.HHZ"]
    runs = s.read_segments()
    assert len(runs) == len(s.segments) == 400
    for (t, v), tr in zip(runs, even, strict=True):
        assert t == tr.stats.starttime.ns
        np.testing.assert_array_equal(v, tr.data)
    ingest_seismic(store, [str(tmp_path / "odd.mseed")])
    s = open_store(store)["XX.ING.00.HHZ"]
    (t, v), = s.read_segments()  # one run: the odd seconds filled every gap
    assert t == even[0].stats.starttime.ns and len(s.segments) == 1
    np.testing.assert_array_equal(v, np.concatenate([x for pair in zip(even, odd, strict=True)
                                                     for x in (pair[0].data, pair[1].data)]))
    win = s.read_window(*s.span_ns, max_points=100)
    assert np.nanmin(win.lo) == v.min() and np.nanmax(win.hi) == v.max()
