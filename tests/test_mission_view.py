"""The /mission view: frames of mission streams, light curves with errors and GTIs, ASDs, TDI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import panel as pn
import pytest

from dashboard.pages.mission import MissionFigures, build_view
from dashboard.state import default_mission_streams as default_streams
from pipelines.mission.ingest import ingest_mission
from pipelines.mission.tdi import tdi_aet, window_asd
from pipelines.store import open_store
from pipelines.timebase import NS
from tests.mission_files import write_ldc, write_lisa, write_ogip


@pytest.fixture(scope="module")
def mission_store(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("mv")
    write_lisa(d / "sim.h5", n=40_000, quantities=("isi",))
    write_ldc(d / "ldc.h5", n=4000, dt=5.0, gap=(1000, 1100))
    write_ogip(d / "lc.fits", n=400, gtis=((0, 150), (210, 400)))
    store = str(d / "s.zarr")
    rep = ingest_mission(store, [str(d / "sim.h5"), str(d / "ldc.h5"), str(d / "lc.fits")])
    assert not rep.issues
    return store


def test_view_of_lisa_streams_draws_and_transforms(mission_store):
    st = open_store(mission_store)
    names = st.select("LISA.isi.1?")
    a, b = st[names[0]].span_ns
    view = build_view(st, names, a, b, width=600, band=60)
    assert view.image.shape == (60 * len(names), 600) and (view.image != 0).sum() > 1000
    assert len(view.spectra) == len(names) and all(s.source == "window" for s in view.spectra)
    sp = view.spectra[0]
    x = st[names[0]].read_segments()[0][1]
    # white noise: one-sided ASD = sigma * sqrt(2 / fs)
    assert np.median(sp.asd[1:]) == pytest.approx(np.std(x) * np.sqrt(2 / 4.0), rel=0.1)
    figs = MissionFigures(view, len(names))
    assert figs.asd.x_range.start == 1e-5 and figs.asd.x_range.end == 1.0
    assert len(figs.asd_src.data["xs"]) == len(names)


def test_tdi_aet_from_xyz_on_the_fly(mission_store):
    st = open_store(mission_store)
    a, b = st["LDC.X"].span_ns
    view = build_view(st, ["LDC.X", "LDC.Y", "LDC.Z"], a, b, width=400, band=40)
    x, y, z = (st[f"LDC.{c}"].read_window(a, b, max_points=10**7).lo for c in "XYZ")
    n = len(view.tdi["LDC.A"])
    np.testing.assert_allclose(view.tdi["LDC.A"], ((z - x) / np.sqrt(2))[:n], equal_nan=True)
    np.testing.assert_allclose(view.tdi["LDC.T"], ((x + y + z) / np.sqrt(3))[:n], equal_nan=True)
    assert np.isnan(view.tdi["LDC.E"]).sum() == 100  # the gap stays a gap
    assert {"LDC.A", "LDC.E", "LDC.T"} <= {s.name for s in view.spectra}
    A, E, T = tdi_aet(np.ones(3), np.ones(3), np.ones(3))
    assert np.allclose(A, 0) and np.allclose(E, 0) and np.allclose(T, np.sqrt(3))


def test_light_curve_error_band_and_gtis(mission_store):
    st = open_store(mission_store)
    rate = "INTEGRAL.JEM-X.RATE"
    a, b = st[rate].span_ns
    view = build_view(st, [rate], a - 60 * NS, b + 60 * NS, width=300, band=50)
    lc = view.light_curves[rate]
    ok = np.isfinite(lc["rate"])
    assert ok.sum() == 400 and (lc["hi"][ok] > lc["rate"][ok]).all()
    assert (lc["lo"][ok] < lc["rate"][ok]).all()
    assert len(view.gtis) == 2
    figs = MissionFigures(view, 1)
    assert figs.light_curves is not None
    assert len(figs.series.center) >= 2  # GTI boxes on the plot


def test_long_window_uses_precomputed_spectra(tmp_path: Path):
    write_lisa(tmp_path / "long.h5", n=4 * 3600 * 3, quantities=("isi",), links=("12",))
    store = str(tmp_path / "s.zarr")
    from pipelines.mission.options import MissionOptions

    ingest_mission(store, [str(tmp_path / "long.h5")], MissionOptions(spectra_block_s=600))
    s = open_store(store)["LISA.isi.12"]
    a, b = s.span_ns
    import pipelines.mission.tdi as dm

    old = dm.RAW_MAX
    dm.RAW_MAX = 1000  # pretend the window is too long to transform
    try:
        sp = window_asd(s, a, b)
    finally:
        dm.RAW_MAX = old
    assert sp is not None and sp.source.startswith("precomputed")
    assert sp.freq[1] == pytest.approx(4.0 / 600)


def test_page_builds_with_url_state(mission_store, monkeypatch):
    from dashboard import state as layout
    from dashboard.pages import MissionPage
    from dashboard.server import guarded
    from dashboard.sources import Sources

    mission_page = guarded(MissionPage, Sources([mission_store]))
    monkeypatch.setattr(layout, "query_args", lambda: {"streams": "LDC.*"})
    page = mission_page()
    assert isinstance(page, pn.viewable.Viewable)
    assert not [a for a in page.select(pn.pane.Alert) if a.alert_type == "danger"]
    monkeypatch.setattr(layout, "query_args", lambda: {"streams": "NOPE.*"})
    page = mission_page()
    assert any("NOPE" in a.object for a in page.select(pn.pane.Alert))
    assert default_streams(open_store(mission_store))[0].startswith("LDC.")
