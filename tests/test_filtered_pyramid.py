"""Filtered pyramids: what the analysis engine stores per day equals the whole archive filtered
in one piece and then reduced to min/max, with no step at day or chunk edges; days are added
incrementally and an unchanged day is not recomputed."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_archive import DAY0, write_archive
from scipy import signal

from pipelines.analysis import filtered
from pipelines.analysis.engine import AnalysisError, analyse, parameters
from pipelines.seismic.ingest import ingest_seismic
from pipelines.store import PYRAMID_FACTOR, filtered_bands, open_filtered, open_store

CH = "XX.AAA.00.HHZ"
RATE = 20.0
BANDS = ["hp1", "bp0.5-2", "lp0.1"]
GAP = (CH, 86400 + 30000.0, 900.0)  # a quarter of an hour missing on day 1


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("filtered")
    roots = []
    for d in range(3):
        root = base / f"sds{d}"
        data = write_archive(root, (CH,), rate=RATE, days=3, only_day=d, gaps=(GAP,),
                             bursts_s=(3600.0 * 5, 86400 - 20.0, 2 * 86400 + 7200.0))
        roots.append(root)
    return {"base": base, "roots": roots, "data": data[CH]}


def reference(store_url: str, band: str) -> tuple[int, np.ndarray]:
    """(first raw index, filtered samples) of the whole stream filtered in one piece: each
    contiguous run with scipy's Butterworth and sosfiltfilt, nothing else."""
    s = open_store(store_url)[CH]
    seg = s.segment_indices()
    i0, i1 = int(seg[0, 0]), int(seg[-1, 1])
    raw, mask = s.read_raw(i0, i1)
    b = filtered.parse_band(band)
    kind = {"highpass": "highpass", "lowpass": "lowpass", "bandpass": "bandpass"}[b.kind]
    wn = b.corners[0] if len(b.corners) == 1 else list(b.corners)
    sos = signal.butter(4, wn, kind, fs=RATE, output="sos")
    y = np.full(len(raw), np.nan)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    for a, e in zip(edges[::2], edges[1::2], strict=True):
        y[a:e] = signal.sosfiltfilt(sos, raw[a:e].astype(np.float64))
    return i0, y


