"""POST /v1/signup, /v1/login, /v1/users (contract §2)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from server.http.auth import SESSION_COOKIE, authenticate
from server.http.errors import ApiError
from server.http.params import json_body, require_str
from server.services.accounts import AccountError

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")


def _email(body: dict) -> str:
    email = require_str(body, "email", max_len=320)
    assert email is not None
    if not _EMAIL.match(email):
        raise ApiError(422, "bad_request", "email must be an email address")
    return email


def _password(body: dict) -> str:
    password = require_str(body, "password", max_len=1024, min_len=8)
    assert password is not None
    return password


def _raise(exc: AccountError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


async def signup(request: Request) -> JSONResponse:
    body = await json_body(request)
    org_name = require_str(body, "org_name", max_len=200)
    email, password = _email(body), _password(body)
    name = require_str(body, "name", max_len=200, min_len=0, optional=True) or ""
    try:
        out = await request.app.state.services.accounts.signup(org_name, email, password, name)
    except AccountError as exc:
        raise _raise(exc) from exc
    return JSONResponse(out, status_code=201)


async def login(request: Request) -> JSONResponse:
    body = await json_body(request)
    email = require_str(body, "email", max_len=320)
    password = require_str(body, "password", max_len=1024)
    try:
        out = await request.app.state.services.accounts.login(email, password)
    except AccountError as exc:
        raise _raise(exc) from exc
    response = JSONResponse(out)
    if body.get("cookie") is True:
        # browser pages: the same token as an HttpOnly cookie, never readable by scripts
        response.set_cookie(SESSION_COOKIE, out["token"], httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
    return response


async def create_user(request: Request) -> JSONResponse:
    actor = await authenticate(request, {"owner", "admin"})
    body = await json_body(request)
    email, password = _email(body), _password(body)
    name = require_str(body, "name", max_len=200, min_len=0) or ""
    role = require_str(body, "role", max_len=16)
    try:
        user_id = await request.app.state.services.accounts.create_user(
            actor, email, password, name, role)
    except AccountError as exc:
        raise _raise(exc) from exc
    return JSONResponse({"user_id": user_id}, status_code=201)


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/signup", signup, methods=["POST"]),
        Route("/v1/login", login, methods=["POST"]),
        Route("/v1/users", create_user, methods=["POST"]),
    ]
