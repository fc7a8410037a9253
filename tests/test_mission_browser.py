"""The /mission page in real Chromium, on the demo's mission files (LISA, LDC, OGIP light curve,
housekeeping): traces are drawn (checked on the pixels of the named figures), zooming re-reads,
the URL restores the view, the light curve has its error band and shaded GTIs, the ASD is drawn
on log axes over 1e-5..1 Hz, A/E/T appear with X/Y/Z, bad parameters give messages.

One store, one server and (session-wide) one browser serve the module.
"""

from __future__ import annotations

import numpy as np
import pytest
from browser import (
    JS_MODEL,
    JS_OVERFLOW,
    NARROW,
    SHOTS,
    browser_marks,
    colored_fraction,
    colored_mask,
    colored_rows,
    frame_pixels,
    new_page,
    open_page,
    plot_frame,
    served_dashboard,
)
from test_dashboard_browser import query, wait_query_change, x_range

from pipelines.timebase import NS, format_time

pytestmark = browser_marks()

LISA12 = "LISA.isi_carrier_fluctuations.12"
RATE = "INTEGRAL.JMX1.RATE"


@pytest.fixture(scope="module")
def mission(tmp_path_factory):
    """The demo's mission files, ingested; yields (server URL, files, store path)."""
    from pipelines.demo.mission import generate_mission_files
    from pipelines.mission.ingest import ingest_mission
    from pipelines.mission.options import MissionOptions

    d = tmp_path_factory.mktemp("mission-browser")
    files = generate_mission_files(d / "files", "small")
    store = str(d / "mission.zarr")
    rep = ingest_mission(store, files.paths, MissionOptions(sim_epoch=files.sim_epoch,
                                                            prefix="HK"))
    assert not rep.issues and not rep.failed
    with served_dashboard([store]) as base:
        yield base, files, store


def model(page, name: str, expr: str):
    """Evaluate `expr` on the named Bokeh model `m` in the browser."""
    return page.evaluate(f"() => {{ const m = ({JS_MODEL})('{name}'); return {expr}; }}")


def scroll_to(page, name: str) -> None:
    """Bring a named figure into the viewport (screenshots clip to it)."""
    page.evaluate(f"() => {{ const m = ({JS_MODEL})('{name}');"
                  " Bokeh.index.find_one(m).el.scrollIntoView({block: 'center'}); }")
    page.wait_for_timeout(200)


def band_labels(page) -> list[str]:
    """The stream names on the left of the stacked bands, top to bottom."""
    labels = model(page, "mission", "Object.fromEntries(m.left[0].major_label_overrides)")
    return [labels[k] for k in sorted(labels, key=float, reverse=True)]


def test_ldc_bands_with_aet_and_asd_on_log_axes(mission, page):
    base, *_ = mission
    open_page(page, base + "/mission")  # default: the store's LDC streams
    assert band_labels(page) == ["LDC.X", "LDC.Y", "LDC.Z", "LDC.A", "LDC.E", "LDC.T"]
    img = frame_pixels(page, "mission", path=f"{SHOTS}/bv_mission_ldc.png")
    assert colored_fraction(img) > 0.02
    bands = np.array_split(colored_rows(img), 6)
    assert all(b.mean() > 0.3 for b in bands), "every band, A/E/T included, is drawn"
    # The NaN gap (6 h from 55 % of the 2 days) stays a gap in X and in the TDI bands.
    cols = colored_mask(img).any(axis=0)
    w = len(cols)
    assert not cols[int(w * 0.57):int(w * 0.66)].any() and cols[: int(w * 0.5)].mean() > 0.95
    assert model(page, "asd", "[m.x_scale.type, m.y_scale.type]") == ["LogScale", "LogScale"]
    assert model(page, "asd", "[m.x_range.start, m.x_range.end]") == [1e-5, 1.0]
    legend = model(page, "asd", "m.below.find((r) => r.items !== undefined)"
                   ".items.map((it) => it.label.value)")
    assert any(t.startswith("LDC.A") for t in legend) and len(legend) == 6
    scroll_to(page, "asd")
    asd = frame_pixels(page, "asd", path=f"{SHOTS}/bv_mission_asd.png")
    assert colored_fraction(asd) > 0.01, "the spectra are drawn"
    q = query(page)
    assert q["streams"] == "LDC.X,LDC.Y,LDC.Z" and q["from"] == "2024-03-04T18:00:00Z"
    assert not page.console_errors


def test_the_page_does_not_scroll_sideways_in_a_laptop_window(mission, browser):
    base, *_ = mission
    with new_page(browser, viewport=NARROW) as pg:
        open_page(pg, base + "/mission", idle=True)
        assert pg.evaluate(JS_OVERFLOW) <= 0, "the controls should wrap, not widen the page"


def test_wheel_zoom_rereads_and_updates_the_url(mission, page):
    base, *_ = mission
    open_page(page, base + f"/mission?streams={LISA12}")
    page.wait_for_timeout(400)
    before = frame_pixels(page, "mission")
    status = page.get_by_text("1 pixel ≈").inner_text()
    q0 = query(page)
    box = plot_frame(page, "mission")
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + box["height"] / 2)
    for _ in range(4):
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(120)
    q1 = wait_query_change(page, q0)
    page.wait_for_timeout(700)
    after = frame_pixels(page, "mission", path=f"{SHOTS}/bv_mission_zoomed.png")
    a, b = x_range(page, "mission")
    assert b - a < 0.5 * 3 * 3600 * 1000, "zoomed in"
    assert q1["from"] > q0["from"] and q1["to"] < q0["to"]
    diff = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(-1) > 40
    assert diff.mean() > 0.02, "the drawing changed"
    assert page.get_by_text("1 pixel ≈").inner_text() != status
    assert colored_fraction(after) > 0.01