def reference_level(i0: int, y: np.ndarray, k: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(first bucket, min, max) of level k of the filtered samples on the raw grid."""
    f = PYRAMID_FACTOR**k
    b0 = i0 // f
    pad_front = i0 - b0 * f
    n = -(-(pad_front + len(y)) // f) * f
    v = np.full(n, np.nan)
    v[pad_front:pad_front + len(y)] = y
    v = v.reshape(-1, f)
    with np.errstate(all="ignore"):
        mn = np.where(np.isnan(v).all(axis=1), np.nan, np.nanmin(np.where(np.isnan(v), np.inf,
                                                                           v), axis=1))
        mx = np.where(np.isnan(v).all(axis=1), np.nan, np.nanmax(np.where(np.isnan(v), -np.inf,
                                                                           v), axis=1))
    return b0, mn, mx


def compare(store_url: str, band: str) -> float:
    """Largest difference between the stored levels and the reference (counts)."""
    i0, y = reference(store_url, band)
    st = open_store(store_url)
    fp = open_filtered(st, st[CH], band)
    assert fp is not None and fp.levels >= 2, band
    worst = 0.0
    for k in range(1, fp.levels + 1):
        b0, mn, mx = reference_level(i0, y, k)
        smn, smx = fp.read_level(k, b0, b0 + len(mn))
        assert len(smn) == len(mn), (band, k)
        # Same buckets empty (the gap, runs too short to filter), same values elsewhere.
        assert np.array_equal(np.isnan(smn), np.isnan(mn)), (band, k)
        ok = ~np.isnan(mn)
        worst = max(worst, float(np.max(np.abs(smn[ok] - mn[ok]))),
                    float(np.max(np.abs(smx[ok] - mx[ok]))))
    return worst


@pytest.fixture(scope="module")
def store(archive) -> dict:
    url = str(archive["base"] / "s.zarr")
    for root in archive["roots"][:2]:
        assert not ingest_seismic(url, [str(root)]).issues
    first = analyse(url, "filter", overrides={"bands": BANDS})
    return {"url": url, "first": first}


def test_two_days_are_two_tasks_and_every_band_is_stored(store):
    rep = store["first"]
    assert (rep.tasks, rep.skipped, rep.issues) == (2, 0, [])
    st = open_store(store["url"])
    assert filtered_bands(st, CH) == sorted(BANDS)
    attrs = open_filtered(st, st[CH], "bp0.5-2").attrs
    assert attrs["band"]["corners_hz"] == [0.5, 2.0] and attrs["band"]["zero_phase"]
    assert attrs["source_stream"] == CH and attrs["source"]["sampling_rate"] == RATE


@pytest.mark.parametrize("band", BANDS)
def test_stored_pyramid_equals_the_days_filtered_in_one_piece(store, band):
    # Across the day edge (with a burst 20 s before midnight), the gap and every level:
    # within float32 rounding of values of a few thousand counts, far under one count.
    worst = compare(store["url"], band)
    assert worst < 0.01, (band, worst)


def test_a_short_padding_would_show_a_step_at_the_day_edge(store, archive):
    # What the padding is for: the day filtered alone (no padding) differs visibly from the
    # whole filtered in one piece near midnight, where the burst rings.
    i0, y = reference(store["url"], "hp1")
    st = open_store(store["url"])
    s = st[CH]
    edge = int(round(s.index_of(DAY0.ns + 86400 * 10**9))) - i0
    raw, _ = s.read_raw(i0, i0 + edge)
    alone = filtered.filtered(filtered.parse_band("hp1"), raw.astype(np.float64), RATE)
    assert np.max(np.abs(alone[-200:] - y[edge - 200:edge])) > 1.0
    # ...and the padding the analysis reads is where the impulse response has died out.
    pad = filtered.padding_samples(filtered.parse_band("hp1"), RATE)
    assert 2 * RATE < pad < 600 * RATE


def test_a_new_day_recomputes_only_the_days_it_touches_and_still_matches(store, archive):
    url = store["url"]
    assert analyse(url, "filter", overrides={"bands": BANDS}).tasks == 0
    assert not ingest_seismic(url, [str(archive["roots"][2])]).issues
    rep = analyse(url, "filter", overrides={"bands": BANDS})
    # Day 2, and day 1 whose padding now reaches into day 2's samples; day 0 unchanged.
    assert (rep.tasks, rep.skipped) == (2, 1)
    for band in BANDS:
        assert compare(url, band) < 0.01, band


def test_bad_bands_are_refused_with_the_form_to_use():
    with pytest.raises(AnalysisError, match="hpF, lpF or bpLOW-HIGH"):
        parameters("filter", {"bands": ["notch 50"]})
    with pytest.raises(AnalysisError, match="two corners"):
        parameters("filter", {"bands": ["bp2"]})
    with pytest.raises(AnalysisError, match="increasing"):
        parameters("filter", {"bands": ["bp8-2"]})
    assert [b.name for b in filtered.bands_of({"bands": ["0.5-2", "HP 1 Hz", [1, 8]]})] == \
        ["bp0.5-2", "hp1", "bp1-8"]


def test_samples_shown_zoomed_in_are_the_same_filter_across_the_day_edge(store):
    # Where a view shows samples, the stored band filters them on the fly with its padding:
    # the same values as the whole filtered in one piece, across midnight (burst included).
    from dashboard import filters

    st = open_store(store["url"])
    s = st[CH]
    src = filters.stored_band(s, filters.FilterSpec("bandpass", 0.5, 2.0))
    assert src is not None and src.describe() == "band-pass 0.5-2 Hz (stored band)"
    midnight = DAY0.ns + 86400 * 10**9
    w = src.read_window(midnight - 120 * 10**9, midnight + 120 * 10**9, max_points=4800)
    assert w.is_raw and len(w.lo) == int(240 * RATE)
    i0, y = reference(store["url"], "bp0.5-2")
    a = int(round(s.index_of(w.t0_ns))) - i0
    assert np.max(np.abs(w.lo - y[a:a + len(w.lo)])) < 0.01
    # Zoomed out, the same source reads the stored pyramid (a level, not samples).
    wide = src.read_window(DAY0.ns, DAY0.ns + 2 * 86400 * 10**9, max_points=1200)
    assert wide.level >= 2 and np.isfinite(wide.hi).sum() > 1000


def test_ingest_builds_the_configured_bands_of_the_days_it_changed(archive, tmp_path):
    """[views] build_at_ingest: each ingest filters the days it wrote (and the neighbour whose
    padding they reach), not the others; --no-bands skips it for one run."""
    from conftest import run_cli

    cfg = tmp_path / "belvedere.toml"
    cfg.write_text('[views]\nbands = ["bp0.5-2"]\nbuild_at_ingest = true\n')
    url = str(tmp_path / "ingested.zarr")
    runs = []
    for root in archive["roots"][:2]:
        out = run_cli("ingest", "seismic", str(root), "--store", url, "--config", str(cfg))
        assert out.returncode == 0, out.stdout + out.stderr
        runs.append(out.stdout)
    assert "bands bp0.5-2: 1 stream-days filtered, 0 unchanged" in runs[0], runs[0]
    # The second day, and the first again: its end's padding now reaches into day 2.
    assert "bands bp0.5-2: 2 stream-days filtered, 0 unchanged" in runs[1], runs[1]
    st = open_store(url)
    assert filtered_bands(st, CH) == ["bp0.5-2"]
    assert compare(url, "bp0.5-2") < 0.01  # what `analyse filter` would have stored
    out = run_cli("ingest", "seismic", str(archive["roots"][2]), "--store", url, "--config",
                  str(cfg), "--no-bands")
    assert out.returncode == 0 and "bands" not in out.stdout, out.stdout + out.stderr
    fp = open_filtered(open_store(url), open_store(url)[CH], "bp0.5-2")
    day2 = int(2 * 86400 * RATE) // PYRAMID_FACTOR  # level-1 buckets of day 2 stay absent
    lo, _ = fp.read_level(1, day2 + 100, day2 + 200)
    assert np.isnan(lo).all()
    out = run_cli("ingest", "seismic", str(archive["roots"][2]), "--store", url, "--follow",
                  "--bands")
    assert out.returncode == 2 and "analyse filter" in out.stdout + out.stderr
    # The pages' note: day 2 has raw data and no band; days 0 and 1 have both.
    from dashboard import filters as view_filters
    from pipelines.timebase import DAY_NS, format_time

    st = open_store(url)
    src = view_filters.band_source(st[CH], filtered.parse_band("bp0.5-2"))
    t0 = st[CH].span_ns[0] // DAY_NS * DAY_NS
    assert [format_time(d)[:10] for d in view_filters.missing_days(src, t0, t0 + 3 * DAY_NS)] \
        == [format_time(t0 + 2 * DAY_NS)[:10]]
    assert view_filters.missing_note(src, t0, t0 + 2 * DAY_NS, 2000) is None
    note = view_filters.missing_note(src, t0 + DAY_NS, t0 + 3 * DAY_NS, 2000)
    # Zoomed in to samples the band is filtered on the fly: nothing is missing there.
    assert view_filters.missing_note(src, t0 + 2 * DAY_NS, t0 + 2 * DAY_NS + 60 * 10**9,
                                     2000) is None
    assert note.startswith(f"band bp0.5-2 not computed for {CH} on ") and \
        "run `belvedere analyse filter`" in note, note
