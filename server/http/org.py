"""GET/PATCH /v1/org: the organisation's own settings (name, allowed origins, assignment,
the widget's look, the bot's handoff keywords and limits, business hours, tags), and the
onboarding checklist (GET /v1/org/onboarding, POST /v1/org/onboarding/snippet)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.domain.org_settings import SettingError, parse_change
from server.domain.roles import MANAGERS
from server.http.audit import actor_of
from server.http.auth import authenticate
from server.http.errors import ApiError
from server.http.params import clean_text, json_body, require_str
from server.services.orgs import Org


def _org_json(org: Org) -> JSONResponse:
    return JSONResponse({"org_id": str(org.id), "name": org.name, "site_key": org.site_key,
                         "allowed_origins": org.allowed_origins, "assignment": org.assignment,
                         "agent_capacity": org.agent_capacity, **org.prefs.to_json()})


async def get_org(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    org = await request.app.state.services.orgs.by_id(principal.org_id)
    assert org is not None
    return _org_json(org)


async def patch_org(request: Request) -> JSONResponse:
    principal = await authenticate(request, MANAGERS)
    body = await json_body(request)
    origins = body.get("allowed_origins")
    if origins is not None and (not isinstance(origins, list) or len(origins) > 100 or not all(
            isinstance(o, str) and o.startswith(("http://", "https://")) and len(o) < 300
            for o in origins)):
        raise ApiError(422, "bad_request", "allowed_origins must be a list of http(s) origins")
    for origin in origins or ():
        clean_text(origin, "allowed_origins")
    assignment = body.get("assignment")
    if assignment is not None and assignment not in ("manual", "auto"):
        raise ApiError(422, "bad_request", "assignment must be manual or auto")
    capacity = body.get("agent_capacity")
    if capacity is not None and (not isinstance(capacity, int) or not 1 <= capacity <= 100):
        raise ApiError(422, "bad_request", "agent_capacity must be an integer from 1 to 100")
    name = require_str(body, "name", max_len=200, optional=True)
    if name is not None and not name.strip():
        raise ApiError(422, "bad_request", "name must not be blank")
    try:
        prefs = parse_change(body)
    except SettingError as exc:
        raise ApiError(422, "bad_request", str(exc)) from None
    org = await request.app.state.services.orgs.update_settings(
        principal.org_id,
        allowed_origins=[o.rstrip("/") for o in origins] if origins is not None else None,
        assignment=assignment, agent_capacity=capacity, actor=actor_of(request, principal),
        name=name.strip() if name else None, prefs=prefs if prefs.fields else None)
    return _org_json(org)


# the checklist's steps in the order the console shows them
ONBOARDING_STEPS = ("kb_document", "widget_styled", "snippet_copied", "allowed_origins",
                    "teammate_invited")


async def get_onboarding(request: Request) -> JSONResponse:
    principal = await authenticate(request, MANAGERS)
    facts = await request.app.state.services.orgs.setup_facts(principal.org_id)
    done = dict(zip(ONBOARDING_STEPS, (facts.has_document, facts.styled, facts.snippet_copied,
                                       facts.has_origins, facts.has_teammate), strict=True))
    return JSONResponse({"steps": [{"id": k, "done": v} for k, v in done.items()],
                         "complete": all(done.values())})


async def snippet_copied(request: Request) -> Response:
    """The one step only the browser sees: the owner copied the embed snippet."""
    principal = await authenticate(request, MANAGERS)
    await request.app.state.services.orgs.snippet_copied(principal.org_id)
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [Route("/v1/org", get_org, methods=["GET"]),
            Route("/v1/org", patch_org, methods=["PATCH"]),
            Route("/v1/org/onboarding", get_onboarding, methods=["GET"]),
            Route("/v1/org/onboarding/snippet", snippet_copied, methods=["POST"])]
