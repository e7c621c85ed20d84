"""The signed-in account and its credentials (contract §5): GET /v1/me, POST /v1/logout,
password reset (forgot, reset) and email verification (verify, send another link).
Reset requests are throttled per IP and per address: over a limit, 429 with `Retry-After`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.http.accounts import _email, _ip, _password, _raise, _too_many
from server.http.auth import SESSION_COOKIE, authenticate, bearer_token
from server.http.params import json_body, require_str
from server.services.accounts import AccountError
from server.services.rate_limits import Scope, subject_key

_TOKEN_MAX = 256


def _token(body: dict) -> str:
    token = require_str(body, "token", max_len=_TOKEN_MAX)
    assert token is not None
    return token


async def me(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    out = await request.app.state.services.team.me(principal)
    return JSONResponse(out)


async def logout(request: Request) -> Response:
    principal = await authenticate(request)
    await request.app.state.services.sessions.logout(principal, bearer_token(request) or "",
                                                     _ip(request))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def forgot_password(request: Request) -> Response:
    services = request.app.state.services
    verdict = await services.limiter.check(Scope.IP_PASSWORD_RESETS, subject_key(_ip(request)))
    if not verdict.allowed:
        return _too_many(verdict, "password reset requests from this address")
    body = await json_body(request)
    email = _email(body)
    verdict = await services.limiter.check(Scope.ACCOUNT_PASSWORD_RESETS,
                                           subject_key(email.lower()))
    if not verdict.allowed:
        # says nothing of whether the address has an account: unknown ones count too
        return _too_many(verdict, "password reset requests for this address")
    await services.links.forgot(email, _ip(request))
    return Response(status_code=202)


async def reset_password(request: Request) -> Response:
    body = await json_body(request)
    token, password = _token(body), _password(body)
    try:
        await request.app.state.services.links.reset(token, password, _ip(request))
    except AccountError as exc:
        raise _raise(exc) from exc
    return Response(status_code=204)


async def verify_email(request: Request) -> Response:
    body = await json_body(request)
    try:
        await request.app.state.services.links.verify(_token(body), _ip(request))
    except AccountError as exc:
        raise _raise(exc) from exc
    return Response(status_code=204)


async def send_verification(request: Request) -> Response:
    principal = await authenticate(request)
    verdict = await request.app.state.services.limiter.check(
        Scope.ACCOUNT_PASSWORD_RESETS, subject_key("verify:" + principal.email.lower()))
    if not verdict.allowed:
        return _too_many(verdict, "verification mails for this address")
    await request.app.state.services.links.send_verification(principal)
    return Response(status_code=202)


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/me", me, methods=["GET"]),
        Route("/v1/logout", logout, methods=["POST"]),
        Route("/v1/password/forgot", forgot_password, methods=["POST"]),
        Route("/v1/password/reset", reset_password, methods=["POST"]),
        Route("/v1/email/verify", verify_email, methods=["POST"]),
        Route("/v1/email/verification", send_verification, methods=["POST"]),
    ]
