"""Data-subject rights over HTTP: the visitor's own (`/v1/visitor/...`, their widget token as
bearer, callable cross-origin from the site the widget is on), the org's for its visitors
(`/v1/visitors/{id}/...`, owners and admins) and the requests register."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from server.domain.audit import Actor
from server.domain.roles import MANAGERS
from server.http.audit import actor_of, address
from server.http.auth import authenticate, bearer_token
from server.http.errors import ApiError
from server.http.params import json_body, query_int, query_text, require_str
from server.services.privacy import (
    NoSuchVisitor,
    Requester,
    RequestKind,
    RequestRefused,
    RequestSource,
    export_archive,
)
from server.services.privacy_settings import NoticeIncomplete

MAX_NAME = 200
MAX_EMAIL = 320
MAX_OBJECTION = 1000
# The widget calls these from its host page's origin with a bearer token (never a
# cookie), so any origin may: the token is the whole authority.
_CORS = {"Access-Control-Allow-Origin": "*", "Vary": "Origin"}
_PREFLIGHT = {**_CORS, "Access-Control-Allow-Methods": "GET, PATCH, PUT, POST",
              "Access-Control-Allow-Headers": "authorization, content-type",
              "Access-Control-Max-Age": "600"}


def _visitor(request: Request) -> tuple[UUID, UUID, Requester]:
    # the header only: a cookie is a staff session, never a visitor's
    token = bearer_token(request) if "authorization" in request.headers else None
    token = token or ""
    subject = request.app.state.services.visitor_tokens.subject(token) if len(token) < 200 \
        else None
    if subject is None:
        raise ApiError(401, "unauthorized", "a valid visitor token is required")
    org_id, visitor_id = subject
    return org_id, visitor_id, Requester(Actor.visitor(visitor_id, address(request)),
                                         RequestSource.WIDGET)


async def _staff(request: Request) -> tuple[UUID, UUID, Requester]:
    principal = await authenticate(request, MANAGERS)
    try:
        visitor_id = UUID(request.path_params["visitor_id"])
    except ValueError as exc:
        raise ApiError(404, "not_found", "no such visitor") from exc
    return principal.org_id, visitor_id, Requester(actor_of(request, principal),
                                                   RequestSource.API, principal.user_id)


def _json(request: Request, body: Any, status: int = 200) -> JSONResponse:
    headers = _CORS if _is_visitor_path(request.url.path) else None
    return JSONResponse(body, status_code=status, headers=headers)


def _missing(request: Request) -> ApiError:
    if request.url.path.startswith("/v1/visitors/"):
        return ApiError(404, "not_found", "no such visitor")
    return ApiError(401, "unauthorized", "this visitor token no longer works")


async def _who(request: Request) -> tuple[UUID, UUID, Requester]:
    if _is_visitor_path(request.url.path):
        return _visitor(request)
    return await _staff(request)


async def export(request: Request) -> Response:
    org_id, visitor_id, by = await _who(request)
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError(422, "bad_request", "format must be json or csv")
    try:
        data = await request.app.state.services.privacy.export(org_id, visitor_id, by)
    except NoSuchVisitor as exc:
        raise _missing(request) from exc
    if fmt == "json":
        response: Response = _json(request, data)
    else:
        response = Response(export_archive(data), media_type="application/zip", headers={
            **(_CORS if by.source == RequestSource.WIDGET else {}),
            "Content-Disposition": f'attachment; filename="visitor-{visitor_id}.zip"'})
    response.headers["Cache-Control"] = "no-store"
    return response


async def rectify(request: Request) -> JSONResponse:
    org_id, visitor_id, by = await _who(request)
    body = await json_body(request)
    if set(body) - {"name", "email"} or not body:
        raise ApiError(422, "bad_request", "send name and/or email")
    name = require_str(body, "name", max_len=MAX_NAME, optional=True)
    email = require_str(body, "email", max_len=MAX_EMAIL, optional=True)
    if email is not None and "@" not in email:
        raise ApiError(422, "bad_request", "email must be an email address")
    try:
        details = await request.app.state.services.privacy.rectify(
            org_id, visitor_id, by, name=name, email=email)
    except NoSuchVisitor as exc:
        raise _missing(request) from exc
    return _json(request, details)


async def processing(request: Request) -> JSONResponse:
    org_id, visitor_id, by = await _who(request)
    body = await json_body(request)
    restricted = body.get("restricted")
    if not isinstance(restricted, bool) or set(body) - {"restricted", "objection"}:
        raise ApiError(422, "bad_request", "restricted must be true or false")
    objection = require_str(body, "objection", max_len=MAX_OBJECTION, optional=True)
    try:
        state = await request.app.state.services.privacy.set_processing(
            org_id, visitor_id, by, restricted=restricted, objection=objection)
    except NoSuchVisitor as exc:
        raise _missing(request) from exc
    return _json(request, state)


async def consent(request: Request) -> JSONResponse:
    org_id, visitor_id, by = _visitor(request)
    body = await json_body(request)
    version = require_str(body, "notice_version", max_len=64)
    granted = body.get("granted")
    if not isinstance(granted, bool):
        raise ApiError(422, "bad_request", "granted must be true or false")
    try:
        record = await request.app.state.services.privacy.consent(
            org_id, visitor_id, by, notice_version=version, granted=granted)
    except NoSuchVisitor as exc:
        raise _missing(request) from exc
    return _json(request, record, 201)


async def erase(request: Request) -> JSONResponse:
    org_id, visitor_id, by = await _who(request)
    privacy = request.app.state.services.privacy
    if by.source == RequestSource.WIDGET and await privacy.is_erased(org_id, visitor_id):
        raise _missing(request)
    try:
        evidence = await privacy.erase(org_id, visitor_id, by)
    except NoSuchVisitor as exc:
        raise _missing(request) from exc
    return _json(request, {"erased": True, **evidence}, 202)


async def report_minor(request: Request) -> JSONResponse:
    """An admin was told the visitor is under 20: nothing of theirs is kept."""
    org_id, visitor_id, by = await _staff(request)
    try:
        evidence = await request.app.state.services.privacy.erase(org_id, visitor_id, by,
                                                                  minor=True)
    except NoSuchVisitor as exc:
        raise _missing(request) from exc
    return _json(request, {"erased": True, "reported_minor": True, **evidence}, 202)


def _is_visitor_path(path: str) -> bool:
    return path == "/v1/visitor" or path.startswith("/v1/visitor/")


class VisitorCors:
    """Answers the browser's CORS preflight for the visitor's own endpoints only (pure
    ASGI: a preflight is no route, so it never reaches a handler). Every other path keeps
    the server's no-CORS stance (http/csrf.py relies on it for staff sessions)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "OPTIONS"
                and _is_visitor_path(scope["path"])):
            await Response(status_code=204, headers=_PREFLIGHT)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def find_visitors(request: Request) -> JSONResponse:
    """GET /v1/visitors?email= or ?visitor_id=: the console's lookup of a data subject."""
    principal = await authenticate(request, MANAGERS)
    email = query_text(request, "email", max_len=MAX_EMAIL)
    visitor_id = _uuid(query_text(request, "visitor_id", max_len=64), "visitor_id")
    if (email is None) == (visitor_id is None):
        raise ApiError(422, "bad_request", "give one of email or visitor_id")
    if email is not None and "@" not in email:
        raise ApiError(422, "bad_request", "email must be an email address")
    items = await request.app.state.services.privacy.find(
        principal.org_id, visitor_id=visitor_id, email=email)
    return JSONResponse({"items": items, "next_cursor": None},
                        headers={"Cache-Control": "no-store"})


