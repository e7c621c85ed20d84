"""Google sign-in's endpoints (contract §5): GET /v1/auth/google/start and /callback (the
OpenID Connect redirects), GET /v1/auth/google/pending and POST /v1/auth/google/complete
(the console's side), and GET /v1/auth/methods (whether the console shows the button).
All of /v1/auth/google/ answers 404 when GOOGLE_CLIENT_ID/SECRET are unset.

Two cookies carry the flow, both HttpOnly, SameSite=Lax (the provider's redirect back is a
cross-site navigation, which Strict would strip) and scoped to /v1/auth/google: the state
between start and callback, then the handle of the verified identity until the console
completes it. Neither is ever in a URL; a refusal goes to the console as a code only."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from server.domain.client_ip import client_ip, parse_networks
from server.http.auth import CSRF_HEADER, SESSION_COOKIE
from server.http.errors import ApiError
from server.http.params import json_body, require_str
from server.services.accounts import AccountError
from server.services.google_signin import GoogleSignIn, OidcError, SignInRefused, Step
from server.services.rate_limits import Scope, Verdict, subject_key

FLOW_COOKIE = "clienta_google_flow"
PENDING_COOKIE = "clienta_google"
COOKIE_PATH = "/v1/auth/google"
CONSOLE = "/console"


def _google(request: Request) -> GoogleSignIn:
    google: GoogleSignIn = request.app.state.services.google
    if not google.enabled:
        raise ApiError(404, "not_found", "Google sign-in is not configured")
    return google


def _ip(request: Request) -> str:
    settings = request.app.state.services.settings
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers, parse_networks(settings.trusted_proxies))


def _too_many(verdict: Verdict) -> JSONResponse:
    wait = max(1, math.ceil(verdict.retry_after_s))
    return JSONResponse(
        {"error": {"code": "rate_limited", "message": f"too many attempts; try again in {wait} s"}},
        status_code=429, headers={"Retry-After": str(wait)})


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")


def _forget(response: Response, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="lax")


def _raise(exc: AccountError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


async def methods(request: Request) -> JSONResponse:
    return JSONResponse({"password": True, "google": request.app.state.services.google.enabled})


async def start(request: Request) -> Response:
    google = _google(request)
    # each start keeps a flow in Redis for a while: counted as a login attempt
    verdict = await request.app.state.services.limiter.check(Scope.IP_LOGINS,
                                                             subject_key(_ip(request)))
    if not verdict.allowed:
        return _too_many(verdict)
    invite = request.query_params.get("invite") or None
    if invite is not None and len(invite) > 512:
        raise ApiError(400, "invalid_token", "this invitation link is not valid")
    try:
        started = await google.start(invite)
    except AccountError as exc:
        raise _raise(exc) from exc
    except OidcError as exc:
        raise ApiError(502, exc.failure.value, "Google sign-in is unavailable; try later") from exc
    response = RedirectResponse(started.url, status_code=303)
    _cookie(request, response, FLOW_COOKIE, started.state, google.flow_ttl_s)
    return response


async def callback(request: Request) -> Response:
    google = _google(request)
    q = request.query_params
    try:
        handle = await google.callback(q.get("state"), request.cookies.get(FLOW_COOKIE),
                                       q.get("code"), q.get("error"))
    except (SignInRefused, OidcError, AccountError) as exc:
        code = (exc.code if isinstance(exc, SignInRefused | AccountError)
                else exc.failure.value)
        response = RedirectResponse(f"{CONSOLE}#google_error={code}", status_code=303)
        _forget(response, FLOW_COOKIE)
        return response
    response = RedirectResponse(f"{CONSOLE}#google", status_code=303)
    _forget(response, FLOW_COOKIE)
    _cookie(request, response, PENDING_COOKIE, handle, google.flow_ttl_s)
    return response


async def pending(request: Request) -> JSONResponse:
    google = _google(request)
    try:
        return JSONResponse(await google.pending(request.cookies.get(PENDING_COOKIE)))
    except AccountError as exc:
        raise _raise(exc) from exc


async def complete(request: Request) -> Response:
    google = _google(request)
    if not request.headers.get(CSRF_HEADER):
        # the pending cookie authenticates this write: a page of another site must not
        raise ApiError(403, "forbidden", f"completing a sign-in needs the {CSRF_HEADER} header")
    body = await json_body(request)
    password = require_str(body, "password", max_len=4096, optional=True)
    org_name = require_str(body, "org_name", max_len=200, optional=True)
    handle = request.cookies.get(PENDING_COOKIE)
    limiter = request.app.state.services.limiter
    try:
        waiting = await google.pending(handle)
        if waiting["step"] == Step.LINK and password:
            # as a login: only failures count, and an account over its limit costs no hash
            account = subject_key(waiting["email"].lower())
            verdict = await limiter.check(Scope.ACCOUNT_LOGINS, account, cost=0)
            if not verdict.allowed:
                return _too_many(verdict)
        elif waiting["step"] == Step.SIGNUP:
            verdict = await limiter.check(Scope.IP_SIGNUPS, subject_key(_ip(request)))
            if not verdict.allowed:
                return _too_many(verdict)
        out = await google.complete(handle, password=password, org_name=org_name,
                                    address=_ip(request))
    except AccountError as exc:
        if exc.status == 401:
            await limiter.check(Scope.ACCOUNT_LOGINS, subject_key(waiting["email"].lower()))
        raise _raise(exc) from exc
    response = JSONResponse(out, status_code=201 if waiting["step"] == Step.SIGNUP else 200)
    _forget(response, PENDING_COOKIE)
    if body.get("cookie") is True:
        response.set_cookie(SESSION_COOKIE, out["token"], httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/auth/methods", methods, methods=["GET"]),
        Route("/v1/auth/google/start", start, methods=["GET"]),
        Route("/v1/auth/google/callback", callback, methods=["GET"]),
        Route("/v1/auth/google/pending", pending, methods=["GET"]),
        Route("/v1/auth/google/complete", complete, methods=["POST"]),
    ]
