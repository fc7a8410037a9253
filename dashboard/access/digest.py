"""HTTP Digest authentication (RFC 7616, MD5, qop=auth) for the FDSN `queryauth` routes.

The FDSN specification puts authenticated dataselect requests at `queryauth` behind HTTP
digest, and ObsPy's `Client(user=..., password=...)` answers a digest challenge there
(urllib's handler: MD5 or SHA-1, qop=auth, a nonce count per nonce). The server keeps HA1 per
account (see `dashboard.access.users`), never the password.

Nonces are made by the server and signed with the cookie secret (time, random part, HMAC), so
any process sharing the secret accepts them until `NONCE_LIFETIME_S`, after which the client is
told `stale=true` and retries with a fresh one. Replays are refused: each nonce's count must
grow (kept per process; requests without qop, which carry no count, are refused).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from urllib.request import parse_http_list, parse_keqv_list

from dashboard.access.policy import User
from dashboard.access.users import UsersFile

__all__ = ["DigestAuth", "DigestProblem"]

NONCE_LIFETIME_S = 300.0


class DigestProblem(Exception):
    """A digest request refused (401): `stale` says the nonce only timed out."""

    def __init__(self, detail: str, stale: bool = False):
        super().__init__(detail)
        self.stale = stale


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class DigestAuth:
    """Challenges and checks digest responses against a users file."""

    def __init__(self, users: UsersFile, realm: str, secret: str):
        self.users = users
        self.realm = realm
        self._key = hashlib.sha256(("digest-nonce:" + secret).encode()).digest()
        self._counts: dict[str, tuple[float, int]] = {}  # nonce -> (issued, last nc)
        self._lock = threading.Lock()

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]

    def new_nonce(self, now: float | None = None) -> str:
        """A nonce that this server (any of its processes) will recognise."""
        body = f"{int((time.time() if now is None else now) * 1000):x}.{secrets.token_hex(8)}"
        return f"{body}.{self._sign(body)}"

    def challenge(self, stale: bool = False) -> str:
        """The WWW-Authenticate header value of a 401."""
        return (f'Digest realm="{self.realm}", qop="auth", algorithm=MD5, '
                f'nonce="{self.new_nonce()}", opaque="{self._sign("opaque")}"'
                + (", stale=true" if stale else ""))

    def _issued(self, nonce: str, now: float) -> float:
        body, _, mac = nonce.rpartition(".")
        if not body or not hmac.compare_digest(mac, self._sign(body)):
            raise DigestProblem("the digest nonce was not issued by this server")
        try:
            issued = int(body.split(".")[0], 16) / 1000
        except ValueError:
            raise DigestProblem("the digest nonce is malformed") from None
        if now - issued > NONCE_LIFETIME_S:
            raise DigestProblem("the digest nonce has expired", stale=True)
        return issued

    def check(self, method: str, uri: str, header: str | None,
              now: float | None = None) -> User:
        """The user a request's Authorization header proves to be; DigestProblem otherwise."""
        now = time.time() if now is None else now
        if not header or not header.lower().startswith("digest "):
            raise DigestProblem("this resource needs HTTP digest authentication (user and "
                                "password of this server's users file)")
        try:
            p = parse_keqv_list(parse_http_list(header[7:]))
        except ValueError:
            raise DigestProblem("the Authorization header is malformed") from None
        missing = [k for k in ("username", "realm", "nonce", "uri", "response", "qop", "nc",
                               "cnonce") if not p.get(k)]
        if missing:
            raise DigestProblem("the digest response lacks " + ", ".join(missing)
                                + " (qop=auth is required)")
        if p["realm"] != self.realm:
            raise DigestProblem(f"the digest realm must be {self.realm!r}")
        if p.get("algorithm", "MD5").upper() != "MD5" or p["qop"] != "auth":
            raise DigestProblem("only algorithm=MD5 with qop=auth is offered")
        if p["uri"] != uri:
            raise DigestProblem("the digest uri does not match the request")
        issued = self._issued(p["nonce"], now)
        try:
            nc = int(p["nc"], 16)
        except ValueError:
            raise DigestProblem("the digest nonce count is malformed") from None
        account = self.users.digest_account(p["username"])
        ha1 = account.ha1 if account else _md5(secrets.token_hex(16))  # same work either way
        expected = _md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:"
                        f"{_md5(f'{method}:{uri}')}")
        if not hmac.compare_digest(expected, p["response"].lower()) or account is None:
            raise DigestProblem("wrong user name or password")
        with self._lock:
            self._forget_old(now)
            last = self._counts.get(p["nonce"], (issued, 0))[1]
            if nc <= last:
                raise DigestProblem("this digest response was used already (replay refused)")
            self._counts[p["nonce"]] = (issued, nc)
        return account.user("digest")

    def _forget_old(self, now: float) -> None:
        if len(self._counts) > 1000:
            for nonce, (issued, _) in list(self._counts.items()):
                if now - issued > NONCE_LIFETIME_S:
                    del self._counts[nonce]
