"""The probability density of stored PSDs (pipelines.analysis.noise_stats) against ObsPy's own
PPSD.calculate_histogram / get_mode / get_percentile on the same PSDs: the real IU.ANMO day
ObsPy ships, and the same PSDs spread over a year to exercise the time-of-day, weekday and
month selections."""

from __future__ import annotations

import copy
import os

import numpy as np
import obspy
import pytest
from obspy import UTCDateTime, read, read_inventory
from obspy.signal import PPSD

from pipelines.analysis import noise_stats as ns
from pipelines.analysis import psd

DATA = os.path.join(os.path.dirname(obspy.__file__), "signal", "tests", "data")
SEED, XML = os.path.join(DATA, "IUANMO.seed"), os.path.join(DATA, "IUANMO.xml")


@pytest.fixture(scope="module")
def anmo():
    st = read(SEED)
    tr = st[0]
    _, periods = psd.period_grid(tr.stats.sampling_rate)
    ppsd = PPSD(tr.stats, read_inventory(XML), skip_on_gaps=True,
                period_limits=(periods[0], periods[-1]))
    ppsd.add(st)
    return ppsd


def _spread(anmo: PPSD, n: int = 600, seed: int = 3) -> PPSD:
    """A PPSD holding the ANMO PSDs (with offsets) at random half-hours of 2023, inserted as
    PPSD.add inserts each one it computes."""
    rng = np.random.default_rng(seed)
    out = copy.deepcopy(anmo)  # the same binning, its PSDs replaced
    base = np.array(anmo._binned_psds)
    out._times_processed, out._binned_psds = [], []
    t0 = UTCDateTime(2023, 1, 1).ns
    slots = rng.choice(365 * 48, size=n, replace=False)
    for k, slot in enumerate(slots):
        spec = (base[k % len(base)] + rng.normal(0, 4)).astype(np.float32)
        out._PPSD__insert_processed_data(UTCDateTime(ns=int(t0 + slot * 1800 * 10**9)), spec)
    return out


def _ours(ppsd: PPSD, **sel):
    times = np.array(ppsd._times_processed, dtype=np.int64)
    db = np.array(ppsd._binned_psds)
    edges = ppsd.db_bin_edges
    idx = ns.bin_index(db, edges)
    keep = ns.select(times, **sel)
    return ns.histogram(idx, keep, len(edges) - 1), edges, keep


def _check(ppsd: PPSD, ours, edges) -> None:
    hist = ours
    ref = ppsd.current_histogram
    assert hist.shape == ref.shape
    assert np.array_equal(hist, ref)
    assert np.array_equal(ns.cumulative(hist), ppsd.current_histogram_cumulative)
    have = hist.sum(axis=1) > 0
    assert np.array_equal(ns.mode(hist, edges)[have], ppsd.get_mode()[1][have])
    for q in (0, 5, 10, 50, 90, 95, 100):
        assert np.array_equal(ns.percentile(hist, edges, q)[have],
                              ppsd.get_percentile(q)[1][have]), q


def test_the_whole_day_stacks_as_ppsd_does(anmo):
    assert len(anmo._times_processed) == 47
    ppsd_edges = ns.db_edges()
    assert np.array_equal(ppsd_edges, anmo.db_bin_edges)
    anmo.calculate_histogram()
    hist, edges, keep = _ours(anmo)
    assert keep.all() and hist.sum() > 0
    _check(anmo, hist, edges)
    pct = ns.density_percent(hist)
    assert np.allclose(np.nansum(pct, axis=1)[hist.sum(axis=1) > 0], 100.0)


def test_time_of_day_selection_matches_and_changes_the_stack(anmo):
    anmo.calculate_histogram(time_of_weekday=[(-1, 0.0, 6.0)])
    hist, edges, keep = _ours(anmo, hours=(0.0, 6.0))
    # the segments start 69.5 ms after each half hour: 06:00:00.07 is past 6 h
    assert keep.sum() == len(anmo.current_times_used) == 12
    _check(anmo, hist, edges)
    anmo.calculate_histogram()
    assert not np.array_equal(hist, anmo.current_histogram)


@pytest.mark.parametrize("sel", [
    {"hours": (22.0, 24.0)},
    {"weekdays": [6, 7]},
    {"weekdays": [1, 2, 3, 4, 5], "hours": (8.0, 17.5)},
    {"months": [12, 1, 2]},
    {"months": [7], "hours": (0.0, 4.0), "weekdays": [3]},
    {"t0_ns": UTCDateTime(2023, 3, 1).ns, "t1_ns": UTCDateTime(2023, 6, 1).ns},
])
def test_weekday_month_and_range_selections_over_a_year_match_ppsd(anmo, sel):
    ppsd = _spread(anmo)
    kwargs = {}
    if "hours" in sel or "weekdays" in sel:
        h0, h1 = sel.get("hours", (0.0, 24.0))
        kwargs["time_of_weekday"] = [(d, h0, h1) for d in sel.get("weekdays", [-1])]
    if "months" in sel:
        kwargs["month"] = sel["months"]
    if "t0_ns" in sel:
        kwargs["starttime"], kwargs["endtime"] = (UTCDateTime(ns=sel["t0_ns"]),
                                                  UTCDateTime(ns=sel["t1_ns"]))
    ppsd.calculate_histogram(**kwargs)
    hist, edges, keep = _ours(ppsd, **sel)
    assert 0 < keep.sum() == len(ppsd.current_times_used) < len(ppsd._times_processed)
    assert np.array_equal(np.array(ppsd._times_processed)[keep],
                          [t.ns for t in ppsd.current_times_used])
    _check(ppsd, hist, edges)


def test_calendar_fields_agree_with_utcdatetime():
    rng = np.random.default_rng(0)
    times = rng.integers(-10**18, 4 * 10**18, 500)
    d = ns.time_details(times)
    for t, h, w, m, y in zip(times[:200], d.hour, d.weekday, d.month, d.year, strict=False):
        u = UTCDateTime(ns=int(t))
        assert (w, m, y) == (u.isoweekday(), u.month, u.year)
        assert abs(h - u._get_hours_after_midnight()) < 1e-3


def test_nan_values_are_counted_nowhere():
    db = np.array([[-120.0, np.nan], [-130.0, -140.0], [-500.0, 0.0]])
    edges = ns.db_edges()
    idx = ns.bin_index(db, edges)
    assert idx[0, 1] == -1 and idx[2, 0] == 0 and idx[2, 1] == len(edges) - 2
    hist = ns.histogram(idx, None, len(edges) - 1)
    assert hist[0].sum() == 3 and hist[1].sum() == 2
    empty = ns.histogram(idx, np.zeros(3, dtype=bool), len(edges) - 1)
    assert np.isnan(ns.mode(empty, edges)).all()
    assert np.isnan(ns.percentile(empty, edges, 50)).all()


def test_stored_centi_db_bin_by_table_as_their_float_values_do():
    from pipelines.store.products import from_centi_db

    raw = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16).reshape(-1, 128)
    edges = ns.db_edges()
    assert np.array_equal(ns.bin_index_centi(raw, ns.centi_db_lut(edges)),
                          ns.bin_index(from_centi_db(raw), edges))
    idx = ns.bin_index(from_centi_db(raw[::7]), edges)
    keep = np.arange(len(idx)) % 3 == 0
    assert np.array_equal(ns.histogram_of_cells(ns.flat_cells(idx, 150), keep, 128, 150),
                          ns.histogram(idx, keep, 150))
