"""GET /v1/conversations/{id}/messages and /timeline: one conversation's history for the
org's staff (every role reads; nothing here changes a conversation)."""

from __future__ import annotations

from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from server.http.audit import address
from server.http.auth import authenticate
from server.http.errors import ApiError
from server.http.params import query_int


def parse_uuid(value: str, name: str = "id") -> UUID:
    try:
        return UUID(value)
    except ValueError as exc:
        raise ApiError(404, "not_found", f"no such {name}") from exc


async def conversation_messages(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    conversation_id = parse_uuid(request.path_params["id"], "conversation")
    after = query_int(request, "after", 0, 0)
    limit = query_int(request, "limit", 1000, 1, 1000)
    events = await request.app.state.services.conversations.history(
        principal.org_id, conversation_id, after, limit)
    if events is None:
        raise ApiError(404, "not_found", "no such conversation")
    # before the answer: a history that could not be put on record is not served
    await request.app.state.services.audit.history_opened(
        principal.org_id, principal.user_id, conversation_id, address(request), "http")
    return JSONResponse({"messages": [e.frame() for e in events]})


async def conversation_timeline(request: Request) -> JSONResponse:
    """The conversation with its visitor, times and CSAT, and its events: messages, notes
    and each mode change (a system message with `mode`). Pages by `after`/`next_after`."""
    principal = await authenticate(request)
    conversation_id = parse_uuid(request.path_params["id"], "conversation")
    after = query_int(request, "after", 0, 0)
    limit = query_int(request, "limit", 500, 1, 1000)
    timeline = await request.app.state.services.history.timeline(
        principal.org_id, conversation_id, after, limit)
    if timeline is None:
        raise ApiError(404, "not_found", "no such conversation")
    await request.app.state.services.audit.history_opened(
        principal.org_id, principal.user_id, conversation_id, address(request), "http")
    return JSONResponse(timeline)


def routes() -> list[BaseRoute]:
    return [Route("/v1/conversations/{id}/messages", conversation_messages),
            Route("/v1/conversations/{id}/timeline", conversation_timeline, methods=["GET"])]