# ---- the org's notice and retention (org_privacy) ---------------------------------------

async def get_settings(request: Request) -> JSONResponse:
    principal = await authenticate(request, MANAGERS)
    return JSONResponse(await request.app.state.services.privacy_settings.get(
        principal.org_id))


async def patch_settings(request: Request) -> JSONResponse:
    principal = await authenticate(request, MANAGERS)
    body = await json_body(request)
    fields = {"notice_required", "notice_version", "notice_text", "closed_retention_days"}
    if not body or set(body) - fields:
        raise ApiError(422, "bad_request", "send any of " + ", ".join(sorted(fields)))
    changes: dict[str, Any] = {}
    if "notice_required" in body:
        if not isinstance(body["notice_required"], bool):
            raise ApiError(422, "bad_request", "notice_required must be true or false")
        changes["notice_required"] = body["notice_required"]
    for name, limit in (("notice_version", 64), ("notice_text", 4000)):
        if name in body:
            changes[name] = (None if body[name] is None
                             else require_str(body, name, max_len=limit))
    if "closed_retention_days" in body:
        days = body["closed_retention_days"]
        if days is not None and (not isinstance(days, int) or isinstance(days, bool)
                                 or not 1 <= days <= 3650):
            raise ApiError(422, "bad_request",
                           "closed_retention_days must be 1-3650 days or null")
        changes["closed_retention_days"] = days
    try:
        settings = await request.app.state.services.privacy_settings.update(
            principal.org_id, changes, actor_of(request, principal))
    except NoticeIncomplete as exc:
        raise ApiError(422, "bad_request", str(exc)) from exc
    return JSONResponse(settings)


