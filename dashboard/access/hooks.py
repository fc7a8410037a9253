"""What the server, the page chrome and the FDSN services call: a few functions, one job each.

- `install(sources, settings, prefix)`: at start, gives the sources their policy and audit
  log, and returns the login routes (nothing changes when `[access]` declares nothing);
- `session_user()` / `request_user(handler)`: who a Bokeh session / a Tornado request is;
- `guard(tornado_app)`: every route answers a forged, altered or expired session cookie with
  401 (and drops the cookie), before any page, websocket, snapshot or service runs;
- `queryauth(handler)`: an FDSN query handler that demands HTTP digest first;
- `header_html()`: "alice · log out" or "log in" for the page header.
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import quote

import tornado.web

from dashboard.access.audit import AuditLog
from dashboard.access.digest import DigestAuth, DigestProblem
from dashboard.access.oidc import OidcClient
from dashboard.access.policy import ANONYMOUS, Policy, User
from dashboard.access.sessions import COOKIE, SessionCookie, SessionProblem
from dashboard.access.users import UsersFile

__all__ = ["Access", "current", "guard", "header_html", "install", "login_link", "queryauth",
           "request_user", "session_user"]

log = logging.getLogger(__name__)


class Access:
    """The access settings of one server, made into the objects that apply them."""

    def __init__(self, settings: Any, prefix: str = ""):
        self.settings = settings
        self.prefix = prefix.rstrip("/")
        self.policy = Policy.from_settings(settings)
        secret = settings.cookie_secret
        self.cookies = SessionCookie(secret, settings.session_hours * 3600) if secret else None
        self.users = (UsersFile(settings.users_file, settings.digest_realm)
                      if settings.users_file else None)
        self.digest = (DigestAuth(self.users, settings.digest_realm, secret)
                       if self.users is not None and secret else None)
        self.audit = AuditLog(settings.audit_log) if settings.audit_log else None
        self.oidc = OidcClient(settings.oidc) if settings.oidc.issuer else None

    @property
    def login_offered(self) -> bool:
        """Whether people can log in here (a users file or a provider, and a cookie secret)."""
        return self.cookies is not None and (self.users is not None or self.oidc is not None)

    def cookie_path(self) -> str:
        """The session cookie's path: the whole app, under its prefix."""
        return (self.prefix or "") + "/"

    def user_of(self, value: str | None) -> User:
        """The user a session cookie value names (anonymous: none); SessionProblem if bad."""
        if not value:
            return ANONYMOUS
        if self.cookies is None:
            raise SessionProblem("invalid", "this server has no logins; the session cookie "
                                 "is not one of its own")
        return self.cookies.read(value)

    def set_session(self, handler: tornado.web.RequestHandler, user: User) -> None:
        """Log `user` in on this browser."""
        handler.set_cookie(COOKIE, self.cookies.make(user), path=self.cookie_path(),
                           httponly=True, samesite=self.settings.cookie_samesite,
                           secure=handler.request.protocol == "https"
                           or self.settings.cookie_samesite == "None",
                           expires_days=self.settings.session_hours / 24)

    def clear_session(self, handler: tornado.web.RequestHandler) -> None:
        """Log out on this browser."""
        handler.clear_cookie(COOKIE, path=self.cookie_path())


_ACTIVE: list[Access] = []  # the one per process, once `install` ran with something to do


def current() -> Access | None:
    """This process's access settings, or None when everything is public and no one logs in."""
    return _ACTIVE[0] if _ACTIVE else None


def install(sources: Any, settings: Any, prefix: str = "") -> list[tuple]:
    """Apply `[access]` to the sources; the login routes to add to the server."""
    from dashboard.access import login

    _ACTIVE.clear()
    if settings is None:
        return []
    access = Access(settings, prefix)
    if not (access.policy.restricts_anything or access.login_offered):
        return []
    if access.policy.restricts_anything and not access.login_offered:
        log.warning("[access] restricts datasets but offers no login (no users_file or "
                    "oidc.issuer): restricted data is shown to no one but the FDSN queryauth")
    _ACTIVE.append(access)
    sources.policy = access.policy
    sources.audit = access.audit
    return login.routes(access)


def session_user() -> User:
    """Who the current Bokeh session belongs to (anonymous when no one logged in)."""
    import panel as pn

    access = current()
    doc = pn.state.curdoc
    if access is None or doc is None or doc.session_context is None:
        return ANONYMOUS
    request = doc.session_context.request
    try:
        return access.user_of((request.cookies or {}).get(COOKIE) if request else None)
    except SessionProblem:  # the guard already answered the page's request with 401
        return ANONYMOUS


