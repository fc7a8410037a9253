"""The OpenID Connect client: discovery, the authorization-code flow with PKCE, the ID token.

Authlib does the OAuth 2 mechanics (authorization URL, PKCE, token exchange, userinfo, over
httpx) and joserfc checks the ID token (signature against the provider's published keys,
issuer, audience, expiry, nonce). The provider is found from its issuer URL alone
(`/.well-known/openid-configuration`). Groups come from the configured claim of the ID token,
or of the userinfo answer when the provider keeps scope claims out of the ID token (as
`oidc-provider` and Keycloak's defaults do).
"""

from __future__ import annotations

import time
from typing import Any

from dashboard.access.policy import User

__all__ = ["OidcClient", "OidcError"]

DISCOVERY_TTL_S = 3600.0


class OidcError(Exception):
    """A login through the provider that did not succeed; the message says why."""


class OidcClient:
    """One provider (issuer, client id and secret, groups claim) for the login handlers."""

    def __init__(self, settings: Any):
        self.issuer = settings.issuer.rstrip("/")
        self.client_id = settings.client_id
        self.client_secret = settings.client_secret
        self.groups_claim = settings.groups_claim
        self.user_claim = settings.user_claim
        self.scopes = list(settings.scopes)
        self.label = settings.label
        self._meta: tuple[float, dict, Any] | None = None

    def _client(self, redirect_uri: str):
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        return AsyncOAuth2Client(self.client_id, self.client_secret, scope=" ".join(self.scopes),
                                 redirect_uri=redirect_uri, code_challenge_method="S256",
                                 timeout=15.0)

    async def metadata(self) -> tuple[dict, Any]:
        """The provider's discovery document and key set (kept an hour)."""
        import httpx
        from joserfc.jwk import KeySet

        if self._meta is not None and time.monotonic() - self._meta[0] < DISCOVERY_TTL_S:
            return self._meta[1], self._meta[2]
        url = self.issuer + "/.well-known/openid-configuration"
        try:
            async with httpx.AsyncClient(timeout=15.0) as http:
                meta = (await http.get(url)).raise_for_status().json()
                keys = KeySet.import_key_set((await http.get(meta["jwks_uri"]))
                                             .raise_for_status().json())
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise OidcError(f"the login provider {self.issuer} cannot be reached or is not an "
                            f"OpenID Connect provider ({exc})") from None
        if meta.get("issuer", "").rstrip("/") != self.issuer:
            raise OidcError(f"the provider at {url} says its issuer is {meta.get('issuer')!r}, "
                            f"not {self.issuer!r}; fix [access.oidc] issuer")
        self._meta = (time.monotonic(), meta, keys)
        return meta, keys

    async def authorization_url(self, redirect_uri: str, state: str, nonce: str,
                                verifier: str) -> str:
        """Where to send the browser to log in."""
        meta, _ = await self.metadata()
        url, _ = self._client(redirect_uri).create_authorization_url(
            meta["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier)
        return url

    async def user(self, redirect_uri: str, code: str, verifier: str, nonce: str) -> User:
        """The user the provider vouches for after it sent the browser back with `code`."""
        from authlib.integrations.base_client import OAuthError
        from httpx import HTTPError

        meta, keys = await self.metadata()
        client = self._client(redirect_uri)
        try:
            token = await client.fetch_token(meta["token_endpoint"], code=code,
                                             code_verifier=verifier)
        except (OAuthError, HTTPError, ValueError) as exc:
            raise OidcError(f"the provider refused the login code ({exc})") from None
        if "id_token" not in token:
            raise OidcError("the provider answered without an ID token; add `openid` to "
                            "[access.oidc] scopes")
        claims = self._check_id_token(token["id_token"], keys, nonce, meta["issuer"])
        if self.groups_claim not in claims and meta.get("userinfo_endpoint"):
            try:
                info = (await client.get(meta["userinfo_endpoint"])).raise_for_status().json()
            except (HTTPError, ValueError) as exc:
                raise OidcError(f"the provider's userinfo cannot be read ({exc})") from None
            if info.get("sub") == claims.get("sub"):
                claims = {**info, **claims}
        name = str(claims.get(self.user_claim) or claims["sub"])
        groups = claims.get(self.groups_claim) or []
        if isinstance(groups, str):
            groups = groups.split()
        return User(name, frozenset(str(g) for g in groups), "oidc")

    def _check_id_token(self, id_token: str, keys: Any, nonce: str, issuer: str) -> dict:
        from joserfc import jwt
        from joserfc.errors import JoseError

        try:
            decoded = jwt.decode(id_token, keys)
            jwt.JWTClaimsRegistry(
                leeway=60, iss={"essential": True, "value": issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True}, exp={"essential": True},
                nonce={"essential": True, "value": nonce}).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError(f"the provider's ID token does not check out ({exc})") from None
        return dict(decoded.claims)
