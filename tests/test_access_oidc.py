"""Login through a real OpenID Connect provider (`oidc-provider` from npm, run by the
machine's Node.js on loopback) in real Chromium, the page header, logout, and embeds of
public and restricted views in an iframe on another site.

The provider is installed by `npm ci --prefix tests/oidc` (package.json and its lock file are
in tests/oidc/); the tests skip, saying so, where Node.js or that install is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests
from access_support import SECRET, write_config, write_users
from browser import (
    browser_marks,
    free_port,
    launch_chromium,
    new_page,
    serve_process,
    static_http_server,
    wait_until,
)
from conftest import run_cli
from fdsn_archive import ingest

OIDC = Path(__file__).parent / "oidc"
SHOTS = Path(os.environ.get("TMPDIR", "/tmp"))
CLIENT_ID, CLIENT_SECRET = "belvedere", "belvedere-test-client-secret"


def _why_no_provider() -> str | None:
    if shutil.which("node") is None:
        return "no Node.js (apt-get install nodejs)"
    if not (OIDC / "node_modules" / "oidc-provider").is_dir():
        return "the test OIDC provider is not installed: npm ci --prefix tests/oidc"
    return None


pytestmark = [*browser_marks(),
              pytest.mark.skipif(_why_no_provider() is not None, reason=str(_why_no_provider()))]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oidc")
    store = ingest(folder, run_cli)
    port, oidc_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{oidc_port}"
    log = open(folder / "provider.log", "w")
    provider = subprocess.Popen(
        ["node", str(OIDC / "provider.js")], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "OIDC_PORT": str(oidc_port), "OIDC_CLIENT_ID": CLIENT_ID,
             "OIDC_CLIENT_SECRET": CLIENT_SECRET,
             "OIDC_REDIRECT_URI": f"http://localhost:{port}/login/oidc/callback",
             "OIDC_ACCOUNTS": json.dumps({"alice": ["seismo"], "bob": ["other"]})})
    try:
        wait_until(lambda: requests.get(issuer + "/.well-known/openid-configuration",
                                        timeout=2).ok, 30, f"the OIDC provider did not start; "
                   f"see {log.name}", died=lambda: None if provider.poll() is None else
                   f"node provider.js exited; see {log.name}")
        config = write_config(folder / "belvedere.toml", {
            "users_file": str(write_users(folder / "users.json")), "cookie_secret": SECRET,
            "audit_log": str(folder / "audit.jsonl"),
        }, [{"store": "fdsn.zarr", "streams": ["IU.*"], "groups": ["seismo"]}],
            oidc={"issuer": issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                  "groups_claim": "groups", "scopes": ["openid", "profile", "groups"]})
        with serve_process(["--address", "127.0.0.1", "--store", store, "--config",
                            str(config)], port, timeout=150, host="localhost") as base:
            yield {"base": base, "folder": folder, "issuer": issuer}
    finally:
        provider.terminate()
        provider.wait(10)
        log.close()


@pytest.fixture(scope="module")
def browser():
    with launch_chromium() as b:
        yield b


def header_text(page) -> str:
    page.wait_for_selector(".bv-header", timeout=60000)
    return page.inner_text(".bv-header")


def oidc_login(page, base: str, name: str, next_path: str) -> None:
    """Log in as `name` at the provider, starting from the header's login link."""
    page.goto(base + next_path)
    page.get_by_role("link", name="log in").click()
    page.wait_for_selector("a.sso", timeout=30000)
    page.screenshot(path=str(SHOTS / "access-login-form.png"))
    page.click("a.sso")
    page.wait_for_selector("input[name=login]", timeout=30000)  # the provider's own page
    page.fill("input[name=login]", name)
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_selector("button[type=submit]", timeout=30000)  # its consent screen
    page.click("button[type=submit]")
    page.wait_for_url(base + "/**", timeout=60000)


def test_a_campus_login_shows_the_groups_streams_and_logout_ends_it(site, browser):
    base = site["base"]
    with new_page(browser) as page:
        page.goto(base + "/waveforms?streams=IU.*")
        assert "log in" in header_text(page)
        page.wait_for_selector("text=no stream matches", timeout=60000)
        page.screenshot(path=str(SHOTS / "access-anonymous-restricted.png"))
        oidc_login(page, base, "alice", "/waveforms?streams=IU.*")
        assert page.url.startswith(base + "/waveforms?streams=IU.")  # back where it started
        head = header_text(page)
        assert "alice" in head and "seismo" in head and "log out" in head
        page.wait_for_selector("canvas", timeout=60000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / "access-alice-waveforms.png"))
        assert page.locator("text=no stream matches").count() == 0
        cookie = {c["name"]: c for c in page.context.cookies()}["belvedere_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        snap = requests.get(base + "/snapshot/waveforms.html?streams=IU.ANMO.00.LHZ&from="
                            "2010-01-01T00:00Z&to=2010-01-01T01:00Z", timeout=120,
                            cookies={"belvedere_session": cookie["value"]})
        assert snap.status_code == 200 and "IU.ANMO.00.LHZ" in snap.text  # the same cookie
        page.get_by_role("link", name="log out").click()
        page.wait_for_url(base + "/", timeout=30000)
        assert "log in" in header_text(page)
    audit = [json.loads(x) for x in (site["folder"] / "audit.jsonl").read_text().splitlines()]
    assert any(x["event"] == "login" and x["user"] == "alice" and x["via"] == "oidc"
               for x in audit)
    assert any(x["event"] == "logout" and x["user"] == "alice" for x in audit)


def test_a_campus_user_outside_the_group_does_not_see_them(site, browser):
    base = site["base"]
    with new_page(browser) as page:
        oidc_login(page, base, "bob", "/")
        head = header_text(page)
        assert "bob" in head and "other" in head
        page.wait_for_selector("text=BW.BGLD..EHE", timeout=60000)
        assert "ANMO" not in page.content()


def test_public_embeds_draw_in_an_iframe_and_restricted_ones_offer_a_login(site, browser):
    base = site["base"]
    embeds = (f'<iframe id="pub" src="{base}/waveforms?streams=BW.BGLD..EHE&embed=1" '
              'width="900" height="320"></iframe>'
              f'<iframe id="res" src="{base}/waveforms?streams=IU.*&embed=1" '
              'width="900" height="320"></iframe>')
    wiki = static_http_server(f"<html><body><h3>A wiki page</h3>{embeds}</body></html>"
                              .encode(), "text/html")
    try:
        with new_page(browser) as page:
            page.goto(f"http://127.0.0.1:{wiki.server_port}/")
            public = page.frame_locator("#pub")
            public.locator("canvas").first.wait_for(timeout=60000)
            restricted = page.frame_locator("#res")
            link = restricted.get_by_role("link", name="log in")
            link.wait_for(timeout=60000)
            assert link.get_attribute("target") == "_blank"
            assert "/login?next=" in link.get_attribute("href")
            assert "embed=0" in unquote(link.get_attribute("href"))  # the page, in a tab
            page.wait_for_timeout(1000)
            page.screenshot(path=str(SHOTS / "access-embeds.png"), full_page=True)
            assert "ANMO" not in page.frame(url=lambda u: "IU." in u).content()
    finally:
        wiki.shutdown()
