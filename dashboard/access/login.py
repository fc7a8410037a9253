"""The login routes: /login (form against the users file, and the SSO button), /logout, and
/login/oidc and its callback (the OpenID Connect authorization-code flow).

A login ends in the session cookie (`dashboard.access.sessions`); both kinds of login make
the same cookie, so every route reads one thing to know who is asking. The OIDC flow's
state, nonce and PKCE verifier travel in a short-lived signed cookie of their own.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import quote

import tornado.web
from tornado.ioloop import IOLoop
from tornado.web import create_signed_value, decode_signed_value

from dashboard.access.oidc import OidcError
from dashboard.access.policy import ANONYMOUS
from dashboard.access.sessions import COOKIE, SessionProblem

__all__ = ["routes", "safe_next"]

FLOW_COOKIE = "belvedere_oidc"
FLOW_MAX_AGE_DAYS = 10 / 1440  # ten minutes to log in at the provider

CSS = """body{font:15px system-ui,sans-serif;background:#f4f6f9;margin:0}
.box{max-width:360px;margin:70px auto;background:#fff;padding:26px 30px;border-radius:6px;
box-shadow:0 1px 4px #0002} h1{font-size:20px;margin:0 0 18px;color:#1d2b3a}
label{display:block;margin:10px 0 4px;color:#445} input{width:100%;padding:7px;font-size:15px;
box-sizing:border-box} button,.sso{display:block;width:100%;margin-top:16px;padding:9px;
font-size:15px;border:0;border-radius:4px;background:#1d2b3a;color:#fff;text-align:center;
text-decoration:none;box-sizing:border-box;cursor:pointer} .err{color:#a11;margin:8px 0}
.or{text-align:center;color:#889;margin:16px 0 0} .back{display:block;margin-top:14px;
color:#557;font-size:13px}"""


def safe_next(value: str | None, root: str) -> str:
    """Where to go after login: a path on this server only (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return root
    return value


class _Base(tornado.web.RequestHandler):
    replaces_session = True  # the session guard lets these through: they set a new cookie

    def initialize(self, access: Any) -> None:
        """Tornado passes the server's access settings here."""
        self.access = access

    def next_url(self) -> str:
        return safe_next(self.get_argument("next", None), self.access.cookie_path())

    def page(self, status: int, body: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(f"<!doctype html><html><head><meta charset='utf-8'><title>Log in · "
                    f"Belvedere</title><style>{CSS}</style></head><body><div class='box'>"
                    f"{body}</div></body></html>")


class LoginHandler(_Base):
    """GET: the login form (and the SSO button); POST: check the users file, set the cookie."""

    def form(self, status: int = 200, error: str = "", name: str = "") -> None:
        nxt = self.next_url()
        root = html.escape(self.access.cookie_path())
        back = html.escape(quote(nxt, safe="/"))
        parts = ["<h1>Belvedere: log in</h1>"]
        if error:
            parts.append(f"<div class='err' role='alert'>{html.escape(error)}</div>")
        if self.access.users is not None:
            parts.append(
                f"<form method='post' action='{root}login?next={back}'>"
                f"<label for='u'>User name</label><input id='u' name='username' "
                f"autocomplete='username' value='{html.escape(name)}' required>"
                "<label for='p'>Password</label><input id='p' name='password' type='password' "
                "autocomplete='current-password' required><button type='submit'>Log in"
                "</button></form>")
        if self.access.oidc is not None:
            if self.access.users is not None:
                parts.append("<div class='or'>or</div>")
            parts.append(f"<a class='sso' href='{root}login/oidc?next={back}'>Log in with "
                         f"{html.escape(self.access.oidc.label)}</a>")
        parts.append(f"<a class='back' href='{html.escape(nxt)}'>← back without logging in"
                     "</a>")
        self.page(status, "".join(parts))

    def get(self) -> None:
        """The form."""
        self.form()

    async def post(self) -> None:
        """Check name and password (argon2, in a thread: ~50 ms of CPU)."""
        name = self.get_body_argument("username", "").strip()
        password = self.get_body_argument("password", "")
        users = self.access.users
        user = None
        if users is not None and name and password:
            user = await IOLoop.current().run_in_executor(None, users.check_password, name,
                                                          password)
        if user is None:
            if self.access.audit is not None:
                self.access.audit.write("login-failed", ANONYMOUS, attempted=name[:64],
                                        ip=self.request.remote_ip, via="password")
            self.form(401, "Wrong user name or password.", name)
            return
        self.access.set_session(self, user)
        if self.access.audit is not None:
            self.access.audit.write("login", user, ip=self.request.remote_ip)
        self.redirect(self.next_url())


class LogoutHandler(_Base):
    """GET: drop the session cookie and go back to the overview."""

    def get(self) -> None:
        """Log out."""
        try:
            user = self.access.user_of(self.get_cookie(COOKIE))
        except SessionProblem:
            user = ANONYMOUS
        self.access.clear_session(self)
        if self.access.audit is not None and not user.anonymous:
            self.access.audit.write("logout", user, ip=self.request.remote_ip)
        self.redirect(self.access.cookie_path())


class OidcStartHandler(_Base):
    """GET /login/oidc: off to the provider, with state, nonce and a PKCE challenge."""

    async def get(self) -> None:
        """Redirect to the provider's authorization endpoint."""
        from authlib.common.security import generate_token

        flow = {"state": generate_token(32), "nonce": generate_token(32),
                "verifier": generate_token(64), "next": self.next_url()}
        try:
            url = await self.access.oidc.authorization_url(
                self.callback_url(), flow["state"], flow["nonce"], flow["verifier"])
        except OidcError as exc:
            self.page(502, f"<h1>Login unavailable</h1><p class='err'>{html.escape(str(exc))}"
                           "</p>")
            return
        value = create_signed_value(self.access.settings.cookie_secret, FLOW_COOKIE,
                                    json.dumps(flow)).decode()
        # Lax: the provider's redirect back is a top-level GET, which carries it.
        self.set_cookie(FLOW_COOKIE, value, path=self.access.cookie_path(), httponly=True,
                        samesite="Lax", secure=self.request.protocol == "https",
                        expires_days=FLOW_MAX_AGE_DAYS)
        self.redirect(url)

    def callback_url(self) -> str:
        return (f"{self.request.protocol}://{self.request.host}"
                f"{self.access.cookie_path()}login/oidc/callback")


class OidcCallbackHandler(OidcStartHandler):
    """GET /login/oidc/callback: check state, trade the code for tokens, set the session."""

    async def get(self) -> None:
        """Finish the login the provider sent back."""
        raw = decode_signed_value(self.access.settings.cookie_secret, FLOW_COOKIE,
                                  self.get_cookie(FLOW_COOKIE), max_age_days=FLOW_MAX_AGE_DAYS)
        self.clear_cookie(FLOW_COOKIE, path=self.access.cookie_path())
        if self.get_argument("error", None):
            self.fail(401, f"the provider refused: {self.get_argument('error')} "
                           f"{self.get_argument('error_description', '')}")
            return
        if raw is None:
            self.fail(400, "this login took too long or was started in another browser; "
                           "start again")
            return
        flow = json.loads(raw)
        if self.get_argument("state", "") != flow["state"]:
            self.fail(400, "the login's state does not match (a forged or replayed "
                           "callback); start again")
            return
        try:
            user = await self.access.oidc.user(self.callback_url(), self.get_argument("code", ""),
                                               flow["verifier"], flow["nonce"])
        except OidcError as exc:
            self.fail(401, str(exc))
            return
        self.access.set_session(self, user)
        if self.access.audit is not None:
            self.access.audit.write("login", user, ip=self.request.remote_ip)
        self.redirect(safe_next(flow["next"], self.access.cookie_path()))

    def fail(self, status: int, text: str) -> None:
        if self.access.audit is not None:
            self.access.audit.write("login-failed", ANONYMOUS, via="oidc", reason=text[:300],
                                    ip=self.request.remote_ip)
        self.page(status, f"<h1>Login failed</h1><p class='err'>{html.escape(text)}</p>"
                          f"<a class='back' href='{html.escape(self.access.cookie_path())}login'>"
                          "try again</a>")


def routes(access: Any) -> list[tuple[str, type, dict]]:
    """The login routes of a server with these access settings."""
    kw = {"access": access}
    out = [(r"/login/?", LoginHandler, kw), (r"/logout/?", LogoutHandler, kw)]
    if access.oidc is not None:
        out += [(r"/login/oidc/?", OidcStartHandler, kw),
                (r"/login/oidc/callback/?", OidcCallbackHandler, kw)]
    return out
