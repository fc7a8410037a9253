"""The analysis views in a real served dashboard and real Chromium: /noise (the PPSD density
with Peterson's models, restacked by time of day in the page, the URL restoring it, a click on
the spectrogram opening that day's waveforms), /rsam over years at screen resolution, the
/resources table of throughput computed from the runs recorded by real analyse runs, and
snapshots and embeds of the new pages.

One store for the file: a real Steim2 archive (3 channels, 2 days) ingested and analysed
(psd, rsam, detect: each run recorded in a usage store), plus 120 days of stored PSDs and
three years of 10-minute RSAM written as the engine writes them (the views' long spans).
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from analysis_archive import flat_inventory, write_archive
from bench.bench_noise import write_psds
from browser import (
    SHOTS,
    browser_marks,
    colored_fraction,
    frame_pixels,
    near_colour,
    new_page,
    open_page,
    plot_frame,
    served_dashboard,
)

from pipelines.analysis.engine import analyse, record_run
from pipelines.analysis.throughput import throughput
from pipelines.seismic.ingest import ingest_seismic
from pipelines.store import open_store
from pipelines.store.products import series_writer
from pipelines.usage.costs import RunMeter
from pipelines.usage.usage_store import UsageStore

pytestmark = browser_marks()
CHANNELS = ("XX.AAA.00.HHZ", "XX.BBB.00.HHZ", "XX.CCC.00.HHZ")
YEAR = "XX.YEAR.00.HHZ"
LONG = "XX.LONG.00.HHZ"
PSD_DAY0 = 1_698_796_800 * 10**9  # 2023-11-01: 120 days reach into February
RSAM_DAY0 = 1_609_459_200 * 10**9  # 2021-01-01
MODEL_RGB = (0x7A, 0x7A, 0x7A)


def _long_rsam(store_url: str) -> None:
    """Three years of 10-minute RSAM of one stream: a regular series with its pyramid."""
    st = open_store(store_url, mode="a")
    n = 3 * 365 * 144
    t = np.arange(n)
    values = (100 + 40 * np.sin(2 * np.pi * t / (365 * 144)) + 10 * np.sin(2 * np.pi * t / 144)
              + np.random.default_rng(0).gamma(2.0, 3.0, n)).astype(np.float32)
    w = series_writer(st, LONG, "rsam", "0.5-2Hz_600s_mean_abs", 1 / 600, RSAM_DAY0,
                      {"source_stream": LONG, "units": "counts", "product": "rsam"})
    w.write(0, values)
    w.update_pyramid(0, n, [(0, values)])
    w.commit()


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    d = tmp_path_factory.mktemp("noiseviews")
    write_archive(d / "sds", CHANNELS, rate=20.0, days=2)
    xml = flat_inventory(d / "flat.xml", CHANNELS, 20.0)
    store, usage = str(d / "a.zarr"), str(d / "usage.zarr")
    assert not ingest_seismic(store, [str(d / "sds")], [str(xml)]).issues
    old = os.environ.get("BELVEDERE_USAGE_STORE")
    os.environ["BELVEDERE_USAGE_STORE"] = usage
    try:
        for name in ("psd", "rsam", "detect"):
            meter = RunMeter(f"analyse-{name}", "local", "")
            rep = analyse(store, name, infrastructure="local")
            assert rep.tasks == 6 and not rep.issues, rep
            record_run(rep, meter, remote=False)
        meter = RunMeter("analyse-psd", "local-threads-2", "")
        rep = analyse(store, "psd", infrastructure="local-threads-2", workers=2,
                      overrides={})  # unchanged: computes nothing, measures nothing
        record_run(rep, meter, remote=False)
    finally:
        if old is None:
            os.environ.pop("BELVEDERE_USAGE_STORE")
        else:
            os.environ["BELVEDERE_USAGE_STORE"] = old
    write_psds(store, YEAR, 120, PSD_DAY0)
    _long_rsam(store)
    return store, usage


@pytest.fixture(scope="module")
def server(stores):
    with served_dashboard(list(stores), timeout=120) as base:
        yield base


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=120) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(page.url).query).items()}


def _texts(page) -> str:
    """The text of every HTML/Markdown model of the page (Panel draws in shadow roots)."""
    return page.evaluate("""() => { const out = [];
      for (const d of Bokeh.documents) for (const m of d.all_models)
        if (typeof m.text === 'string') out.push(m.text);
        else if (typeof m.object === 'string') out.push(m.object);
      return out.join(' '); }""").replace("&#x27;", "'")


def _set_range_slider(page, title: str, value: tuple[float, float]) -> None:
    page.evaluate("""([title, v]) => {
      for (const d of Bokeh.documents) for (const m of d.all_models)
        if (m.title === title && Array.isArray(m.value)) { m.value = v; return; }
      throw new Error('no slider ' + title); }""", [title, list(value)])


def test_the_density_is_drawn_with_the_noise_models_and_restacks_by_time_of_day(server,
                                                                                 browser):
    url = f"{server}/noise?stream={YEAR}&from=2023-11-01&to=2024-03-01"
    with new_page(browser) as page:
        open_page(page, url, idle=True, model="density", settle_ms=1500)
        whole = frame_pixels(page, "density", f"{SHOTS}/noise_density.png")
        page.screenshot(path=f"{SHOTS}/noise_page.png", full_page=True)
        models = near_colour(whole, MODEL_RGB, 14)
        # Peterson's two curves cross the frame: grey ink in most pixel columns
        assert models.any(axis=0).mean() > 0.5, models.sum()
        assert colored_fraction(whole) > 0.05  # the density itself (viridis)
        text = _texts(page)
        assert re.search(r"5,760 of 5,760 hourly PSDs", text), text[:500]
        _set_range_slider(page, "Time of day (UTC, PSD start)", (0.0, 6.0))
        page.wait_for_function("() => window.location.search.includes('hours=0-6')",
                               timeout=30000)
        page.wait_for_timeout(1500)
        night = frame_pixels(page, "density", f"{SHOTS}/noise_density_night.png")
        # the cultural noise (periods under 1 s, 06-18 h) leaves the stack: the image moves
        changed = np.abs(night.astype(int) - whole.astype(int)).max(axis=-1) > 40
        assert changed.mean() > 0.01, changed.mean()
        used = re.search(r"([\d,]+) of 5,760 hourly PSDs", _texts(page))
        assert used and int(used.group(1).replace(",", "")) == 120 * 13  # 00:00 ... 06:00
        restacked_url = page.url
    with new_page(browser) as page:  # the URL restores the restacked view
        open_page(page, restacked_url, idle=True, model="density", settle_ms=1500)
        again = frame_pixels(page, "density")
        assert _query(page)["hours"] == "0-6"
        same = np.abs(again.astype(int) - night.astype(int)).max(axis=-1) > 40
        assert same.mean() < 0.002, same.mean()


def test_weekdays_and_months_in_the_url_restack_and_bad_values_say_so(server, browser):
    with new_page(browser) as page:
        open_page(page, f"{server}/noise?stream={YEAR}&from=2023-11-01&to=2024-03-01"
                  "&weekdays=sat,sun&months=12&hours=25-3", idle=True, model="density")
        text = _texts(page)
        assert "hours='25-3' is not H0-H1" in text
        q = _query(page)
        assert q["weekdays"] == "6,7" and q["months"] == "12" and "hours" not in q
        used = int(re.search(r"([\d,]+) of 5,760", text).group(1).replace(",", ""))
        assert used == 48 * 10  # the Saturdays and Sundays of December 2023


def test_a_click_on_the_spectrogram_opens_that_days_waveforms(server, browser):
    with new_page(browser) as page:
        open_page(page, f"{server}/noise?stream={YEAR}&from=2023-11-01&to=2024-03-01",
                  idle=True, model="spectrogram", settle_ms=1000)
        spec = frame_pixels(page, "spectrogram", f"{SHOTS}/noise_spectrogram.png")
        assert colored_fraction(spec) > 0.5  # 120 days of PSDs fill the frame
        box = plot_frame(page, "spectrogram")
        # 15 Dec 2023 lies 44.5/120 of the way along the frame
        page.mouse.click(box["x"] + box["width"] * 44.5 / 120, box["y"] + box["height"] / 2)
        page.wait_for_url("**/waveforms?**", timeout=30000)
        q = _query(page)
        assert q["streams"] == YEAR
        assert q["from"].startswith("2023-12-15T00:00:00") and q["to"].startswith("2023-12-16")


def test_rsam_over_three_years_is_drawn_at_screen_resolution(server, browser):
    with new_page(browser) as page:
        open_page(page, f"{server}/rsam?streams={LONG}&from=2021-01-01&to=2024-01-01",
                  idle=True, model="rsam", settle_ms=1500)
        page.screenshot(path=f"{SHOTS}/rsam_page.png", full_page=True)
        pix = frame_pixels(page, "rsam")
        assert colored_fraction(pix) > 0.05
        drawn = int(re.search(r"([\d,]+) values drawn", _texts(page))
                    .group(1).replace(",", ""))
        width = plot_frame(page, "rsam")["width"]
        # the pyramid level with at least one bucket per pixel: under a factor of 16 more
        assert 0 < drawn <= 16 * width and drawn < 157_680 / 10, (drawn, width)
    with new_page(browser) as page:  # the real analysed streams, with detections beneath
        open_page(page, f"{server}/rsam?streams=XX.A*,XX.B*,XX.C*", idle=True,
                  model="detections", settle_ms=1000)
        text = _texts(page)
        assert "3 streams" in text and "0.5-2Hz_600s_mean_abs" in text
        assert colored_fraction(frame_pixels(page, "rsam")) > 0.01
        box = page.locator("input[type=text]:visible").first  # the streams, as wildcards
        box.fill("NOPE.*")
        box.press("Enter")
        page.get_by_text("streams='NOPE.*'", exact=False).first.wait_for(timeout=15000)
        box.fill("XX.A*")
        box.press("Enter")
        for _ in range(60):  # the page redraws the one stream with RSAM that matches
            if "1 streams" in _texts(page):
                break
            page.wait_for_timeout(500)
        assert "1 streams" in _texts(page)


def test_resources_shows_the_throughput_computed_from_the_recorded_runs(stores, server,
                                                                       browser):
    runs = UsageStore(stores[1]).runs()
    assert sorted(runs["kind"].astype(str)) == ["analyse-detect", "analyse-psd",
                                               "analyse-psd", "analyse-rsam"]
    table = throughput(runs)
    assert list(table["analysis"]) == ["detect", "psd", "rsam"]  # the unchanged run: none
    assert (table["channel-days"] == 6).all() and (table["runs"] == 1).all()
    psd_run = runs[(runs["kind"].astype(str) == "analyse-psd")
                   & (runs["infrastructure"].astype(str) == "local")].iloc[0]
    row = table[table["analysis"] == "psd"].iloc[0]
    assert row["channel-days per core-hour"] == round(6 / (psd_run["cpu_seconds"] / 3600))
    assert row["start-up s (median)"] >= 0
    with new_page(browser) as page:
        open_page(page, f"{server}/resources", idle=True, canvas=False, settle_ms=1500)
        page.screenshot(path=f"{SHOTS}/resources_throughput.png", full_page=True)
        assert "Which resources for which analysis" in _texts(page)
        shown = page.evaluate("""() => {
          for (const d of Bokeh.documents) for (const m of d.all_models)
            if (Array.isArray(m.columns) && m.source
                && m.columns.some((c) => c.title === 'channel-days per core-hour')) {
              const out = {};
              for (const c of m.columns) out[c.title] = Array.from(m.source.get_column(c.field));
              return out; }
          return null; }""")
        assert shown is not None, "no throughput table"
        assert shown["analysis"] == ["detect", "psd", "rsam"]
        assert shown["infrastructure"] == ["local"] * 3
        assert shown["channel-days per core-hour"][1] == row["channel-days per core-hour"]


def test_snapshots_and_embeds_of_the_new_pages(server, browser):
    status, body = _get(f"{server}/snapshot/noise.html?stream={YEAR}&from=2023-11-01"
                        "&to=2024-03-01&hours=0-6")
    assert status == 200 and 'id="belvedere-snapshot"' in body and '"density"' in body
    assert "1,560 of 5,760 hourly PSDs" in body  # restacked as the URL says
    status, body = _get(f"{server}/snapshot/rsam.html?streams={LONG}&from=2021-01-01"
                        "&to=2024-01-01")
    assert status == 200 and '"rsam"' in body and '"detections"' in body
    status, body = _get(f"{server}/snapshot/noise.html?stream=NO.SUCH.00.HHZ")
    assert status == 400 and "has no PSDs" in body
    with new_page(browser) as page:
        open_page(page, f"{server}/noise?stream={YEAR}&embed=1", idle=True, model="density")
        assert page.locator(".bv-header").count() == 0
        assert colored_fraction(frame_pixels(page, "density")) > 0.05
    with new_page(browser) as page:
        open_page(page, f"{server}/rsam?streams={LONG}&embed=1", idle=True, model="rsam")
        assert page.locator(".bv-header").count() == 0
