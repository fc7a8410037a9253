"""Access control on every route of a real `belvedere serve`: one server over a store of
ObsPy's own test files, where IU (ANMO, with its StationXML) is restricted to the group
`seismo`, XX.F64 is under an embargo that ends while the server runs, and the usage store is
for the group `hpc`.

Checked as anonymous, as alice (seismo), as bob (another group) and as root (admin): pages
and their documents, every link they hold, the snapshot route, the FDSN services (`query`
public only; `queryauth` through ObsPy's real client and HTTP digest), bad cookies, digest
replays, the audit log, and the embargo ending with no restart. Logins through a real OpenID
Connect provider (`oidc-provider` from npm, `npm ci --prefix tests/oidc`, run by the
machine's Node.js) in real Chromium, the page header, logout, and embeds of public and
restricted views in an iframe on another site.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import pandas as pd
import pytest
import requests
from access_support import (
    SECRET,
    USERS,
    crawl,
    login,
    page_document,
    tampered,
    write_config,
    write_users,
)
from browser import (
    browser_marks,
    free_port,
    new_page,
    serve_process,
    static_http_server,
    wait_until,
)
from conftest import run_cli
from fdsn_archive import ingest
from obspy import UTCDateTime, read
from obspy.clients.fdsn import Client
from obspy.clients.fdsn.header import FDSNNoDataException, FDSNUnauthorizedException

from pipelines.demo.usage import generate_usage

# IU.ANMO.00.LHZ: station and channel codes (looked for where the request did not name them),
# and its StationXML's coordinates and site (looked for everywhere)
RESTRICTED = ("ANMO", "LHZ", "34.9459", "106.457", "Albuquerque")
EMBARGOED = "F64"  # XX.F64..HHZ
# The catalogue's event of 2010-01-01T01:30 has P and S picks on IU.ANMO.00.LHZ (hidden: their
# times, as ISO and as epoch milliseconds, must appear nowhere) and one on BW.BGLD..EHE (public)
HIDDEN_PICKS = ("01:30:20.5", "01:30:36.25", "1262309420500", "1262309436250")
PUBLIC_PICK = "2010-01-01T01:30:25.750000Z"
EVENT = "smi:local/event/anmo-2010"
PUBLIC = ("BGLD", "XX.TEST")
USAGE = ("usage.zarr",)  # the usage store: for the group hpc (and admins) only
EMBARGO_S = 150  # the embargo ends this long after the configuration is written (slow starts)
OIDC = Path(__file__).parent / "oidc"
SHOTS = Path(os.environ.get("TMPDIR", "/tmp"))
CLIENT_ID, CLIENT_SECRET = "belvedere", "belvedere-test-client-secret"


def _why_no_provider() -> str | None:
    if shutil.which("node") is None:
        return "no Node.js (apt-get install nodejs)"
    if not (OIDC / "node_modules" / "oidc-provider").is_dir():
        return "the test OIDC provider is not installed: npm ci --prefix tests/oidc"
    return None


NO_PROVIDER = _why_no_provider()
login_in_browser = browser_marks()


def need_provider() -> None:
    """Fail (never skip) a login test where the provider is missing: .ci/run installs it."""
    if NO_PROVIDER:
        pytest.fail(NO_PROVIDER)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("access")
    port = free_port()
    # the store's ingest (a subprocess), the usage store and the provider's start overlap
    with ThreadPoolExecutor(1) as pool, oidc_provider(folder, port, wait=False) as started:
        ingested = pool.submit(lambda: add_public_pick(ingest(folder, run_cli)))
        usage = generate_usage(str(folder / "usage.zarr"), pd.Timestamp("2024-02-05").value,
                               days=2, n_jobs=200, nodes=4)
        issuer = started()
        store = ingested.result()
        ends = datetime.now(UTC) + timedelta(seconds=EMBARGO_S)
        config = write_config(folder / "belvedere.toml", {
            "users_file": str(write_users(folder / "users.json")), "cookie_secret": SECRET,
            "audit_log": str(folder / "audit.jsonl"), "session_hours": 1.0,
            "usage_groups": ["hpc"],
        }, [{"store": "fdsn.zarr", "streams": ["IU.*"], "groups": ["seismo"]},
            {"store": "fdsn.zarr", "streams": ["XX.F64.*"], "groups": ["seismo"],
             "embargo_until": ends.strftime("%Y-%m-%dT%H:%M:%SZ")}],
            oidc=issuer and {"issuer": issuer, "client_id": CLIENT_ID,
                             "client_secret": CLIENT_SECRET, "groups_claim": "groups",
                             "scopes": ["openid", "profile", "groups"]})
        with serve_process(["--address", "127.0.0.1", "--store", store, "--store", usage,
                            "--config", str(config)], port, timeout=150,
                           host="localhost") as base:
            yield {"base": base, "folder": folder, "embargo_ends": ends.timestamp()}


def add_public_pick(url: str) -> str:
    """A pick on a public stream next to the restricted ones of the ANMO event; the store."""
    from pipelines.store import consolidate, open_store

    store = open_store(url, "a")
    event = next(e for e in store.events() if e["id"] == EVENT)
    t = int(UTCDateTime(PUBLIC_PICK).ns)
    store.set_events([{**event, "picks": [*event["picks"], {"stream": "BW.BGLD..EHE",
                                                            "phase": "P", "time_ns": t}]}])
    consolidate(store)
    return url


@contextlib.contextmanager
def oidc_provider(folder: Path, port: int, wait: bool = True):
    """`node tests/oidc/provider.js` on a free loopback port; yields its issuer URL (None
    where Node.js or the provider is missing: the login tests then fail, saying why), or
    with `wait=False` at once a function that waits for it and returns it."""
    if NO_PROVIDER:
        yield None if wait else (lambda: None)
        return
    oidc_port = free_port()
    issuer = f"http://127.0.0.1:{oidc_port}"
    log = open(folder / "provider.log", "w")
    provider = subprocess.Popen(
        ["node", str(OIDC / "provider.js")], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "OIDC_PORT": str(oidc_port), "OIDC_CLIENT_ID": CLIENT_ID,
             "OIDC_CLIENT_SECRET": CLIENT_SECRET,
             "OIDC_REDIRECT_URI": f"http://localhost:{port}/login/oidc/callback",
             "OIDC_ACCOUNTS": json.dumps({"alice": ["seismo"], "bob": ["other"]})})

    def started() -> str:
        wait_until(lambda: requests.get(issuer + "/.well-known/openid-configuration",
                                        timeout=2).ok, 30, f"the OIDC provider did not start; "
                   f"see {log.name}", died=lambda: None if provider.poll() is None else
                   f"node provider.js exited; see {log.name}")
        return issuer

    try:
        yield started() if wait else started
    finally:
        provider.terminate()
        provider.wait(10)
        log.close()


@pytest.fixture(scope="module")
def anon():
    return requests.Session()


@pytest.fixture(scope="module")
def alice(server):
    return login(server["base"], "alice")


@pytest.fixture(scope="module")
def bob(server):
    return login(server["base"], "bob")


def apply(marks: list):
    """A decorator putting these marks on a test."""
    def mark(fn):
        for m in marks:
            fn = m(fn)
        return fn
    return mark


def seeds() -> list[str]:
    """Every route, and the restricted streams asked for by name and by wildcard (a person
    who knows the name must get nothing more than one who does not)."""
    t = "from=2010-01-01T00:00Z&to=2010-01-01T06:00Z"
    name = f"streams=IU.ANMO.00.LHZ&{t}"
    wild = f"streams={quote('IU.*')}&{t}"
    return ["/", "/waveforms", "/availability", "/stations", "/mission", "/resources",
            f"/waveforms?{name}&embed=1", f"/waveforms?{wild}", f"/availability?{wild}",
            f"/stations?{wild}",
            "/snapshot/overview.html", "/snapshot/stations.html",
            f"/snapshot/waveforms.html?{name}", f"/snapshot/availability.html?{wild}",
            "/fdsnws/station/1/query?level=response&format=xml",
            "/fdsnws/station/1/query?level=channel&format=text",
            "/fdsnws/station/1/query?level=station&format=text",
            "/fdsnws/station/1/query?level=network&format=text",
            "/fdsnws/station/1/query?net=IU&level=channel&format=text",
            "/fdsnws/availability/1/query?format=text", "/fdsnws/availability/1/extent",
            "/fdsnws/availability/1/query?format=json&merge=samplerate",
            "/fdsnws/availability/1/query?net=IU&format=text",
            "/fdsnws/dataselect/1/query?net=*&sta=*&start=2000-01-01&end=2030-01-01",
            "/fdsnws/dataselect/1/query?net=IU&sta=ANMO&loc=00&cha=LHZ"
            "&start=2010-01-01T00:00:00&end=2010-01-01T02:00:00",
            "/fdsnws/event/1/query?includearrivals=true&format=xml",
            "/fdsnws/event/1/query?format=text", f"/fdsnws/event/1/query?eventid={EVENT}",
            f"/waveforms?event={quote(EVENT)}&{name}", "/helicorder?streams=IU.ANMO.00.LHZ",
            f"/snapshot/waveforms.html?event={quote(EVENT)}&{wild}",
            "/helicorder", "/snapshot/stations.html?streams=BW.*"]


BASE64 = re.compile(r"[A-Za-z0-9+/]{32,}={0,2}")  # images and arrays: any 3 letters by chance


def leaks(pages: dict[str, tuple[int, str]], words: tuple[str, ...]) -> dict[str, list[str]]:
    """URL -> the words found in its answer that the request itself did not name."""
    out = {}
    for url, (_, text) in pages.items():
        asked = unquote(unquote(url))
        rest = BASE64.sub("", text)
        found = [w for w in words if w not in asked and w in rest]
        if found:
            out[url] = found
    return out


def test_anonymous_crawl_never_sees_a_restricted_name_sample_or_metadata(server, anon):
    station = server["base"] + "/fdsnws/station/1/query?level=channel&format=text"
    assert time.time() < server["embargo_ends"] - 2, "the server took minutes to start"
    assert EMBARGOED not in anon.get(station, timeout=60).text  # still under embargo
    pages = crawl(server["base"], anon, seeds())
    assert len(pages) > 30
    assert not [u for u, (status, _) in pages.items() if status >= 500]
    assert leaks(pages, RESTRICTED + USAGE + HIDDEN_PICKS) == {}
    if time.time() < server["embargo_ends"]:  # the whole crawl ran under the embargo
        assert leaks(pages, (EMBARGOED,)) == {}
    # the public streams are there: the crawl did see the pages' content
    assert all(any(w in t for _, t in pages.values()) for w in PUBLIC)
    # a page still names ANMO nowhere, even in the options of its stream picker
    status, text = page_document(server["base"] + "/waveforms", anon)
    assert status == 200 and "BW.BGLD..EHE" in text and "ANMO" not in text
    # the event and its public pick and arrival stay; the hidden picks are gone
    xml = anon.get(server["base"] + "/fdsnws/event/1/query?includearrivals=true", timeout=60)
    assert xml.status_code == 200 and EVENT in xml.text and PUBLIC_PICK in xml.text
    assert xml.text.count("<arrival ") == 1 and "BGLD" in xml.text


def test_a_member_of_the_group_finds_them_on_every_route(server, alice):
    pages = crawl(server["base"], alice, seeds())
    found = {w for _, t in pages.values() for w in RESTRICTED + (EMBARGOED,) if w in t}
    assert found == set(RESTRICTED + (EMBARGOED,))
    # both picks on ANMO, on its helicorder (as ISO time or epoch ms)
    heli = pages[server["base"] + "/helicorder?streams=IU.ANMO.00.LHZ"][1]
    assert all(iso in heli or ms in heli
               for iso, ms in zip(HIDDEN_PICKS[:2], HIDDEN_PICKS[2:], strict=True))
    overview = page_document(server["base"] + "/", alice)[1]
    assert "IU.ANMO.00.LHZ" in overview and "alice" in overview and "log out" in overview
    snap = alice.get(server["base"] + "/snapshot/waveforms.html?streams=IU.ANMO.00.LHZ"
                     "&from=2010-01-01T00:00Z&to=2010-01-01T06:00Z", timeout=120)
    assert snap.status_code == 200 and "IU.ANMO.00.LHZ" in snap.text


def test_a_user_outside_the_group_sees_what_anonymous_sees(server, bob):
    pages = crawl(server["base"], bob, seeds()[:6], max_requests=14)
    assert leaks(pages, RESTRICTED + USAGE) == {}
    overview = page_document(server["base"] + "/", bob)[1]
    assert "bob" in overview and "BW.BGLD..EHE" in overview and "ANMO" not in overview


def test_query_is_public_only_even_with_a_login_cookie(server, alice):
    url = (server["base"] + "/fdsnws/dataselect/1/query?net=IU&sta=ANMO&loc=00&cha=LHZ"
           "&start=2010-01-01T00:00:00&end=2010-01-01T01:00:00")
    assert alice.get(url, timeout=60).status_code == 204


def test_obspys_client_with_user_and_password_gets_the_restricted_samples(server):
    base = server["base"]
    t0, t1 = UTCDateTime(2010, 1, 1, 1), UTCDateTime(2010, 1, 1, 2)
    with pytest.raises(FDSNNoDataException):
        Client(base).get_waveforms("IU", "ANMO", "00", "LHZ", t0, t1)
    st = Client(base, user="alice", password=USERS["alice"][0]).get_waveforms(
        "IU", "ANMO", "00", "LHZ", t0, t1)
    assert [tr.id for tr in st] == ["IU.ANMO.00.LHZ"] and st[0].stats.npts == 3600
    with pytest.raises(FDSNNoDataException):  # bob: logged in, but not in the group
        Client(base, user="bob", password=USERS["bob"][0]).get_waveforms(
            "IU", "ANMO", "00", "LHZ", t0, t1)
    with pytest.raises(FDSNUnauthorizedException):
        Client(base, user="alice", password="wrong").get_waveforms("IU", "ANMO", "00", "LHZ",
                                                                   t0, t1)


def _digest_header(challenge: str, uri: str, nc: int, user="alice") -> str:
    """A correct digest response to `challenge`, as RFC 7616 has a client compute it."""
    import hashlib
    from urllib.request import parse_http_list, parse_keqv_list

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    p = parse_keqv_list(parse_http_list(challenge[7:]))
    ha1 = md5(f"{user}:{p['realm']}:{USERS[user][0]}")
    ncs, cnonce = f"{nc:08x}", "0a4f113b"
    resp = md5(f"{ha1}:{p['nonce']}:{ncs}:{cnonce}:auth:{md5('GET:' + uri)}")
    return (f'Digest username="{user}", realm="{p["realm"]}", nonce="{p["nonce"]}", '
            f'uri="{uri}", response="{resp}", qop=auth, nc={ncs}, cnonce="{cnonce}", '
            f'algorithm=MD5, opaque="{p["opaque"]}"')


def test_a_replayed_digest_response_is_refused_with_401_and_nothing_else(server):
    uri = ("/fdsnws/dataselect/1/queryauth?net=IU&sta=ANMO&loc=00&cha=LHZ"
           "&start=2010-01-01T00:00:00&end=2010-01-01T00:10:00")
    url = server["base"] + uri
    first = requests.get(url, timeout=60)
    assert first.status_code == 401 and "Digest" in first.headers["WWW-Authenticate"]
    header = _digest_header(first.headers["WWW-Authenticate"], uri, 1)
    ok = requests.get(url, headers={"Authorization": header}, timeout=60)
    assert ok.status_code == 200 and read(io.BytesIO(ok.content))[0].id == "IU.ANMO.00.LHZ"
    replay = requests.get(url, headers={"Authorization": header}, timeout=60)
    assert replay.status_code == 401 and b"replay" in replay.content
    assert b"ANMO" not in replay.content.replace(uri.encode(), b"") and len(replay.content) < 400
    nxt = _digest_header(first.headers["WWW-Authenticate"], uri, 2)  # the next count is fine
    assert requests.get(url, headers={"Authorization": nxt}, timeout=60).status_code == 200
    forged = first.headers["WWW-Authenticate"].replace('nonce="', 'nonce="1')
    bad = requests.get(url, headers={"Authorization": _digest_header(forged, uri, 1)},
                       timeout=60)
    assert bad.status_code == 401 and b"not issued" in bad.content


def test_bad_credentials_and_bad_cookies_get_a_clear_401(server, alice):
    base = server["base"]
    r = requests.post(f"{base}/login", data={"username": "alice", "password": "nope"},
                      allow_redirects=False, timeout=60)
    assert r.status_code == 401 and "Wrong user name or password" in r.text
    assert "belvedere_session" not in r.cookies
    good = alice.cookies["belvedere_session"]
    from dashboard.access.sessions import SessionCookie
    from dashboard.access.users import UsersFile

    expired = SessionCookie(SECRET, 60).make(
        UsersFile(server["folder"] / "users.json").accounts()["alice"].user("password"),
        now=time.time() - 3600)
    forged = SessionCookie("another-secret-" + "x" * 30).make(
        UsersFile(server["folder"] / "users.json").accounts()["root"].user("password"))
    for cookie, word in ((expired, "expired"), (forged, "not valid"),
                         (tampered(good), "not valid")):
        for path in ("/", "/waveforms?streams=IU.*", "/snapshot/overview.html",
                     "/fdsnws/station/1/query?format=text"):
            r = requests.get(base + path, cookies={"belvedere_session": cookie}, timeout=60,
                             allow_redirects=False)
            assert r.status_code == 401, (path, r.status_code)
            assert word in r.text and "ANMO" not in r.text.replace("IU.*", "")
            assert "belvedere_session=;" in r.headers.get("Set-Cookie", "").replace('""', "")


def test_every_read_of_restricted_data_is_in_the_audit_log(server, alice):
    alice.get(server["base"] + "/fdsnws/station/1/query?net=IU&level=channel&format=text",
              timeout=60)
    lines = [json.loads(x) for x in (server["folder"] / "audit.jsonl").read_text().splitlines()]
    reads = [x for x in lines if x["event"] == "read"]
    assert {x["user"] for x in reads} <= {"alice", "root"}
    mine = [x for x in reads if x["user"] == "alice"]
    assert {x["stream"] for x in mine} >= {"IU.ANMO.00.LHZ"}
    assert {"/waveforms", "/fdsnws/dataselect/1/queryauth"} <= {x["route"] for x in mine}
    assert all(x["time"].endswith("Z") and x["groups"] == ["seismo"] for x in mine)
    assert any(x["event"] == "login-failed" and x["attempted"] == "alice" for x in lines)
    assert not any(x["stream"] in ("BW.BGLD..EHE", "XX.TEST..BHE") for x in reads)


def test_an_admin_sees_everything(server):
    root = login(server["base"], "root")
    text = page_document(server["base"] + "/", root)[1]
    assert "IU.ANMO.00.LHZ" in text and "XX.F64..HHZ" in text and "usage.zarr" in text
    mine = page_document(server["base"] + "/resources", root)[1]
    theirs = page_document(server["base"] + "/resources", requests.Session())[1]
    assert "no usage store is served here" in theirs and "log in to see more" in theirs
    assert "no usage store is served here" not in mine and len(mine) > 2 * len(theirs)


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


@apply(login_in_browser)
def test_a_campus_login_shows_the_groups_streams_and_logout_ends_it(server, browser):
    need_provider()
    base = server["base"]
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
    audit = [json.loads(x) for x in (server["folder"] / "audit.jsonl").read_text().splitlines()]
    assert any(x["event"] == "login" and x["user"] == "alice" and x["via"] == "oidc"
               for x in audit)
    assert any(x["event"] == "logout" and x["user"] == "alice" for x in audit)


@apply(login_in_browser)
def test_a_campus_user_outside_the_group_does_not_see_them(server, browser):
    need_provider()
    base = server["base"]
    with new_page(browser) as page:
        oidc_login(page, base, "bob", "/")
        head = header_text(page)
        assert "bob" in head and "other" in head
        page.wait_for_selector("text=BW.BGLD..EHE", timeout=60000)
        assert "ANMO" not in page.content()


@apply(login_in_browser)
def test_public_embeds_draw_in_an_iframe_and_restricted_ones_offer_a_login(server, browser):
    need_provider()
    base = server["base"]
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
            assert "ANMO" not in page.query_selector("#res").content_frame().content()
    finally:
        wiki.shutdown()


def test_the_embargo_ends_while_the_server_runs(server, anon):
    base = server["base"]
    station = base + "/fdsnws/station/1/query?level=channel&format=text"
    if time.time() < server["embargo_ends"]:
        assert EMBARGOED not in anon.get(station, timeout=60).text
        time.sleep(server["embargo_ends"] - time.time() + 1)
    assert "XX|F64" in anon.get(station, timeout=60).text
    text = page_document(base + "/", anon)[1]
    assert "XX.F64..HHZ" in text and "ANMO" not in text
