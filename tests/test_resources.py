"""The /resources page: usage charts from a real usage store, in the browser and outside it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from browser import JS_OVERFLOW, NARROW, colored_fraction, new_page, served_dashboard
from test_dashboard_browser import frame_pixels, open_page, query
from test_dashboard_store import build_store

from dashboard.pages import resources
from dashboard.sources import Sources
from pipelines.demo.usage import generate_usage
from pipelines.usage import aggregate
from pipelines.usage.usage_store import open_usage_store

START = pd.Timestamp("2024-02-05").value
DAY = 86400 * 10**9


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    base = tmp_path_factory.mktemp("resources")
    usage = generate_usage(str(base / "usage.zarr"), START, days=10, n_jobs=4000, nodes=24)
    return build_store(str(base / "data.zarr")), usage


@pytest.fixture(scope="module")
def server(stores):
    with served_dashboard(list(stores)) as base:
        yield base


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1400})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def test_sources_tell_usage_stores_from_data_stores(stores):
    src = Sources(list(stores))
    assert src.labels == ["data.zarr"] and src.usage_labels == ["usage.zarr"]
    assert src.usage().n_jobs() == 4000
    with pytest.raises(ValueError, match="usage='nope' is not served here"):
        src.usage("nope")


def test_heatmap_reads_a_bounded_screenful(stores):
    m = open_usage_store(stores[1]).metric("node_cpu")
    fig = resources.heatmap_figure(m, START, START + 10 * DAY, resources.Range1d(0, 1), "h")
    img = fig.renderers[0].data_source.data["image"][0]
    assert img.shape == (24 * 14, resources.HEATMAP_WIDTH)
    assert (img != 0).mean() > 0.9, "the heatmap covers the range"
    assert "means of 16^1" in fig.title.text  # 14,400 samples: level 1, not the raw samples


def test_usage_chart_sums_to_the_jobs_hours(stores):
    jobs = open_usage_store(stores[1]).jobs(resources.JOB_COLUMNS)
    t0, t1 = START - DAY, START + 14 * DAY
    fig = resources.usage_figure(jobs, t0, t1, "account", "cpu", resources.Range1d(0, 1))
    data = fig.renderers[0].data_source.data
    groups = [k for k in data if k != "x"]
    assert set(groups) == {"seismo", "lisa", "svom", "ops"}
    total = sum(np.sum(data[g]) for g in groups)
    assert total == pytest.approx(aggregate.job_metrics(jobs)["cpu_hours"].sum(), rel=1e-6)


def test_resources_page_draws_its_charts(server, page):
    open_page(page, server + "/resources?by=account")
    page.screenshot(path="/tmp/bv_resources.png", full_page=True)
    for name in ("usage", "queue", "heatmap"):
        assert colored_fraction(frame_pixels(page, name)) > 0.05, name
    assert page.get_by_text("jobs ·", exact=False).count() >= 1
    q = query(page)
    assert q["by"] == "account" and q["from"].startswith("2024-") and "to" in q
    assert page.get_by_text("seismo").count() >= 1  # the legend and the top table


def test_the_page_does_not_scroll_sideways_in_a_laptop_window(server, browser):
    with new_page(browser, viewport=NARROW) as pg:
        open_page(pg, server + "/resources", idle=True)
        assert pg.evaluate(JS_OVERFLOW) <= 0, "the controls should wrap, not widen the page"


def test_bad_parameters_show_messages(server, page):
    open_page(page, server + "/resources?by=colour&from=someday")
    assert page.get_by_text("by='colour' is not one of", exact=False).count() == 1
    assert page.get_by_text("cannot read the time 'someday'", exact=False).count() == 1
    assert colored_fraction(frame_pixels(page, "usage")) > 0.05  # and the page still works


def test_overview_shows_the_usage_summary(server, page):
    open_page(page, server + "/")
    assert page.get_by_text("usage.zarr (computing usage)").count() == 1
    assert page.get_by_text("4,000 jobs", exact=False).count() >= 1


def test_quick_range_shows_all_jobs(server, page):
    open_page(page, server + "/resources")
    q0 = query(page)
    page.locator("select").filter(has_text="All jobs").select_option(label="All jobs")
    for _ in range(100):
        q = query(page)
        if q != q0:
            break
        page.wait_for_timeout(100)
    assert q["from"] == "2024-02-05T00:00:00Z", q  # the first job's hour
    assert q["to"] == q0["to"]


def test_snapshot_of_the_resources_view(stores, tmp_path):
    import json
    import re

    from tests.conftest import run_cli

    out = tmp_path / "res.html"
    r = run_cli("snapshot", "--store", stores[1], "--view", "resources", "--query", "by=user",
                "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    meta = json.loads(re.search(r'id="belvedere-snapshot">(.*?)</script>', text, re.S)
                      .group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert meta["view"] == "resources" and meta["store"] == "usage.zarr"
    assert "4,000 jobs" in meta["hint"] and meta["from"].startswith("2024-02-")
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?://', text), \
        "nothing is fetched when it opens"
    assert '"anna"' in text or "anna" in text  # grouped by user
    bad = run_cli("snapshot", "--store", stores[0], "--view", "resources", "-o", str(out))
    assert bad.returncode == 2 and "no usage store is served here" in bad.stderr + bad.stdout
