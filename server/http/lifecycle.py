"""An account's end over HTTP: an owner terminates the org, the org's export (open 30 days
after), a member's own export and deletion, and the privacy policy's versions (the
console's banner of a coming change)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.domain.audit import Actor
from server.domain.roles import Role
from server.http.audit import actor_of, address
from server.http.auth import authenticate, bearer_token
from server.http.errors import ApiError
from server.http.params import json_body, require_str
from server.services.lifecycle import ExportUser, LifecycleError, org_archive
from server.services.privacy import zip_tables

MAX_NAME = 200


def _error(exc: LifecycleError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def _format(request: Request) -> str:
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError(422, "bad_request", "format must be json or csv")
    return fmt


async def _export_user(request: Request) -> tuple[ExportUser, Actor]:
    """The export's own authentication: a terminated org's tokens open only this."""
    try:
        user = await request.app.state.services.lifecycle.export_user(
            bearer_token(request) or "")
    except LifecycleError as exc:
        raise _error(exc) from exc
    return user, Actor.user(user.user_id, address(request))


def _download(data: dict, fmt: str, archive: bytes | None, name: str) -> Response:
    if fmt == "json":
        response: Response = JSONResponse(data)
    else:
        response = Response(archive, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="{name}.zip"'})
    response.headers["Cache-Control"] = "no-store"
    return response


async def terminate(request: Request) -> JSONResponse:
    me = await authenticate(request, {Role.OWNER})
    body = await json_body(request)
    confirm = require_str(body, "confirm", max_len=MAX_NAME)
    try:
        answer = await request.app.state.services.lifecycle.terminate(
            me, confirm, actor_of(request, me))
    except LifecycleError as exc:
        raise _error(exc) from exc
    return JSONResponse(answer, status_code=202)


async def org_export(request: Request) -> Response:
    fmt = _format(request)
    user, actor = await _export_user(request)
    try:
        data = await request.app.state.services.lifecycle.org_export(user, actor)
    except LifecycleError as exc:
        raise _error(exc) from exc
    return _download(data, fmt, org_archive(data) if fmt == "csv" else None,
                     f"org-{user.org_id}")


async def my_export(request: Request) -> Response:
    fmt = _format(request)
    user, actor = await _export_user(request)
    data = await request.app.state.services.lifecycle.user_export(user, actor)
    archive = None
    if fmt == "csv":
        archive = zip_tables(data, {
            "user.csv": (list(data["user"] or {}), [list((data["user"] or {}).values())]),
            "activity.csv": (["at", "action", "ip"],
                             [[a["at"], a["action"], a["ip"]] for a in data["activity"]])})
    return _download(data, fmt, archive, f"user-{user.user_id}")


async def delete_me(request: Request) -> Response:
    me = await authenticate(request)
    try:
        await request.app.state.services.lifecycle.delete_me(me, actor_of(request, me))
    except LifecycleError as exc:
        raise _error(exc) from exc
    return Response(status_code=204)


async def policy(request: Request) -> JSONResponse:
    """Public: the policy's versions, and the material change still to take effect (the
    console's banner shows it from publication, at least 30 days ahead)."""
    return JSONResponse(await request.app.state.services.lifecycle.policy_versions())


def routes() -> list[BaseRoute]:
    # before team.py's /v1/users/{id}: "me" is not an id
    return [
        Route("/v1/org/terminate", terminate, methods=["POST"]),
        Route("/v1/org/export", org_export, methods=["GET"]),
        Route("/v1/users/me/export", my_export, methods=["GET"]),
        Route("/v1/users/me", delete_me, methods=["DELETE"]),
        Route("/v1/policy", policy, methods=["GET"]),
    ]
