"""deploy/nginx/belvedere.conf in a real nginx: `nginx -t` passes, and Chromium reaches a real
`belvedere serve --prefix /belvedere` through it, websocket included (the waveforms are drawn).

Also the helpers that run nginx on loopback (used by test_remote_http.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from browser import (
    REPO,
    colored_fraction,
    colored_rows,
    free_port,
    new_page,
    open_page,
    serve_process,
    settled_frame_pixels,
    wait_until,
)

NGINX_EXAMPLE = REPO / "deploy" / "nginx" / "belvedere.conf"
PREFIX = "/belvedere"


def nginx_binary() -> str:
    """The nginx executable (Debian's package; .ci/run installs it)."""
    return shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_main_conf(workdir: Path, http_body: str) -> Path:
    """A complete nginx.conf in `workdir` (pid, logs, temp files there) around `http_body`."""
    workdir.mkdir(parents=True, exist_ok=True)
    temps = "\n".join(f"    {k}_temp_path {workdir / k};"
                      for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = workdir / "nginx.conf"
    # As root, nginx's workers would run as nobody/www-data, who cannot read pytest's
    # private temporary folders: keep them as the user running the test.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(f"""{user}daemon off;
worker_processes 1;
pid {workdir / 'nginx.pid'};
error_log {workdir / 'error.log'} info;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {workdir / 'access.log'};
{temps}
{http_body}
}}
""")
    return conf


@contextlib.contextmanager
def running_nginx(conf: Path, port: int, timeout: float = 15.0) -> Iterator[str]:
    """Run nginx with this configuration; yields http://127.0.0.1:PORT once it answers."""
    proc = subprocess.Popen([nginx_binary(), "-c", str(conf), "-p", str(conf.parent)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            urllib.request.urlopen(base + "/", timeout=1).close()
        except urllib.error.HTTPError:
            pass  # it answers (404/302 are answers)
        return True

    try:
        wait_until(answers, timeout, "nginx did not answer", interval=0.1,
                   died=lambda: None if proc.poll() is None else
                   f"nginx exited: {proc.stderr.read().decode()}")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def example_with_ports(listen_port: int, upstream_port: int) -> str:
    """deploy/nginx/belvedere.conf with its listen port and upstream moved to loopback test
    ports (each substitution must hit exactly one line: the test fails if the example
    changes shape)."""
    text = NGINX_EXAMPLE.read_text()
    text, n_listen = re.subn(r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{listen_port};", text,
                             flags=re.M)
    text, n_up = re.subn(r"^(\s*)server 127\.0\.0\.1:5006;",
                         rf"\1server 127.0.0.1:{upstream_port};", text, flags=re.M)
    assert (n_listen, n_up) == (1, 1), "the example's `listen 80;` / upstream line moved"
    return text


def open_waveforms(browser, url: str) -> tuple[np.ndarray, list, list[str]]:
    """Load the waveforms page in a fresh context; returns (plot pixels, websockets opened,
    page errors)."""
    sockets: list = []

    def on_ws(ws):
        entry = {"url": ws.url, "received": 0}
        ws.on("framereceived", lambda _payload: entry.__setitem__("received",
                                                                 entry["received"] + 1))
        sockets.append(entry)

    with new_page(browser) as page:
        page.on("websocket", on_ws)
        open_page(page, url, model="waveforms", timeout_ms=60000, settle_ms=1500)
        img = settled_frame_pixels(page)
        page.screenshot(path=f"/tmp/belvedere_{re.sub(r'[^a-z0-9]+', '_', url)[-40:]}.png")
    return img, sockets, page.console_errors


# -- tests ----------------------------------------------------------------------------------
def test_nginx_example_passes_nginx_t(tmp_path):
    conf = nginx_main_conf(tmp_path, example_with_ports(free_port(), free_port()))
    r = subprocess.run([nginx_binary(), "-t", "-c", str(conf), "-p", str(tmp_path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "syntax is ok" in r.stderr and "test is successful" in r.stderr


def test_nginx_t_catches_a_broken_example(tmp_path):
    broken = example_with_ports(free_port(), free_port()).replace(
        "proxy_http_version 1.1;", "proxy_http_version 1.1")
    conf = nginx_main_conf(tmp_path, broken)
    r = subprocess.run([nginx_binary(), "-t", "-c", str(conf), "-p", str(tmp_path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """A real `belvedere serve --prefix /belvedere` behind the example nginx config."""
    from test_dashboard_store import build_store

    tmp = tmp_path_factory.mktemp("nginx-proxy")
    store = build_store(str(tmp / "store.zarr"))
    listen, upstream = free_port(), free_port()
    args = ["--store", store, "--address", "127.0.0.1", "--prefix", PREFIX, "--use-xheaders",
            "--allow-websocket-origin", f"127.0.0.1:{listen}"]
    with serve_process(args, upstream, PREFIX) as direct:
        conf = nginx_main_conf(tmp / "nginx", example_with_ports(listen, upstream))
        with running_nginx(conf, listen) as base:
            yield {"base": base, "direct": direct, "nginx_dir": tmp / "nginx"}


def test_proxy_redirects_to_the_prefix_and_answers_liveness(proxied):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as exc:
        opener.open(proxied["base"] + "/", timeout=5)
    assert exc.value.code == 302 and exc.value.headers["Location"].endswith(PREFIX + "/")
    with urllib.request.urlopen(proxied["base"] + PREFIX + "/liveness", timeout=5) as r:
        assert r.status == 200


@pytest.mark.browser
def test_waveforms_draw_through_the_proxy_over_its_websocket(proxied, browser):
    img, sockets, errors = open_waveforms(browser, proxied["base"] + PREFIX + "/waveforms")
    listen = proxied["base"].rsplit(":", 1)[1]
    ws = [s for s in sockets if s["url"].startswith(f"ws://127.0.0.1:{listen}{PREFIX}/")]
    assert ws, f"no websocket through the proxy: {sockets}"
    assert ws[0]["received"] > 0, "the websocket through nginx carried no message"
    assert colored_fraction(img) > 0.005, "trace ink in the waveforms plot"
    assert all(b.any() for b in np.array_split(colored_rows(img), 4)), "four stacked traces"
    assert not errors
    log = (proxied["nginx_dir"] / "access.log").read_text()
    assert re.search(rf'"GET {PREFIX}/waveforms/ws[^"]*" 101 ', log), \
        "nginx upgraded the websocket (101 in its access log)"
