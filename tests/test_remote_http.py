"""Stores read over HTTP: a real nginx publishes a store folder read-only (deploy/nginx/
publish-stores.conf), the store module reads the same samples as from the folder, and
`belvedere serve --store http://...` draws the same waveforms in Chromium (pixels)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from browser import colored_fraction, free_port
from test_deploy_nginx import (
    nginx_main_conf,
    open_waveforms,
    running_nginx,
    serve_process,
)

REPO = Path(__file__).resolve().parents[1]
PUBLISH_EXAMPLE = REPO / "deploy" / "nginx" / "publish-stores.conf"


def publish_conf(port: int, folder: Path, autoindex: bool = True) -> str:
    """deploy/nginx/publish-stores.conf listening on loopback PORT and publishing FOLDER at
    /stores/ (each substitution must hit exactly one line)."""
    text = PUBLISH_EXAMPLE.read_text()
    text, n1 = re.subn(r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{port};", text, flags=re.M)
    text, n2 = re.subn(r"^(\s*)alias /srv/belvedere/stores/;", rf"\1alias {folder}/;", text,
                       flags=re.M)
    assert (n1, n2) == (1, 1), "the example's `listen 80;` / alias line moved"
    if not autoindex:
        text = re.sub(r"autoindex on;", "autoindex off;", text)
    return text


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The dashboard test store in a folder that nginx publishes at /stores/ (and, on a
    second port, without autoindex)."""
    from test_dashboard_store import build_store

    tmp = tmp_path_factory.mktemp("remote")
    www = tmp / "www"
    www.mkdir()
    store = build_store(str(www / "store.zarr"))
    p1, p2 = free_port(), free_port()
    body = publish_conf(p1, www) + publish_conf(p2, www, autoindex=False).replace(
        "server_name data.example.org;", "server_name noindex.example.org;")
    conf = nginx_main_conf(tmp / "nginx", body)
    with running_nginx(conf, p1) as base:
        yield {"local": store, "url": f"{base}/stores/store.zarr",
               "noindex": f"http://127.0.0.1:{p2}/stores/store.zarr",
               "log": tmp / "nginx" / "access.log"}


def test_http_store_reads_the_same_samples_as_the_folder(published):
    from pipelines.store import open_store
    from pipelines.timebase import NS

    local, remote = open_store(published["local"]), open_store(published["url"])
    assert remote.streams() == local.streams() and len(local.streams()) == 4
    assert [e["id"] for e in remote.events()] == [e["id"] for e in local.events()]
    for name in local.streams():
        a, b = local[name], remote[name]
        assert b.summary() == a.summary()
        t0, t1 = a.span_ns
        for w0, w1, points in ((t0, t1, 1200), (t0 + 600 * NS, t0 + 660 * NS, 20000)):
            wa = a.read_window(w0, w1, max_points=points)
            wb = b.read_window(w0, w1, max_points=points)
            assert wb.level == wa.level
            np.testing.assert_array_equal(wb.lo, wa.lo)
            np.testing.assert_array_equal(wb.hi, wa.hi)


def test_published_store_is_read_only(published):
    req = urllib.request.Request(published["url"] + "/zarr.json", data=b"{}", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=5)
    assert exc.value.code in (403, 405)


def test_without_autoindex_streams_cannot_be_listed(published):
    """Why publish-stores.conf turns autoindex on: fsspec lists a folder from its index page."""
    from pipelines.store import open_store

    st = open_store(published["noindex"])  # the root zarr.json is still readable
    with pytest.raises(Exception, match="403"):
        st.streams()


@pytest.mark.browser
def test_dashboard_over_http_draws_the_same_waveforms(published, browser):
    """`belvedere serve --store http://...` and `--store FOLDER`: same view, same pixels."""
    images = {}
    for key in ("url", "local"):
        port = free_port()
        with serve_process(["--store", published[key], "--address", "127.0.0.1"],
                           port) as base:
            before = published["log"].stat().st_size
            img, sockets, errors = open_waveforms(browser, base + "/waveforms")
            assert not errors
            images[key] = img
            if key == "url":  # the frames were read from nginx, not from the folder
                with open(published["log"]) as f:
                    f.seek(before)
                    reads = re.findall(r'"GET /stores/store\.zarr/BV\.[^"]+" 20[06] ', f.read())
                assert reads, "the dashboard read stream chunks over HTTP"
    http, local = images["url"], images["local"]
    assert colored_fraction(http) > 0.005, "trace ink in the waveforms plot"
    rows = (http.astype(np.int16).max(-1) - http.astype(np.int16).min(-1) > 60).any(axis=1)
    assert all(b.any() for b in np.array_split(rows, 4)), "four stacked traces"
    assert http.shape == local.shape
    differ = (np.abs(http.astype(np.int16) - local.astype(np.int16)).max(-1) > 24).mean()
    assert differ < 0.002, f"{differ:.2%} of the plot's pixels differ between HTTP and local"
