"""Hourly PSDs: against ObsPy's PPSD on the real IU.ANMO day it ships, on white noise of known
spectrum, and the StationXML kept whole in the store."""

from __future__ import annotations

import io
import os

import numpy as np
import obspy
import pytest
from analysis_archive import SENSITIVITY, flat_inventory, write_archive
from obspy import UTCDateTime, read, read_inventory
from obspy.signal import PPSD

from pipelines.analysis import psd
from pipelines.analysis.engine import analyse
from pipelines.seismic.ingest import ingest_seismic
from pipelines.store import PSD_STEP_NS, open_psd, open_store, station_xml, station_xml_documents

DATA = os.path.join(os.path.dirname(obspy.__file__), "signal", "tests", "data")
SEED, XML = os.path.join(DATA, "IUANMO.seed"), os.path.join(DATA, "IUANMO.xml")


@pytest.fixture(scope="module")
def anmo_store(tmp_path_factory):
    store = str(tmp_path_factory.mktemp("anmo") / "anmo.zarr")
    rep = ingest_seismic(store, [SEED], [XML])
    assert not rep.issues, rep.issues
    rep = analyse(store, "psd")
    assert rep.tasks == 1 and not rep.issues, rep
    return store


def test_psds_match_obspy_ppsd_on_iu_anmo_within_one_db_in_every_bin(anmo_store):
    st = read(SEED)
    tr = st[0]
    k0, periods = psd.period_grid(tr.stats.sampling_rate)
    ppsd = PPSD(tr.stats, read_inventory(XML), skip_on_gaps=True,
                period_limits=(periods[0], periods[-1]))
    ppsd.add(st)
    ref = np.array(ppsd._binned_psds)
    assert np.allclose(ppsd.period_bin_centers[:len(periods)], periods)
    prod = open_psd(open_store(anmo_store), "IU.ANMO.00.LHZ")
    day = UTCDateTime(2010, 1, 1).ns
    times, got_periods, db, step = prod.read(day, day + 86400 * 10**9)
    assert step == PSD_STEP_NS and np.allclose(got_periods, periods)
    # one stored row per PPSD segment, at the segment's start on the 30-minute grid
    rows = [int(round((t.ns - day) / PSD_STEP_NS)) for t in ppsd.times_processed]
    assert len(rows) == 47 and np.isfinite(db[rows]).all()
    assert np.isnan(db[47]).all()  # 23:30 needs the next day's first half hour
    diff = np.abs(db[rows] - ref[:, :len(periods)])
    assert diff.max() < 1.0, diff.max()
    # the stored centi-dB keep it far tighter than the 1 dB bins
    assert diff.max() < 0.01


def test_the_ingested_stationxml_is_kept_whole_and_once(anmo_store, tmp_path):
    store = open_store(anmo_store)
    docs = station_xml_documents(store)
    assert len(docs) == 1
    assert station_xml(store, docs[0]["xxh3_128"]) == open(XML, "rb").read()
    assert {"id": "IU.ANMO.00.LHZ"}.items() <= docs[0]["channels"][0].items()
    inv = read_inventory(io.BytesIO(station_xml(store, docs[0]["xxh3_128"])))
    assert inv.get_response("IU.ANMO.00.LHZ", UTCDateTime(2010, 1, 1)).response_stages
    ingest_seismic(anmo_store, [SEED], [XML])  # again: nothing new
    assert len(station_xml_documents(open_store(anmo_store))) == 1


def test_white_noise_gives_its_known_acceleration_spectrum(tmp_path):
    rate, sigma = 20.0, 1000.0
    sds = tmp_path / "sds"
    write_archive(sds, channels=("XX.WHT.00.HHZ",), rate=rate, days=1, sigma=sigma,
                  bursts_s=())
    xml = flat_inventory(tmp_path / "flat.xml", ["XX.WHT.00.HHZ"], rate)
    store = str(tmp_path / "w.zarr")
    ingest_seismic(store, [str(sds)], [str(xml)])
    rep = analyse(store, "psd")
    assert rep.tasks == 1 and not rep.issues
    prod = open_psd(open_store(store), "XX.WHT.00.HHZ")
    day = UTCDateTime(2024, 3, 4).ns
    _, periods, db, _ = prod.read(day, day + 86400 * 10**9)
    rows = db[:47]
    assert np.isfinite(rows).all()
    # velocity PSD of white counts: 2 sigma^2 / (fs S^2); acceleration multiplies by w^2, and
    # each grid value is the mean in dB over the FFT's periods within an octave of it
    nfft = psd.nfft_for(rate)
    freq = np.fft.rfftfreq(nfft, 1 / rate)[1:][::-1]
    per = 1 / freq
    theory = 10 * np.log10((2 * np.pi * freq) ** 2 * 2 * sigma**2 / (rate * SENSITIVITY**2))
    left, right = psd._octave_edges(periods)
    inside = [(per >= a) & (per <= b) for a, b in zip(left, right, strict=True)]
    expect = np.array([theory[m].mean() for m in inside])
    many = np.array([m.sum() for m in inside]) >= 50
    median = np.median(rows, axis=0)
    assert many.sum() > 20
    # the log of a Welch average of 17 segments is biased ~0.1 dB low; the median over hours
    # keeps the estimate's scatter well inside 1 dB
    assert np.abs(median[many] - expect[many]).max() < 1.0