def test_url_restores_the_view(mission, page):
    base, *_ = mission
    t0 = 1709575200 * NS + 1800 * NS  # 18:30 on the demo day
    url = (f"/mission?streams=LISA.*.12&from={format_time(t0)}"
           f"&to={format_time(t0 + 900 * NS)}")
    open_page(page, base + url)
    assert x_range(page, "mission") == (t0 / 1e6, (t0 + 900 * NS) / 1e6)
    assert band_labels(page) == [LISA12, "LISA.tmi_carrier_fluctuations.12"]
    q = query(page)
    assert q["streams"] == "LISA.*.12" and q["from"] == format_time(t0)
    assert colored_fraction(frame_pixels(page, "mission")) > 0.01


def _share_of(img: np.ndarray, test) -> float:
    i = img.astype(np.int16)
    return float(test(i[..., 0], i[..., 1], i[..., 2]).mean())


def test_light_curve_error_band_and_gti_shading(mission, page):
    base, files, _ = mission
    open_page(page, base + f"/mission?streams={RATE}")
    scroll_to(page, "lightcurve")
    lc = frame_pixels(page, "lightcurve", path=f"{SHOTS}/bv_mission_lightcurve.png")
    h, w = lc.shape[:2]
    top = lc[: h // 3]  # above the background rate: only shading (and grid lines)

    def tint(r, g, b):
        return (g - r > 6) & (r > 200)  # #2a9d8f at 12 % over white

    assert _share_of(top[:, int(w * 0.05):int(w * 0.12)], tint) > 0.8  # inside a GTI
    assert _share_of(top[:, int(w * 0.17):int(w * 0.20)], tint) < 0.1  # between two
    assert model(page, "lightcurve", "m.center.filter((a) => a.fill_alpha > 0).length") == 3
    # Zoomed on the burst, the error band is wide enough to see on both sides of the rate.
    p = files.burst_utc_ns
    open_page(page, base + f"/mission?streams={RATE}&from={format_time(p - 60 * NS)}"
              f"&to={format_time(p + 240 * NS)}")
    scroll_to(page, "lightcurve")
    lc = frame_pixels(page, "lightcurve", path=f"{SHOTS}/bv_mission_burst.png")
    band = _share_of(lc, lambda r, g, b: (b > r + 15) & (r > 150) & (r < 225))
    line = _share_of(lc, lambda r, g, b: (abs(r - 31) < 50) & (abs(b - 153) < 50) & (b > r + 60))
    assert band > 0.003, "the ERROR band is drawn"
    assert line > 0.001, "the rate is drawn"


def test_bad_parameters_show_messages_and_the_page_still_works(mission, page):
    base, *_ = mission
    open_page(page, base + "/mission?streams=NOPE.*&from=yesterday-ish&theme=pink")
    for text in ("streams='NOPE.*'", "cannot read the time 'yesterday-ish'", "theme='pink'"):
        page.get_by_text(text, exact=False).first.wait_for(timeout=10000)
    assert page.get_by_text("Traceback").count() == 0
    assert colored_fraction(frame_pixels(page, "mission")) > 0.01  # the default streams
    open_page(page, base + "/mission?store=elsewhere&streams=HK.*")
    page.get_by_text("store='elsewhere' is not served here", exact=False).first.wait_for()
    img = frame_pixels(page, "mission", path=f"{SHOTS}/bv_mission_hk.png")
    assert all(b.mean() > 0.3 for b in np.array_split(colored_rows(img), 4))
    page.get_by_text("irregular timestamps", exact=False).first.wait_for()  # why no ASD
    assert model(page, "asd", "m.visible") is False


def test_embed_dark_has_no_chrome_and_dark_plots(mission, page):
    base, *_ = mission
    open_page(page, base + "/mission?streams=LDC.*&embed=1&theme=dark")
    assert page.locator(".bv-header").count() == 0
    assert page.get_by_text("Share").count() == 0
    img = frame_pixels(page, "mission", path=f"{SHOTS}/bv_mission_dark.png")
    assert np.median(img.astype(np.int16).sum(-1)) < 150, "dark plot background"
    assert colored_fraction(img) > 0.02
    assert query(page).get("theme") == "dark" and query(page).get("embed") == "1"


def test_snapshot_html_opens_offline_with_the_bands_drawn(mission, page, tmp_path):
    import json

    from tests.conftest import run_cli

    *_, store = mission
    out = tmp_path / "mission.html"
    r = run_cli("snapshot", "--store", store, "--view", "mission", "--streams", "LDC.*",
                "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    meta = json.loads(text.split('id="belvedere-snapshot">', 1)[1].split("</script>", 1)[0])
    assert meta["view"] == "mission" and meta["streams"] == ["LDC.X", "LDC.Y", "LDC.Z"]
    assert meta["bands"][-3:] == ["LDC.A", "LDC.E", "LDC.T"] and len(meta["spectra"]) == 6
    requests: list[str] = []
    page.route("**/*", lambda rt: (requests.append(rt.request.url), rt.abort())
               if not rt.request.url.startswith(("file:", "data:")) else rt.continue_())
    open_page(page, out.as_uri())
    img = frame_pixels(page, "mission", path=f"{SHOTS}/bv_mission_snapshot.png")
    assert colored_fraction(img) > 0.02
    assert all(b.mean() > 0.3 for b in np.array_split(colored_rows(img), 6))
    assert not requests and not page.console_errors
    from dashboard.snapshot import SnapshotError, build
    from dashboard.sources import Sources

    with pytest.raises(SnapshotError, match="NOPE"):
        build("mission", Sources([store]), {"streams": "NOPE.*"})
