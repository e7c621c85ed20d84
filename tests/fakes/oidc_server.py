"""A fake OpenID Connect provider on 127.0.0.1, speaking Google's wire format: the discovery
document, a JWKS (an RSA key made at start with `cryptography`), `/authorize` (approves at
once for its configured person: redirects back with a code and the state), `/token` (checks
the code, its redirect URI, the PKCE S256 verifier and the client's secret, Basic or in the
body; answers an RS256 ID token carrying the nonce) and `/userinfo`.

Faults on demand for the next ID token: signed by another key, another nonce, already
expired, the address not verified (`fake.next_token`)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.fakes.runner import FakeServer

CLIENT_ID = "clienta-test.apps.googleusercontent.com"
CLIENT_SECRET = "fake-google-secret"


def _rsa_key(kid: str) -> RSAKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return RSAKey.import_key(pem, {"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass(slots=True)
class Person:
    """Who the fake signs in: Google's `sub` and the claims about them."""

    sub: str = field(default_factory=lambda: str(secrets.randbelow(10**21)))
    email: str = "person@gmail.test"
    email_verified: bool = True
    name: str = "Pat Person"


@dataclass(slots=True)
class NextToken:
    """Faults for the next ID token the token endpoint makes (then reset)."""

    other_key: bool = False
    nonce: str | None = None
    exp_offset_s: int = 3600
    audience: str | None = None


@dataclass(slots=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    person: Person


class FakeOidcServer(FakeServer):
    """`async with FakeOidcServer() as idp:` then `GOOGLE_ISSUER=idp.issuer`,
    `GOOGLE_CLIENT_ID=idp.client_id`, `GOOGLE_CLIENT_SECRET=idp.client_secret`."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        self.key = _rsa_key("fake-1")
        self.stranger_key = _rsa_key("fake-1")  # same kid, not in the JWKS
        self.person = Person()
        self.next_token = NextToken()
        self.deny = False  # /authorize answers error=access_denied
        self.token_calls: list[dict[str, str]] = []
        self._grants: dict[str, _Grant] = {}

    @property
    def issuer(self) -> str:
        return self.origin

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/userinfo", self._userinfo)
        return app

    async def _discovery(self, request: web.Request) -> web.Response:
        o = self.origin
        return web.json_response({
            "issuer": o, "authorization_endpoint": f"{o}/authorize",
            "token_endpoint": f"{o}/token", "jwks_uri": f"{o}/jwks",
            "userinfo_endpoint": f"{o}/userinfo",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                      "client_secret_basic"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "claims_supported": ["aud", "email", "email_verified", "exp", "iat", "iss",
                                 "name", "sub", "nonce"],
        })

    async def _jwks(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [self.key.as_dict(private=False)]})

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return web.Response(status=400, text="invalid_request")
        if "openid" not in q.get("scope", "").split():
            return web.Response(status=400, text="invalid_scope")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return web.Response(status=400, text="PKCE with S256 is required")
        redirect_uri, state = q.get("redirect_uri", ""), q.get("state", "")
        if self.deny:
            back = {"error": "access_denied", "state": state}
        else:
            code = secrets.token_urlsafe(24)
            self._grants[code] = _Grant(self.client_id, redirect_uri, q["code_challenge"],
                                        q.get("nonce", ""), Person(**{
                                            f: getattr(self.person, f)
                                            for f in Person.__dataclass_fields__}))
            back = {"code": code, "state": state}
        raise web.HTTPFound(f"{redirect_uri}?{urlencode(back)}")

    def _client(self, request: web.Request, form: dict[str, str]) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        else:
            user, password = form.get("client_id", ""), form.get("client_secret", "")
        ok = user == self.client_id and secrets.compare_digest(password, self.client_secret)
        return user if ok else None

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_calls.append(form)
        if self._client(request, form) is None:
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "authorization_code":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        grant = self._grants.pop(form.get("code", ""), None)  # single use
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return web.json_response({"error": "invalid_grant"}, status=400)
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return web.json_response({"error": "invalid_grant",
                                      "error_description": "PKCE verification failed"},
                                     status=400)
        return web.json_response({
            "access_token": "ya29." + secrets.token_urlsafe(24), "token_type": "Bearer",
            "expires_in": 3599, "scope": "openid email profile",
            "id_token": self._id_token(grant)})

    def _id_token(self, grant: _Grant) -> str:
        fault, self.next_token = self.next_token, NextToken()
        now = int(time.time())
        p = grant.person
        claims: dict[str, Any] = {
            "iss": self.issuer, "azp": grant.client_id, "aud": fault.audience or grant.client_id,
            "sub": p.sub, "email": p.email, "email_verified": p.email_verified,
            "name": p.name, "nonce": fault.nonce if fault.nonce is not None else grant.nonce,
            "iat": now + min(0, fault.exp_offset_s - 3600), "exp": now + fault.exp_offset_s}
        key = self.stranger_key if fault.other_key else self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)

    async def _userinfo(self, request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer ya29."):
            return web.json_response({"error": "invalid_token"}, status=401)
        p = self.person
        return web.json_response({"sub": p.sub, "email": p.email,
                                  "email_verified": p.email_verified, "name": p.name})
