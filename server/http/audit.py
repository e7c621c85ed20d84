"""GET /v1/audit (owners and admins): the org's audit log, newest first, filtered, a keyset
page at a time; and who is acting on a request, as the audit log records them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from server.domain.audit import (
    LABEL_MAX,
    Actor,
    AuditAction,
    AuditFilter,
    Cursor,
    Target,
    TargetKind,
)
from server.domain.roles import MANAGERS
from server.http.auth import authenticate
from server.http.errors import ApiError
from server.http.params import query_int, query_text
from server.services.accounts import Principal

PAGE_DEFAULT = 50


def address(request: Request) -> str:
    """The client's address (full: `Actor` cuts it before anything is stored)."""
    peer = request.client.host if request.client else None
    return request.app.state.services.audit.address(peer, request.headers)


def actor_of(request: Request, principal: Principal) -> Actor:
    return Actor.user(principal.user_id, address(request))


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


def _moment(request: Request, name: str, *, end: bool) -> datetime | None:
    """`YYYY-MM-DD` (a whole UTC day: `to` includes it) or an ISO 8601 time with an offset."""
    raw = query_text(request, name, max_len=40)
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            day = datetime.combine(date.fromisoformat(raw), datetime.min.time(), UTC)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(raw)
    except (ValueError, OverflowError):  # OverflowError: the day after 9999-12-31
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(422, "bad_request",
                       f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time with an offset")
    return moment


def _filter(request: Request) -> AuditFilter:
    action = query_text(request, "action", max_len=64)
    if action is not None and action not in tuple(AuditAction):
        raise ApiError(422, "bad_request", f"action must be one of {', '.join(AuditAction)}")
    actor = query_text(request, "actor", max_len=LABEL_MAX)
    actor_id = _uuid(actor) if actor else None
    target = query_text(request, "target", max_len=64)
    target_id = _uuid(target) if target else None
    if target is not None and target_id is None and target not in tuple(TargetKind):
        raise ApiError(422, "bad_request",
                       f"target must be an id or one of {', '.join(TargetKind)}")
    since, until = _moment(request, "from", end=False), _moment(request, "to", end=True)
    if since is not None and until is not None and since >= until:
        raise ApiError(422, "bad_request", "from must be before to")
    return AuditFilter(
        action=AuditAction(action) if action else None, actor_id=actor_id,
        actor_label=actor if actor and actor_id is None else None, target_id=target_id,
        target_kind=TargetKind(target) if target and target_id is None else None,
        since=since, until=until)


async def audit_log(request: Request) -> JSONResponse:
    principal = await authenticate(request, MANAGERS)
    where = _filter(request)
    raw = query_text(request, "cursor", max_len=200)
    try:
        after = Cursor.decode(raw) if raw else None
    except ValueError as exc:
        raise ApiError(422, "bad_request", "cursor must be a next_cursor this server gave") \
            from exc
    limit = query_int(request, "limit", PAGE_DEFAULT, 1, 200)
    items, next_cursor = await request.app.state.services.audit.page(
        principal.org_id, where, after, limit)
    return JSONResponse({"items": [e.as_json() for e in items],
                         "next_cursor": next_cursor.encode() if next_cursor else None})


async def audited(request: Request, principal: Principal, action: AuditAction,
                  target: Target | None = None,
                  detail: Mapping[str, str | list[str]] | None = None) -> None:
    """Record what a staff user just did through this request, in its own transaction."""
    await request.app.state.services.audit.record_alone(
        principal.org_id, actor_of(request, principal), action, target, detail)


def routes() -> list[BaseRoute]:
    return [Route("/v1/audit", audit_log, methods=["GET"])]
