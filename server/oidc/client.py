"""An OpenID Connect relying party through authlib: the provider's discovery document and
JWKS (cached, keys re-read when a token names an unknown one), the authorization URL with
PKCE (S256), `state` and `nonce`, the code exchange, and the ID token's checks (RS256
signature against the JWKS; iss, aud/azp, exp, iat, nonce; email_verified read)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import (
    ClaimError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import KeySet

GOOGLE_ISSUER = "https://accounts.google.com"
# Google signs ID tokens with RS256 (its discovery document says so); nothing weaker, and
# never "none" or an HMAC whose key would be our client secret
ALGORITHMS = ("RS256",)
# clocks differ a little between us and the provider
LEEWAY_S = 60
# discovery and keys are re-read at most this often (keys also when a token names a new one)
CACHE_S = 3600.0


class OidcFailure(StrEnum):
    """Why a sign-in was refused: the code the console shows (never a token or an address)."""

    PROVIDER_UNAVAILABLE = "provider_unavailable"
    CODE_REFUSED = "code_refused"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    BAD_NONCE = "bad_nonce"
    BAD_CLAIMS = "bad_claims"


class OidcError(Exception):
    def __init__(self, failure: OidcFailure) -> None:
        super().__init__(failure.value)
        self.failure = failure


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the provider vouches for: `subject` is its stable id for the person."""

    subject: str
    email: str
    email_verified: bool
    name: str


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorization: str
    token: str
    jwks: str


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    timeout_s: float


class OidcClient:
    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self.http = AsyncOAuth2Client(
            config.client_id, config.client_secret, scope="openid email profile",
            redirect_uri=config.redirect_uri, code_challenge_method="S256",
            timeout=config.timeout_s)
        # Google's tokens name their issuer with or without the scheme (its documentation
        # says to accept both)
        self.issuers = {config.issuer}
        if config.issuer == GOOGLE_ISSUER:
            self.issuers.add("accounts.google.com")
        self._endpoints: tuple[float, Endpoints] | None = None
        self._keys: tuple[float, KeySet] | None = None

    async def close(self) -> None:
        await self.http.aclose()

    async def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        endpoints = await self._discover()
        url, _ = self.http.create_authorization_url(
            endpoints.authorization, state=state, code_verifier=code_verifier, nonce=nonce)
        return url

    async def identity(self, code: str, code_verifier: str, nonce: str) -> Identity:
        """Exchange the code (with the PKCE verifier) and check the ID token it brings."""
        endpoints = await self._discover()
        try:
            token = await self.http.fetch_token(
                endpoints.token, grant_type="authorization_code", code=code,
                code_verifier=code_verifier, redirect_uri=self.config.redirect_uri)
        except OAuthError as exc:  # the provider answered with an OAuth error (invalid_grant)
            raise OidcError(OidcFailure.CODE_REFUSED) from exc
        except Exception as exc:  # network, 5xx, a body that is not a token answer
            raise OidcError(OidcFailure.PROVIDER_UNAVAILABLE) from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError(OidcFailure.BAD_CLAIMS)
        return self._identity(await self._verified(id_token), nonce)

    async def _verified(self, id_token: str) -> dict[str, Any]:
        try:
            try:
                decoded = jwt.decode(id_token, await self._key_set(), algorithms=ALGORITHMS)
            except InvalidKeyIdError:
                # the provider rotated its keys since we read them: once more, fresh
                decoded = jwt.decode(id_token, await self._key_set(fresh=True),
                                     algorithms=ALGORITHMS)
        except OidcError:
            raise
        except (JoseError, ValueError) as exc:
            raise OidcError(OidcFailure.BAD_SIGNATURE) from exc
        return decoded.claims

    def _identity(self, claims: dict[str, Any], nonce: str) -> Identity:
        c = self.config
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_S,
            iss={"essential": True, "values": list(self.issuers)},
            aud={"essential": True, "value": c.client_id},
            sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
            nonce={"essential": True, "value": nonce})
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise OidcError(OidcFailure.EXPIRED) from exc
        except InvalidClaimError as exc:
            failure = OidcFailure.BAD_NONCE if exc.claim == "nonce" else OidcFailure.BAD_CLAIMS
            raise OidcError(failure) from exc
        except ClaimError as exc:
            raise OidcError(OidcFailure.BAD_CLAIMS) from exc
        # a token for several audiences must name us as the party it was issued to
        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != c.client_id:
            raise OidcError(OidcFailure.BAD_CLAIMS)
        email, name = claims.get("email"), claims.get("name")
        if not isinstance(email, str) or not email or len(email) > 320:
            raise OidcError(OidcFailure.BAD_CLAIMS)
        verified = claims.get("email_verified")
        return Identity(str(claims["sub"]), email, verified is True or verified == "true",
                        name[:200] if isinstance(name, str) else "")

    async def _discover(self) -> Endpoints:
        now = time.monotonic()
        if self._endpoints is not None and now - self._endpoints[0] < CACHE_S:
            return self._endpoints[1]
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = await self._get_json(url)
        # OpenID Connect Discovery 1.0 §4.3: the document must name the issuer we asked
        if doc.get("issuer") != self.config.issuer:
            raise OidcError(OidcFailure.PROVIDER_UNAVAILABLE)
        try:
            endpoints = Endpoints(str(doc["authorization_endpoint"]),
                                  str(doc["token_endpoint"]), str(doc["jwks_uri"]))
        except KeyError as exc:
            raise OidcError(OidcFailure.PROVIDER_UNAVAILABLE) from exc
        self._endpoints = (now, endpoints)
        return endpoints

    async def _key_set(self, fresh: bool = False) -> KeySet:
        now = time.monotonic()
        if not fresh and self._keys is not None and now - self._keys[0] < CACHE_S:
            return self._keys[1]
        doc = await self._get_json((await self._discover()).jwks)
        try:
            keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]  # unchecked JSON: errors caught below
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise OidcError(OidcFailure.PROVIDER_UNAVAILABLE) from exc
        self._keys = (now, keys)
        return keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self.http.request("GET", url, withhold_token=True)
            response.raise_for_status()
            doc = response.json()
        except Exception as exc:
            raise OidcError(OidcFailure.PROVIDER_UNAVAILABLE) from exc
        if not isinstance(doc, dict):
            raise OidcError(OidcFailure.PROVIDER_UNAVAILABLE)
        return doc