def session_path() -> str:
    """The path and query the current Bokeh session's page was asked for ('' when unknown)."""
    import panel as pn

    doc = pn.state.curdoc
    request = doc.session_context.request if doc is not None and doc.session_context else None
    uri = getattr(request, "uri", "") or ""
    return "" if "/ws" in uri.split("?")[0][-3:] else uri


def request_user(handler: tornado.web.RequestHandler) -> User:
    """Who a Tornado request comes from, by its session cookie (anonymous when none)."""
    access = current()
    if access is None:
        return ANONYMOUS
    try:
        return access.user_of(handler.get_cookie(COOKIE))
    except SessionProblem:
        return ANONYMOUS


def login_link(next_path: str = "") -> str:
    """The login page's URL (relative to the app's root), coming back to `next_path`."""
    return "./login" + (f"?next={quote(next_path, safe='/')}" if next_path else "")


def header_html() -> str:
    """The header's right end: who is logged in and a logout link, or a login link."""
    access = current()
    if access is None or not access.login_offered:
        return ""
    user = session_user()
    if user.anonymous:
        return (f'<a class="bv-login" href="{html.escape(login_link(session_path()))}">'
                "log in</a>")
    groups = f' <span class="bv-groups">({html.escape(", ".join(sorted(user.groups)))})</span>'
    return (f'<span class="bv-user">{html.escape(user.name)}'
            f'{groups if user.groups else ""}</span> '
            f'<a class="bv-logout" href="./logout">log out</a>')


def embed_login_html() -> str:
    """In an embed that could not show its view: a login link opening in a new tab (a login
    page never works inside an iframe on another site); '' when there is nothing to offer."""
    access = current()
    if access is None or not access.login_offered or not session_user().anonymous:
        return ""
    href = html.escape(login_link(session_path().replace("embed=1", "embed=0")))
    return (f"<div class='bv-embed-login' style='font:14px system-ui;padding:8px 12px'>"
            f"Some views need a login: <a href='{href}' target='_blank' rel='noopener'>log in"
            "</a> (in a new tab), then reload this page.</div>")


# -- every route ----------------------------------------------------------------------------
def _refuse(handler: tornado.web.RequestHandler, problem: SessionProblem) -> None:
    access = current()
    access.clear_session(handler)
    handler.set_status(401)
    if "/fdsnws/" in handler.request.path:
        handler.set_header("Content-Type", "text/plain; charset=utf-8")
        handler.finish(f"Error 401: Unauthorized\n\n{problem}\n")
        return
    handler.set_header("Content-Type", "text/html; charset=utf-8")
    root = access.cookie_path()
    handler.finish(
        f"<!doctype html><title>Log in again · Belvedere</title><body style='font:16px "
        f"system-ui;margin:40px'><h1>401: {html.escape(str(problem))}</h1><p><a href='"
        f"{html.escape(root)}login?next={quote(handler.request.uri, safe='/')}'>Log in "
        f"again</a> or <a href='{html.escape(handler.request.uri)}'>continue without "
        "logging in</a>.</p></body>")


def _guarded(cls: type) -> type:
    def prepare(self):
        access = current()
        if access is not None:
            try:
                access.user_of(self.get_cookie(COOKIE))
            except SessionProblem as problem:
                _refuse(self, problem)
                return None
        return cls.prepare(self)

    return type(cls.__name__, (cls,), {"prepare": prepare, "_belvedere_guarded": True})


def guard(app: tornado.web.Application) -> None:
    """Wrap every handler of the server's Tornado application in the session-cookie check
    (the login routes excepted: they replace a bad cookie)."""
    def walk(router):
        for rule in getattr(router, "rules", []):
            target = rule.target
            if isinstance(target, type) and issubclass(target, tornado.web.RequestHandler):
                if not getattr(target, "replaces_session", False) and not getattr(
                        target, "_belvedere_guarded", False):
                    rule.target = _guarded(target)
            else:
                walk(target)

    if current() is not None:
        walk(app.default_router)


def queryauth(handler: type) -> type:
    """An FDSN query handler behind HTTP digest: `self.user` is who answered the challenge."""
    def prepare(self):
        access = current()
        if access is None or access.digest is None:
            self.set_status(401)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("Error 401: Unauthorized\n\nThis server has no users file: "
                        "queryauth has no accounts to check. Use query.\n")
            return None
        try:
            self.user = access.digest.check(self.request.method, self.request.uri,
                                            self.request.headers.get("Authorization"))
        except DigestProblem as problem:
            self.set_status(401)
            self.set_header("WWW-Authenticate", access.digest.challenge(stale=problem.stale))
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(f"Error 401: Unauthorized\n\n{problem}\n")
            return None
        return handler.prepare(self)

    return type(f"{handler.__name__}Auth", (handler,), {"prepare": prepare})
