"""POST /v1/signup, /v1/login, /v1/users (contract §2). Sign-ups are throttled per IP,
logins per IP (every attempt) and per account (failed attempts): over a limit, 429 with
`Retry-After`."""

from __future__ import annotations

import math
import re
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from server.domain.client_ip import client_ip, parse_networks
from server.domain.roles import MANAGERS
from server.http.auth import CSRF_HEADER, SESSION_COOKIE, authenticate
from server.http.errors import ApiError
from server.http.params import json_body, require_str
from server.services.accounts import AccountError
from server.services.rate_limits import Scope, Verdict, subject_key

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")


def _email(body: dict) -> str:
    email = require_str(body, "email", max_len=320)
    assert email is not None
    if not _EMAIL.fullmatch(email):
        raise ApiError(422, "bad_request", "email must be an email address")
    return email


def _password(body: dict) -> str:
    # only a type and sanity bound here: the policy (length, common passwords) is the
    # service's, and its refusal says which rule
    password = require_str(body, "password", max_len=4096)
    assert password is not None
    return password


def _raise(exc: AccountError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def _ip(request: Request) -> str:
    settings = request.app.state.services.settings
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers, parse_networks(settings.trusted_proxies))


def _too_many(verdict: Verdict, what: str) -> JSONResponse:
    wait = max(1, math.ceil(verdict.retry_after_s))
    return JSONResponse(
        {"error": {"code": "rate_limited", "message": f"too many {what}; try again in {wait} s"}},
        status_code=429, headers={"Retry-After": str(wait)})


async def signup(request: Request) -> JSONResponse:
    # counted before any work: each attempt costs an argon2 hash
    verdict = await request.app.state.services.limiter.check(Scope.IP_SIGNUPS,
                                                             subject_key(_ip(request)))
    if not verdict.allowed:
        return _too_many(verdict, "sign-ups from this address")
    body = await json_body(request)
    org_name = require_str(body, "org_name", max_len=200)
    email, password = _email(body), _password(body)
    name = require_str(body, "name", max_len=200, min_len=0, optional=True) or ""
    # 20 or older (PDPA): the console sends true; false is refused; older API clients that
    # send nothing still sign up, with no confirmation on record (docs/privacy.md)
    age_confirmed = body.get("age_confirmed")
    if age_confirmed is not None and age_confirmed is not True:
        raise ApiError(422, "age_not_confirmed",
                       "an account is for people 20 or older: age_confirmed must be true")
    try:
        out = await request.app.state.services.accounts.signup(org_name, email, password, name,
                                                              _ip(request))
    except AccountError as exc:
        raise _raise(exc) from exc
    if age_confirmed:
        await request.app.state.services.lifecycle.confirm_age(UUID(out["org_id"]),
                                                               UUID(out["user_id"]))
    # the verification mail (services/account_links.py): after the commit, so a taken
    # address, whose answer names no account, queues nothing
    locale = require_str(body, "locale", max_len=8, optional=True)
    await request.app.state.services.links.new_account(UUID(out["org_id"]),
                                                       UUID(out["user_id"]), locale)
    return JSONResponse(out, status_code=201)


async def login(request: Request) -> JSONResponse:
    limiter = request.app.state.services.limiter
    verdict = await limiter.check(Scope.IP_LOGINS, subject_key(_ip(request)))
    if not verdict.allowed:
        return _too_many(verdict, "login attempts from this address")
    body = await json_body(request)
    email = require_str(body, "email", max_len=320)
    password = require_str(body, "password", max_len=4096)
    assert email is not None and password is not None
    wants_cookie = body.get("cookie") is True
    if wants_cookie and not request.headers.get(CSRF_HEADER):
        # else a cross-site form could log a victim's browser into the attacker's account
        raise ApiError(403, "forbidden", f"a cookie login needs the {CSRF_HEADER} header")
    # only failures count per account, so its owner's own logins never lock it; a look
    # (cost 0) first refuses without spending a hash once the account is over its limit
    account = subject_key(email.lower())
    verdict = await limiter.check(Scope.ACCOUNT_LOGINS, account, cost=0)
    if not verdict.allowed:
        return _too_many(verdict, "failed logins for this account")
    try:
        out = await request.app.state.services.accounts.login(email, password, _ip(request))
    except AccountError as exc:
        if exc.status == 401:
            verdict = await limiter.check(Scope.ACCOUNT_LOGINS, account)
            if not verdict.allowed:
                return _too_many(verdict, "failed logins for this account")
        raise _raise(exc) from exc
    # a device new to this user alerts them and the owners (services/notifications.py)
    await request.app.state.services.notifications.signed_in(
        UUID(out["org_id"]), UUID(out["user_id"]), _ip(request),
        request.headers.get("user-agent"))
    response = JSONResponse(out)
    if wants_cookie:
        # browser pages: the same token as an HttpOnly cookie, never readable by scripts
        response.set_cookie(SESSION_COOKIE, out["token"], httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
    return response


async def create_user(request: Request) -> JSONResponse:
    actor = await authenticate(request, MANAGERS)
    body = await json_body(request)
    email, password = _email(body), _password(body)
    name = require_str(body, "name", max_len=200, min_len=0) or ""
    role = require_str(body, "role", max_len=16)
    try:
        user_id = await request.app.state.services.accounts.create_user(
            actor, email, password, name, role, _ip(request))
    except AccountError as exc:
        raise _raise(exc) from exc
    return JSONResponse({"user_id": user_id}, status_code=201)


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/signup", signup, methods=["POST"]),
        Route("/v1/login", login, methods=["POST"]),
        Route("/v1/users", create_user, methods=["POST"]),
    ]
