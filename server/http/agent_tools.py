"""HTTP for agent tools: conversation lists and history search (keyset pagination), one
conversation, tags, canned responses."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.domain.modes import Mode
from server.domain.roles import STAFF
from server.http.auth import authenticate
from server.http.conversations import parse_uuid
from server.http.errors import ApiError
from server.http.params import (
    clean_text,
    day_start,
    json_body,
    query_date,
    query_int,
    query_text,
    require_str,
)
from server.services.canned import ShortcutTaken
from server.services.history import HistoryFilter
from server.services.tags import normalised

MODES = frozenset(Mode)


def _cursor(summary: dict) -> str:
    raw = f"{summary['updated_at']}|{summary['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_cursor(value: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        ms, ident = raw.split("|", 1)
        # milliseconds since the epoch of an updated_at: 13 ASCII digits until 2286
        if not (ms.isascii() and ms.isdigit() and len(ms) <= 15):
            raise ValueError(ms)
        return datetime.fromtimestamp(int(ms) / 1000, UTC), UUID(ident)
    except (ValueError, OverflowError, OSError) as exc:
        raise ApiError(422, "bad_request", "cursor is not valid") from exc


def _history_filter(request: Request, principal_user: UUID) -> HistoryFilter:
    q = request.query_params
    modes = None
    if q.get("mode"):
        modes = q["mode"].split(",")
        if not set(modes) <= MODES:
            raise ApiError(422, "bad_request", "mode must be bot, queued, agent or closed")
    status = q.get("status")
    if status == "open":
        modes = [m for m in (modes or MODES) if m != Mode.CLOSED]
    elif status == "closed":
        modes = [Mode.CLOSED]
    elif status is not None:
        raise ApiError(422, "bad_request", "status must be open or closed")
    assignee = q.get("assignee")
    assignee_id = None
    unassigned = False
    if assignee == "me":
        assignee_id = principal_user
    elif assignee == "none":
        unassigned = True
    elif assignee:
        assignee_id = parse_uuid(assignee, "assignee")
    # a visitor by id, or by an address they gave (exact, through its keyed index)
    visitor = query_text(request, "visitor", max_len=320)
    visitor_id = visitor_email = None
    if visitor is not None and "@" in visitor:
        visitor_email = visitor
    elif visitor is not None:
        try:
            visitor_id = UUID(visitor)
        except ValueError:
            raise ApiError(422, "bad_request",
                           "visitor must be a visitor id or an email address") from None
    agent = query_text(request, "agent", max_len=36)
    try:
        agent_id = UUID(agent) if agent else None
    except ValueError:
        raise ApiError(422, "bad_request", "agent must be a user id") from None
    tag = query_text(request, "tag", max_len=40)
    first, last = query_date(request, "from"), query_date(request, "to")
    if first is not None and last is not None and last < first:
        raise ApiError(422, "bad_request", "to must not be before from")
    return HistoryFilter(
        modes=modes, assignee_id=assignee_id, unassigned=unassigned, visitor_id=visitor_id,
        visitor_email=visitor_email, tag=normalised([tag])[0] if tag else None,
        created_from=day_start(first) if first else None,
        created_to=day_start(last) + timedelta(days=1) if last else None,
        agent_id=agent_id)


async def list_conversations(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    where = _history_filter(request, principal.user_id)
    limit = query_int(request, "limit", 50, 1, 200)
    q = request.query_params
    before = _parse_cursor(q["cursor"]) if q.get("cursor") else None
    items = await request.app.state.services.history.search(principal.org_id, where, before,
                                                            limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return JSONResponse({"conversations": items,
                         "next_cursor": _cursor(items[-1]) if more and items else None})


async def get_conversation(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    conversation_id = parse_uuid(request.path_params["id"], "conversation")
    summary = await request.app.state.services.conversations.summary(principal.org_id,
                                                                      conversation_id)
    if summary is None:
        raise ApiError(404, "not_found", "no such conversation")
    return JSONResponse(summary)


async def put_tags(request: Request) -> JSONResponse:
    principal = await authenticate(request, STAFF)
    conversation_id = parse_uuid(request.path_params["id"], "conversation")
    body = await json_body(request)
    tags = body.get("tags")
    if not isinstance(tags, list) or len(tags) > 20 or not all(
            isinstance(t, str) and 0 < len(t.strip()) <= 40 for t in tags):
        raise ApiError(422, "bad_request", "tags must be up to 20 strings of 1-40 characters")
    for tag in tags:
        clean_text(tag, "tags")
    clean = await request.app.state.services.tags.replace(principal.org_id, conversation_id,
                                                          tags)
    if clean is None:
        raise ApiError(404, "not_found", "no such conversation")
    return JSONResponse({"tags": clean})


async def list_canned(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    items = await request.app.state.services.canned.for_org(principal.org_id)
    return JSONResponse({"canned": items})


def _canned_fields(body: dict, partial: bool) -> tuple[str | None, str | None]:
    shortcut = require_str(body, "shortcut", max_len=40, optional=partial)
    text = require_str(body, "text", max_len=4000, optional=partial)
    return shortcut, text


async def create_canned(request: Request) -> JSONResponse:
    principal = await authenticate(request, STAFF)
    shortcut, text = _canned_fields(await json_body(request), partial=False)
    assert shortcut is not None and text is not None  # required when not partial
    try:
        row = await request.app.state.services.canned.create(principal.org_id, shortcut, text)
    except ShortcutTaken:
        raise ApiError(409, "conflict", "a canned response with this shortcut exists") from None
    return JSONResponse(row, status_code=201)


async def update_canned(request: Request) -> JSONResponse:
    principal = await authenticate(request, STAFF)
    canned_id = parse_uuid(request.path_params["id"], "canned response")
    shortcut, text = _canned_fields(await json_body(request), partial=True)
    try:
        row = await request.app.state.services.canned.update(principal.org_id, canned_id,
                                                             shortcut, text)
    except ShortcutTaken:
        raise ApiError(409, "conflict", "a canned response with this shortcut exists") from None
    if row is None:
        raise ApiError(404, "not_found", "no such canned response")
    return JSONResponse(row)


async def delete_canned(request: Request) -> Response:
    principal = await authenticate(request, STAFF)
    canned_id = parse_uuid(request.path_params["id"], "canned response")
    if not await request.app.state.services.canned.delete(principal.org_id, canned_id):
        raise ApiError(404, "not_found", "no such canned response")
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/conversations", list_conversations, methods=["GET"]),
        Route("/v1/conversations/{id}", get_conversation, methods=["GET"]),
        Route("/v1/conversations/{id}/tags", put_tags, methods=["PUT"]),
        Route("/v1/canned", list_canned, methods=["GET"]),
        Route("/v1/canned", create_canned, methods=["POST"]),
        Route("/v1/canned/{id}", update_canned, methods=["PATCH"]),
        Route("/v1/canned/{id}", delete_canned, methods=["DELETE"]),
    ]