# ---- the requests register -------------------------------------------------------------

def _moment(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(422, "bad_request", f"{name} must be an ISO 8601 time with an offset")
    return moment


def _uuid(value: Any, name: str) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value) if isinstance(value, str) else None
    except ValueError:
        raise ApiError(422, "bad_request", f"{name} must be an id") from None


async def list_requests(request: Request) -> JSONResponse:
    principal = await authenticate(request, MANAGERS)
    status = query_text(request, "status", max_len=8)
    if status not in (None, "open", "done", "refused"):
        raise ApiError(422, "bad_request", "status must be open, done or refused")
    limit = query_int(request, "limit", 50, 1, 200)
    cursor = query_text(request, "cursor", max_len=100)
    after = None
    if cursor is not None:
        at, _, rid = cursor.partition("~")
        after = (_moment(at, "cursor"), _uuid(rid, "cursor"))
    items = await request.app.state.services.privacy.requests(
        principal.org_id, status, limit, after)
    next_cursor = (f"{items[-1]['due_at']}~{items[-1]['request_id']}"
                   if len(items) == limit else None)
    return JSONResponse({"items": items, "next_cursor": next_cursor})


async def create_request(request: Request) -> JSONResponse:
    principal = await authenticate(request, MANAGERS)
    body = await json_body(request)
    kind = body.get("kind")
    if kind not in {k.value for k in RequestKind}:
        raise ApiError(422, "bad_request",
                       "kind must be one of " + ", ".join(k.value for k in RequestKind))
    email = require_str(body, "email", max_len=MAX_EMAIL, optional=True)
    if email is not None and "@" not in email:
        raise ApiError(422, "bad_request", "email must be an email address")
    try:
        item = await request.app.state.services.privacy.record_request(
            principal.org_id, Requester(actor_of(request, principal), RequestSource.API,
                                        principal.user_id),
            kind=RequestKind(kind), visitor_id=_uuid(body.get("visitor_id"), "visitor_id"),
            email=email, received_at=_moment(body.get("received_at"), "received_at"),
            verified_by=_uuid(body.get("verified_by"), "verified_by"))
    except NoSuchVisitor as exc:
        raise ApiError(404, "not_found", "no such visitor") from exc
    except RequestRefused as exc:
        raise ApiError(422, "bad_request", str(exc)) from exc
    return JSONResponse(item, status_code=201)


async def complete_request(request: Request) -> JSONResponse:
    principal = await authenticate(request, MANAGERS)
    request_id = _uuid(request.path_params["request_id"], "request_id")
    body = await json_body(request)
    status = body.get("status")
    if status not in ("done", "refused"):
        raise ApiError(422, "bad_request", "status must be done or refused")
    note = require_str(body, "evidence", max_len=2000, optional=True)
    assert request_id is not None
    item = await request.app.state.services.privacy.complete_request(
        principal.org_id, request_id, status,
        {"action": status, "by": str(principal.user_id), "note": note})
    if item is None:
        raise ApiError(404, "not_found", "no such open request")
    return JSONResponse(item)


def routes() -> list[BaseRoute]:
    out: list[BaseRoute] = [
        Route("/v1/visitor", rectify, methods=["PATCH"]),
        Route("/v1/visitor/export", export, methods=["GET"]),
        Route("/v1/visitor/processing", processing, methods=["PUT"]),
        Route("/v1/visitor/consent", consent, methods=["POST"]),
        Route("/v1/visitor/erase", erase, methods=["POST"]),
        Route("/v1/visitors", find_visitors, methods=["GET"]),
        Route("/v1/org/privacy", get_settings, methods=["GET"]),
        Route("/v1/org/privacy", patch_settings, methods=["PATCH"]),
        Route("/v1/visitors/{visitor_id}", rectify, methods=["PATCH"]),
        Route("/v1/visitors/{visitor_id}/export", export, methods=["GET"]),
        Route("/v1/visitors/{visitor_id}/processing", processing, methods=["PUT"]),
        Route("/v1/visitors/{visitor_id}/erase", erase, methods=["POST"]),
        Route("/v1/visitors/{visitor_id}/minor", report_minor, methods=["POST"]),
        Route("/v1/privacy/requests", list_requests, methods=["GET"]),
        Route("/v1/privacy/requests", create_request, methods=["POST"]),
        Route("/v1/privacy/requests/{request_id}", complete_request, methods=["PATCH"]),
    ]
    return out
