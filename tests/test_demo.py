"""`belvedere demo`: the synthetic network and ObsPy's real files, ingested like any archive."""

from __future__ import annotations

import numpy as np

from pipelines.demo.seismic import generate_archive
from pipelines.store import open_store
from pipelines.timebase import NS
from tests.conftest import run_cli


def test_demo_small_builds_a_store_of_real_and_synthetic_data(tmp_path):
    r = run_cli("demo", "--size", "small", "--dir", str(tmp_path), "--no-serve", "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert "store:" in r.stdout
    arch = generate_archive(tmp_path / "archive-small", size="small")  # reused, not rebuilt
    st = open_store(str(tmp_path / "store-small.zarr"))
    names = st.streams()
    assert set(arch.streams) <= set(names)
    assert "CH.BALST..LHE" in names and "BW.BGLD..EHE" in names  # ObsPy's real recordings
    assert sum(st[n].n_samples for n in arch.streams) == arch.n_samples
    for sid, a, b in arch.gaps:  # each deliberate gap is a gap in the store, exactly
        gaps = st[sid].gaps()
        assert any(g0 == a.ns and g1 == b.ns for g0, g1 in gaps), (sid, a, b, gaps)
    dead = st[arch.dead_channel]
    values = np.concatenate([v for _, v in dead.read_segments()])
    assert values.min() == values.max()
    s = st["BV.ALPA.00.HHZ"]
    assert s.attrs["coordinates"]["latitude"] and s.attrs["sensitivity"]["value"] > 1e8
    assert len(st.events()) >= 2 and any(e["picks"] for e in st.events())
    # the largest event stands out of the noise in the screen-resolution envelope
    ev = max((e for e in st.events() if e["source"].endswith("quakeml.xml")),
             key=lambda e: e["magnitude"])
    w = s.read_window(ev["time_ns"], ev["time_ns"] + 120 * NS, max_points=200)
    quiet = s.read_window(ev["time_ns"] - 600 * NS, ev["time_ns"] - 300 * NS, max_points=200)
    assert np.nanmax(w.hi) - np.nanmin(w.lo) > 5 * (np.nanmax(quiet.hi) - np.nanmin(quiet.lo))
    # The computing beside the data: synthetic jobs and node metrics, and the demo's own cost.
    from pipelines.usage.usage_store import open_usage_store

    usage = open_usage_store(str(tmp_path / "usage-small.zarr"))
    assert usage.n_jobs() == 4000 and usage.metrics() == ["node_cpu"]
    runs = usage.runs()
    kinds = list(runs["kind"].astype(str))
    assert kinds == ["seismic", "analyse-psd", "analyse-rsam", "analyse-detect", "analyse-filter"]
    assert runs["samples_written"].iloc[0] == sum(st[n].n_samples for n in names)
    # ... and its analyses, so /noise and /rsam have data: the vertical channels' PSDs, RSAM
    from pipelines.store.products import product_streams

    verticals = sorted(n for n in arch.streams if n.endswith("Z"))
    assert product_streams(st, "psd") == verticals == product_streams(st, "rsam")
    # Mission data beside it, in its own store: LISA links, LDC TDI, a light curve, housekeeping.
    m = open_store(str(tmp_path / "mission-small.zarr"))
    mnames = m.streams()
    assert {f"LISA.isi_carrier_fluctuations.{k}" for k in ("12", "13", "21", "23", "31", "32")
            } <= set(mnames)
    assert {"LDC.X", "LDC.Y", "LDC.Z", "INTEGRAL.JMX1.RATE", "INTEGRAL.JMX1.ERROR",
            "HK.temp_battery"} <= set(mnames)
    lisa = m["LISA.isi_carrier_fluctuations.12"]
    assert lisa.sampling_rate == 4.0 and lisa.n_samples == 3 * 3600 * 4 and len(lisa.gaps()) == 0
    assert lisa.span_ns[0] == st["BV.ALPA.00.HHZ"].span_ns[0]  # the same evening as the quakes
    assert len(m["LDC.X"].gaps()) == 1  # the NaN gap of obs/tdi
    rate = m["INTEGRAL.JMX1.RATE"]
    # bins outside the GTIs are kept and marked (two radiation-belt passages), not gaps
    assert len(rate.attrs["gti"]) == 3 and len(rate.attrs["outside_gti"]) == 2
    assert len(rate.gaps()) == 0
    w = rate.read_window(*rate.span_ns, max_points=400)
    assert np.nanmax(w.hi) > 8 * np.nanmedian(w.lo)  # the burst stands out of the background
    hk = m["HK.temp_battery"]
    assert hk.kind == "irregular" and hk.n_samples > 2 * 86400 / 13
    assert "mission store:" in r.stdout
    # A second run finds everything in place.
    again = run_cli("demo", "--size", "small", "--dir", str(tmp_path), "--no-serve",
                    "--workers", "1")
    assert again.returncode == 0 and "4 already in the store" in again.stdout


def test_demo_ends_by_serving_the_store(tmp_path):
    """The README's first command: build the demo store, then serve it and print the URL."""
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.browser import free_port

    port = free_port()
    log = open(tmp_path / "demo.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "belvedere", "demo", "--size", "small",
                             "--dir", str(tmp_path), "--workers", "1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert proc.poll() is None, open(tmp_path / "demo.log").read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/waveforms", timeout=30) as r:
            assert r.status == 200 and b"bokeh" in r.read().lower()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/mission", timeout=30) as r:
            assert r.status == 200 and b"bokeh" in r.read().lower()
        assert f"http://127.0.0.1:{port}/" in open(tmp_path / "demo.log").read()
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
