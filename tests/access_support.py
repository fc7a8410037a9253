"""What the access tests share: the [access] configuration file, a users file, a logged-in
HTTP session, and a crawler that reads every route and every link a page holds (a page's
content arrives over its websocket, so the crawler pulls each page's Bokeh document the way
the browser does: the page's own session token, PULL-DOC over /ws)."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from dashboard.pages import PAGES

SECRET = "test-cookie-secret-0123456789-abcdefgh"
USERS = {"alice": ("alice-password", ["seismo"]), "bob": ("bob-password", ["other"]),
         "root": ("root-password", ["admin"])}


def write_users(path: Path) -> Path:
    """A users file with alice (seismo), bob (other) and root (admin), made by the real code."""
    from dashboard.access.users import UsersFile

    users = UsersFile(path)
    for name, (password, groups) in USERS.items():
        users.add(name, password, groups)
    return path


def toml_value(v) -> str:
    """A Python value as TOML (what these tests write)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return str(v)


def write_config(path: Path, access: dict, datasets: list[dict], oidc: dict | None = None
                 ) -> Path:
    """A belvedere.toml with an [access] section, its datasets and optionally [access.oidc]."""
    lines = ["[access]"] + [f"{k} = {toml_value(v)}" for k, v in access.items()]
    if oidc:
        lines += ["", "[access.oidc]"] + [f"{k} = {toml_value(v)}" for k, v in oidc.items()]
    for d in datasets:
        lines += ["", "[[access.datasets]]"]  # embargo_until: a TOML date-time, bare
        lines += [f"{k} = {v if k == 'embargo_until' else toml_value(v)}" for k, v in d.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def tampered(cookie: str) -> str:
    """The session cookie with its groups changed to ["admin"] and its signature kept (what a
    user who edits their own cookie would send)."""
    import base64

    fields = cookie.split("|")  # 2|1:0|10:time|17:name|N:base64 value|signature
    doc = json.loads(base64.b64decode(fields[4].split(":", 1)[1]))
    doc["g"] = ["admin"]
    value = base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()
    fields[4] = f"{len(value)}:{value}"
    return "|".join(fields)


def login(base: str, name: str, password: str | None = None) -> requests.Session:
    """A requests session logged in through the form (password: the USERS one)."""
    s = requests.Session()
    r = s.post(f"{base}/login", data={"username": name,
                                      "password": password or USERS[name][0]},
               allow_redirects=False, timeout=60)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    assert "belvedere_session" in s.cookies
    return s


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src") and v:
                self.links.append(v)


def links_in(text: str) -> list[str]:
    """Every href/src in a text: HTML as is, and the HTML that Panel's panes carry inside the
    document's JSON (entity-escaped, in JSON strings)."""
    import html

    found = []
    for t in (text, html.unescape(text)):
        p = _Links()
        p.feed(t)
        found += p.links + re.findall(r"""(?:href|src)=\\?['"]([^'"\\]+)""", t)
    return [html.unescape(u) for u in dict.fromkeys(found)]


def page_document(url: str, session: requests.Session) -> tuple[int, str]:
    """(status, the page's HTML plus its whole Bokeh document as JSON) as the browser would
    get them: the document is pulled over the page's websocket with the page's own token."""
    import panel  # noqa: F401 (registers Panel's models with Bokeh's protocol)
    from bokeh.client.session import ClientSession
    from bokeh.util.token import get_session_id

    r = session.get(url, timeout=120)
    m = re.search(r'"token":"([^"]+)"', r.text)
    if r.status_code != 200 or m is None:
        return r.status_code, r.text
    token = m.group(1)

    class PageSession(ClientSession):
        @property
        def token(self):
            return token

    path = urlsplit(url).path.rstrip("/")
    ws = urljoin(url, (path or "") + "/ws").replace("http", "ws", 1)

    def pull() -> str:
        s = PageSession(session_id=get_session_id(token), websocket_url=ws)
        s.connect()
        try:
            conn = s._connection
            reply = conn._send_message_wait_for_reply(conn._protocol.create("PULL-DOC-REQ"))
            return json.dumps(reply.content)  # binary buffers (numbers) are left out
        finally:
            s.close()

    # In a thread of its own: Bokeh's client runs an event loop, and Playwright's sync API
    # (the browser tests of the same module) keeps one marked running in this thread.
    with ThreadPoolExecutor(1) as one:
        body = one.submit(pull).result()
    return r.status_code, r.text + body


PAGE_PATHS = ("/", *(f"/{slug}" for slug in PAGES))  # every page, its document pulled too


def _normal(url: str) -> str:
    """The URL without what does not change the answer: a fragment, the default `store=`."""
    from urllib.parse import parse_qsl, urlencode, urlunsplit

    parts = urlsplit(url.split("#")[0])
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not (k == "store" and v in ("fdsn.zarr", "0"))]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*,:/")))


def crawl(base: str, session: requests.Session, seeds: list[str],
          max_requests: int = 80, threads: int = 4) -> dict[str, tuple[int, str]]:
    """Every seed URL and every same-server link found in the answers (pages pulled whole),
    level by level, a few requests at a time; url -> (status, text)."""
    root = urlsplit(base)

    def fetch(url: str) -> tuple[int, str]:
        path = urlsplit(url).path[len(root.path):] or "/"
        if path.rstrip("/") in [p.rstrip("/") for p in PAGE_PATHS] or path == "/":
            return page_document(url, session)
        for _ in range(10):  # a bounded server turns a burst away: 503 + Retry-After
            r = session.get(url, timeout=120)
            if r.status_code != 503 or "Retry-After" not in r.headers:
                break
            time.sleep(min(float(r.headers["Retry-After"]), 2.0))
        return r.status_code, r.content.decode("latin-1")

    def wanted(url: str) -> bool:
        parts = urlsplit(url)
        path = parts.path[len(root.path):] or "/"
        return ((parts.scheme, parts.netloc) == (root.scheme, root.netloc)
                and not path.startswith(("/static", "/panel_dist", "/logout"))  # /logout:
                and not path.endswith(("/ws", ".ico", ".js", ".css")))  # ends the crawl

    seen: dict[str, tuple[int, str]] = {}
    level = list(dict.fromkeys(_normal(urljoin(base + "/", s.lstrip("/"))) for s in seeds))
    with ThreadPoolExecutor(threads) as pool:
        while level and len(seen) < max_requests:
            level = [u for u in level if u not in seen and wanted(u)][:max_requests - len(seen)]
            answers = list(pool.map(fetch, level))
            nxt = []
            for url, answer in zip(level, answers, strict=True):
                seen[url] = answer
                for link in links_in(answer[1]):
                    if not link.startswith(("javascript:", "data:", "mailto:", "${")):
                        nxt.append(_normal(urljoin(url, link)))
            level = list(dict.fromkeys(nxt))
    return seen
