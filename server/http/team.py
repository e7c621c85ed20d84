"""The team (contract §5): GET /v1/users, PATCH and DELETE /v1/users/{id}, and invitations
(POST/GET /v1/invites, resend, revoke, accept, and a preview for the accept page)."""

from __future__ import annotations

from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.domain.roles import MANAGERS
from server.http.accounts import _email, _ip, _password, _raise
from server.http.auth import authenticate
from server.http.errors import ApiError
from server.http.params import json_body, query_int, require_str
from server.services.accounts import AccountError

PAGE_DEFAULT = 100
PAGE_MAX = 200
_TOKEN_MAX = 256  # our tokens are ~100 characters; anything longer is not one


def _id(request: Request) -> UUID:
    try:
        return UUID(request.path_params["id"])
    except ValueError as exc:
        raise ApiError(404, "not_found", "no such id") from exc


def _optional(body: dict, name: str, max_len: int) -> str | None:
    return require_str(body, name, max_len=max_len, min_len=0, optional=True)


async def list_members(request: Request) -> JSONResponse:
    actor = await authenticate(request, MANAGERS)
    limit = query_int(request, "limit", PAGE_DEFAULT, 1, PAGE_MAX)
    try:
        page = await request.app.state.services.team.members(
            actor, request.query_params.get("cursor"), limit)
    except AccountError as exc:
        raise _raise(exc) from exc
    return JSONResponse(page)


async def update_member(request: Request) -> JSONResponse:
    # any member may rename themselves or pick their language; the service checks the rest
    actor = await authenticate(request)
    body = await json_body(request)
    role = require_str(body, "role", max_len=16, optional=True)
    name = _optional(body, "name", 200)
    locale = require_str(body, "locale", max_len=8, optional=True)
    try:
        out = await request.app.state.services.team.update_member(
            actor, _id(request), role=role, name=name, locale=locale, address=_ip(request))
    except AccountError as exc:
        raise _raise(exc) from exc
    return JSONResponse(out)


async def remove_member(request: Request) -> Response:
    actor = await authenticate(request, MANAGERS)
    try:
        await request.app.state.services.team.remove_member(actor, _id(request), _ip(request))
    except AccountError as exc:
        raise _raise(exc) from exc
    return Response(status_code=204)


async def create_invite(request: Request) -> JSONResponse:
    actor = await authenticate(request, MANAGERS)
    body = await json_body(request)
    email = _email(body)
    role = require_str(body, "role", max_len=16)
    assert role is not None
    locale = require_str(body, "locale", max_len=8, optional=True)
    try:
        out = await request.app.state.services.team.invite(actor, email, role, locale,
                                                           _ip(request))
    except AccountError as exc:
        raise _raise(exc) from exc
    return JSONResponse(out, status_code=201)


async def list_invites(request: Request) -> JSONResponse:
    actor = await authenticate(request, MANAGERS)
    limit = query_int(request, "limit", PAGE_DEFAULT, 1, PAGE_MAX)
    try:
        page = await request.app.state.services.team.invites(
            actor, request.query_params.get("cursor"), limit)
    except AccountError as exc:
        raise _raise(exc) from exc
    return JSONResponse(page)


async def resend_invite(request: Request) -> JSONResponse:
    actor = await authenticate(request, MANAGERS)
    try:
        out = await request.app.state.services.team.resend(actor, _id(request), _ip(request))
    except AccountError as exc:
        raise _raise(exc) from exc
    return JSONResponse(out)


async def revoke_invite(request: Request) -> Response:
    actor = await authenticate(request, MANAGERS)
    try:
        await request.app.state.services.team.revoke(actor, _id(request), _ip(request))
    except AccountError as exc:
        raise _raise(exc) from exc
    return Response(status_code=204)


def _token(body: dict) -> str:
    token = require_str(body, "token", max_len=_TOKEN_MAX)
    assert token is not None
    return token


async def accept_invite(request: Request) -> JSONResponse:
    body = await json_body(request)
    token = _token(body)
    name = require_str(body, "name", max_len=200) or ""
    password = _password(body)
    try:
        out = await request.app.state.services.team.accept(token, name, password, _ip(request))
    except AccountError as exc:
        raise _raise(exc) from exc
    return JSONResponse(out, status_code=201)


async def preview_invite(request: Request) -> JSONResponse:
    """POST, not GET: the token travels in the body, never in a URL that logs keep."""
    body = await json_body(request)
    try:
        out = await request.app.state.services.team.preview(_token(body))
    except AccountError as exc:
        raise _raise(exc) from exc
    return JSONResponse(out)


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/users", list_members, methods=["GET"]),
        Route("/v1/users/{id}", update_member, methods=["PATCH"]),
        Route("/v1/users/{id}", remove_member, methods=["DELETE"]),
        Route("/v1/invites", create_invite, methods=["POST"]),
        Route("/v1/invites", list_invites, methods=["GET"]),
        Route("/v1/invites/accept", accept_invite, methods=["POST"]),
        Route("/v1/invites/preview", preview_invite, methods=["POST"]),
        Route("/v1/invites/{id}/resend", resend_invite, methods=["POST"]),
        Route("/v1/invites/{id}", revoke_invite, methods=["DELETE"]),
    ]
