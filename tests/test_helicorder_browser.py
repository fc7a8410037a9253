"""The helicorder and the stored bands in a real browser: rows drawn in cycling colours with
the clipped earthquake marked, a click or a drag on a row opening /waveforms on that window,
and a band-passed day on the waveform page drawn from its stored filtered pyramid.

One day of a real Steim2 SDS file (written by ObsPy) at 20 Hz: white noise, a slow 0.02 Hz
swell that dominates the raw trace, and an earthquake-sized burst at 05:20, catalogued in a
QuakeML file; ingested, its `bp0.5-2` band built by `belvedere analyse filter`, then served.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from browser import (
    JS_FRAME_FITS,
    JS_IMAGE_AND_FRAME,
    NARROW,
    browser_marks,
    frame_pixels,
    near_colour,
    new_page,
    open_page,
    plot_frame,
    served_dashboard,
)
from conftest import run_cli, sds_path
from obspy import Stream, Trace, UTCDateTime
from obspy.core.event import Catalog, Event, Magnitude, Origin

from dashboard.helicorder import CLIP_COLOUR, ROW_COLOURS

pytestmark = browser_marks()

CH = "XX.HEL.00.HHZ"
DAY = UTCDateTime(2024, 3, 4)
RATE = 20.0
QUAKE_S = 5 * 3600 + 20 * 60  # 05:20
TALL = {"width": 1400, "height": 1500}  # the whole helicorder on screen
SHOT_DIR = os.environ.get("BELVEDERE_SHOT_DIR")  # a folder to keep the screenshots in


def rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("heli")
    n = int(86400 * RATE)
    rng = np.random.default_rng(7)
    t = np.arange(n) / RATE
    x = rng.normal(0, 300.0, n) + 6000.0 * np.sin(2 * np.pi * 0.02 * t)
    i = int(QUAKE_S * RATE)
    m = int(90 * RATE)
    x[i:i + m] += 60000.0 * np.sin(2 * np.pi * 1.2 * t[:m]) * np.exp(-t[:m] / 20.0)
    net, sta, loc, cha = CH.split(".")
    path = sds_path(d / "sds", net, sta, loc, cha, DAY)
    path.parent.mkdir(parents=True)
    Stream([Trace(np.round(x).astype(np.int32), header={
        "network": net, "station": sta, "location": loc, "channel": cha,
        "sampling_rate": RATE, "starttime": DAY})]).write(str(path), format="MSEED",
                                                           encoding="STEIM2")
    ev = Event(resource_id="smi:test/quake1", origins=[Origin(
        time=DAY + QUAKE_S, latitude=45.0, longitude=6.0, depth=5000.0)],
        magnitudes=[Magnitude(mag=4.1)])
    qml = d / "events.xml"
    Catalog(events=[ev]).write(str(qml), format="QUAKEML")
    store = str(d / "heli.zarr")
    out = run_cli("ingest", "seismic", str(d / "sds"), "--events", str(qml), "--store", store)
    assert out.returncode == 0, out.stdout + out.stderr
    out = run_cli("analyse", "filter", "--store", store, "--param", 'bands=["bp0.5-2"]')
    assert out.returncode == 0, out.stdout + out.stderr
    live = d / "live"
    live.mkdir()
    LIVE_ROOT.append(live)
    write_live(live, 0)
    out = run_cli("ingest", "seismic", str(live / "sds"), "--store", str(live / "live.zarr"))
    assert out.returncode == 0, out.stdout + out.stderr
    out = run_cli("analyse", "filter", "--store", str(live / "live.zarr"), "--param",
                  'bands=["lp0.1"]')
    assert out.returncode == 0, out.stdout + out.stderr
    with served_dashboard([store, str(live / "live.zarr")], timeout=120) as url:
        yield url


LIVE = "XX.LIV.00.HHZ"
LIVE_ROOT: list = []  # the live store's folder (set by the module's fixture)
LIVE_HOURS = 6  # each file of the live store: six hours at 1 Hz


def write_live(root, part: int) -> str:
    """The `part`-th six hours of the live store's day, as its own SDS-named miniSEED file
    (the second one ingested while the page is open, as a day's new data arrives)."""
    net, sta, loc, cha = LIVE.split(".")
    path = sds_path(root / "sds", net, sta, loc, cha, DAY)
    path = path.with_name(path.name + f".part{part}")
    path.parent.mkdir(parents=True, exist_ok=True)
    n = LIVE_HOURS * 3600
    x = np.random.default_rng(part).normal(0, 500.0, n)
    Stream([Trace(np.round(x).astype(np.int32), header={
        "network": net, "station": sta, "location": loc, "channel": cha, "sampling_rate": 1.0,
        "starttime": DAY + part * n})]).write(str(path), format="MSEED", encoding="STEIM2")
    return str(path)


def status(pg, marker: str) -> str:
    """The text of the status line holding `marker` (Panel's panes sit in shadow roots, which
    Playwright's text locators pierce)."""
    loc = pg.get_by_text(marker, exact=False)
    loc.first.wait_for(timeout=30000)
    return loc.first.inner_text()


def shows(pg, text: str) -> bool:
    """Whether any element of the page says `text`."""
    return pg.get_by_text(text, exact=False).count() > 0


def heli_url(base: str, **extra: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in {"stream": CH, "day": "2024-03-04", "row": "60",
                                         **extra}.items())
    return f"{base}/helicorder?{q}"


def test_rows_cycle_colours_and_the_clipped_earthquake_is_marked(base, browser):
    with new_page(browser, viewport=TALL) as pg:
        open_page(pg, heli_url(base), model="helicorder", settle_ms=800)
        img = frame_pixels(pg, "helicorder", path=SHOT_DIR and f"{SHOT_DIR}/heli_raw.png")
        assert not pg.console_errors
        text = status(pg, "rows of")
        assert "24 rows of 1 h" in text and "auto, 99.5 % of the envelope" in text, text
        h, w = img.shape[:2]
        assert abs(h - plot_frame(pg, "helicorder")["height"]) <= 1  # all of it on screen
        # 24 rows plus a row of clip margin above and below: row r's centre in the frame.
        pitch = h / 26.0
        hits = []
        for r in range(24):
            y = int((r + 1.5) * pitch)
            band = img[max(y - 2, 0):y + 3, : int(w * 0.05)]  # the row's first 3 minutes
            counts = [int(near_colour(band, rgb(c), 40).sum()) for c in ROW_COLOURS]
            hits.append(int(np.argmax(counts)))
        assert hits == [r % len(ROW_COLOURS) for r in range(24)], hits
        # The earthquake (05:20, row 5, a third of the way along) is clipped: orange marks
        # there, none on the quiet rows.
        clip = near_colour(img, rgb(CLIP_COLOUR), 40)
        ys, xs = np.nonzero(clip)
        assert len(xs) > 20
        assert np.all(np.abs(ys / pitch - 6.5) < 1.6), (ys.min() / pitch, ys.max() / pitch)
        assert np.all((xs / w > 0.3) & (xs / w < 0.45)), (xs.min() / w, xs.max() / w)


@pytest.mark.parametrize("viewport", [TALL, NARROW], ids=["wide", "narrow"])
def test_the_rows_are_drawn_one_column_per_screen_pixel(base, browser, viewport):
    # Built before the browser lays the page out, the image is drawn again at the plot's
    # width: never stretched, nor squeezed (dropping columns of thin traces) into it.
    with new_page(browser, viewport=viewport) as pg:
        open_page(pg, heli_url(base), model="helicorder")
        pg.wait_for_function(JS_FRAME_FITS, arg="helicorder", timeout=10_000)
        (w, _h), (fw, _fh) = pg.evaluate(JS_IMAGE_AND_FRAME, "helicorder")
        assert w == round(fw) and w != 1200
        assert "24 rows of 1 h" in status(pg, "rows of")  # the same rows, only wider


def half_row(text: str) -> float:
    """The amplitude the status says reaches half a row."""
    return float(re.search(r"half a row = (\S+) counts", text).group(1))


def test_a_filtered_helicorder_shows_the_band(base, browser):
    with new_page(browser, viewport=TALL) as pg:
        open_page(pg, heli_url(base, scale="2000"), model="helicorder", settle_ms=800)
        raw = frame_pixels(pg, "helicorder")
        raw_auto = None
        open_page(pg, heli_url(base, band="bp0.5-2", scale="2000"), model="helicorder",
                  settle_ms=800)
        band = frame_pixels(pg, "helicorder")
        assert "band-pass 0.5-2 Hz (stored band)" in status(pg, "rows of")
        open_page(pg, heli_url(base), model="helicorder", settle_ms=800)
        raw_auto = half_row(status(pg, "rows of"))
        open_page(pg, heli_url(base, band="bp0.5-2"), model="helicorder", settle_ms=800)
        frame_pixels(pg, "helicorder", path=SHOT_DIR and f"{SHOT_DIR}/heli_bp.png")
        band_auto = half_row(status(pg, "rows of"))
    # At a fixed 2000 counts per half row the 6000-count swell is clipped all day long raw;
    # band-passed, only the earthquake is.
    clipped = [int(near_colour(img, rgb(CLIP_COLOUR), 40).sum()) for img in (raw, band)]
    assert clipped[1] * 10 < clipped[0], clipped
    # The automatic scale follows: the swell's amplitude raw, the band's noise filtered.
    assert 4000 < raw_auto < 9000 and band_auto < raw_auto / 5, (raw_auto, band_auto)


def test_a_click_on_a_row_opens_that_hour_in_waveforms(base, browser):
    with new_page(browser, viewport=TALL) as pg:
        open_page(pg, heli_url(base, band="bp0.5-2"), model="helicorder", settle_ms=800)
        f = plot_frame(pg, "helicorder")
        pitch = f["height"] / 26.0
        with pg.expect_navigation(timeout=30000):
            pg.mouse.click(f["x"] + f["width"] * 0.5, f["y"] + 9.5 * pitch)  # row 8
        q = parse_qs(urlsplit(pg.url).query)
        assert urlsplit(pg.url).path.endswith("/waveforms")
        assert q["from"] == ["2024-03-04T08:00:00Z"] and q["to"] == ["2024-03-04T09:00:00Z"]
        assert q["streams"] == [CH] and q["filter"] == ["bandpass"] and q["fmin"] == ["0.5"]


def test_a_drag_across_part_of_a_row_opens_that_part(base, browser):
    with new_page(browser, viewport=TALL) as pg:
        open_page(pg, heli_url(base), model="helicorder", settle_ms=800)
        f = plot_frame(pg, "helicorder")
        pitch = f["height"] / 26.0
        y = f["y"] + 3.5 * pitch  # row 2 (02:00-03:00)
        with pg.expect_navigation(timeout=30000):
            pg.mouse.move(f["x"] + f["width"] * 0.25, y)
            pg.mouse.down()
            pg.mouse.move(f["x"] + f["width"] * 0.4, y, steps=8)
            pg.mouse.move(f["x"] + f["width"] * 0.5, y + 0.2 * pitch, steps=8)
            pg.mouse.up()
        q = parse_qs(urlsplit(pg.url).query)
        t0, t1 = UTCDateTime(q["from"][0]), UTCDateTime(q["to"][0])
        assert abs(t0 - (DAY + 2 * 3600 + 15 * 60)) < 60, t0
        assert abs(t1 - (DAY + 2 * 3600 + 30 * 60)) < 60, t1


def test_a_stored_band_draws_a_whole_day_on_the_waveform_page(base, browser):
    # Each trace's maximum fills its band (scale=trace): the filtered signal's shape shows.
    day = "from=2024-03-04T00:00:00Z&to=2024-03-05T00:00:00Z&scale=trace"
    with new_page(browser, viewport=TALL) as pg:
        open_page(pg, f"{base}/waveforms?streams={CH}&{day}", model="waveforms", settle_ms=800)
        raw = frame_pixels(pg)
        open_page(pg, f"{base}/waveforms?streams={CH}&{day}&filter=bandpass&fmin=0.5&fmax=2",
                  model="waveforms", settle_ms=1200)
        band = frame_pixels(pg, path=SHOT_DIR and f"{SHOT_DIR}/waveforms_bp_day.png")
        text = status(pg, "1 pixel ≈")
        assert "band-pass 0.5-2 Hz on 1 of 1 traces" in text, text
        assert not shows(pg, "too long to filter")
        # A band the store does not keep is still refused at this span, with the reason.
        open_page(pg, f"{base}/waveforms?streams={CH}&{day}&filter=bandpass&fmin=0.5&fmax=3",
                  model="waveforms", settle_ms=800)
        status(pg, "too long to filter")
    # Raw, the swell fills the band; band-passed, the noise is a thin line under the quake.
    def ink(img):
        return float((np.abs(img.astype(int) - 255).max(axis=-1) > 60).mean())
    assert ink(band) < 0.5 * ink(raw), (ink(band), ink(raw))


def append_second_file() -> None:
    """Ingest the live store's second six hours (again: a no-op the second time)."""
    live = LIVE_ROOT[0]
    out = run_cli("ingest", "seismic", write_live(live, 1), "--store", str(live / "live.zarr"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_refresh_draws_data_ingested_while_the_page_is_open(base, browser, tmp_path):
    """refresh=2s: a second file ingested into the open day shows in the rows after the
    first's, and the header carries the stream's latency badge."""
    url = (f"{base}/helicorder?store=live.zarr&stream={LIVE}&day=2024-03-04&row=60"
           "&refresh=2s")
    with new_page(browser, viewport=TALL) as pg:
        open_page(pg, url, model="helicorder", settle_ms=800)
        pg.get_by_text("latency", exact=False).first.wait_for(timeout=30000)
        before = frame_pixels(pg, "helicorder")
        pitch = before.shape[0] / 26.0

        def inked(img, r):
            y = int((r + 1.5) * pitch)
            band = img[max(y - 2, 0):y + 3]
            return float((np.abs(band.astype(int) - 255).max(axis=-1) > 60).mean())

        assert inked(before, 3) > 0.3 and inked(before, 8) < 0.01, (inked(before, 3),
                                                                   inked(before, 8))
        append_second_file()
        after = before
        for _ in range(40):  # the next refresh tick draws it
            pg.wait_for_timeout(500)
            try:
                after = frame_pixels(pg, "helicorder")
            except Exception:  # noqa: BLE001 (the old figure is being replaced by the new)
                continue
            if inked(after, 11) > 0.3:
                break
        pg.wait_for_timeout(500)
        after = frame_pixels(pg, "helicorder")
        if SHOT_DIR:
            frame_pixels(pg, "helicorder", path=f"{SHOT_DIR}/heli_refresh.png")
        assert not pg.console_errors
    # Rows 6-11 (06:00-12:00) were empty and now carry the second file; rows 0-5 kept.
    assert all(inked(after, r) > 0.3 for r in range(12)), [inked(after, r) for r in range(12)]
    assert inked(after, 13) < 0.01



def test_a_band_not_computed_where_the_data_is_says_so(base, browser):
    """The live store's lp0.1 band was built before its second file came in:
    both pages name the day and the command; the base store's day, complete, has no note."""
    note = f"band lp0.1 not computed for {LIVE} on 2024-03-04"
    append_second_file()
    with new_page(browser, viewport=TALL) as pg:
        # A week in rows of a day: the stored levels are read (a day at 1 Hz in 24 rows
        # would be samples, filtered on the fly, with nothing missing).
        heli = (f"{base}/helicorder?store=live.zarr&stream={LIVE}&from=2024-02-28&to=2024-03-06"
                "&row=1440&band=lp0.1")
        open_page(pg, heli, model="helicorder", settle_ms=800)
        pg.get_by_text(note, exact=False).first.wait_for(timeout=30000)
        assert shows(pg, "run `belvedere analyse filter`")
        if SHOT_DIR:
            pg.screenshot(path=f"{SHOT_DIR}/heli_band_note.png", full_page=True)
        day = "from=2024-03-04T00:00:00Z&to=2024-03-05T00:00:00Z"
        open_page(pg, f"{base}/waveforms?store=live.zarr&streams={LIVE}&{day}&filter=lowpass"
                  "&fmin=0.1", model="waveforms", settle_ms=800)
        pg.get_by_text(note, exact=False).first.wait_for(timeout=30000)
        open_page(pg, heli_url(base, band="bp0.5-2"), model="helicorder", settle_ms=800)
        status(pg, "rows of")
        assert not shows(pg, "not computed")
