"""GET /v1/insights (owners and admins): a period's support figures (services/insights.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from server.domain.insights import Period, PeriodError
from server.domain.roles import MANAGERS
from server.http.auth import authenticate
from server.http.errors import ApiError
from server.http.params import query_text


async def insights(request: Request) -> JSONResponse:
    principal = await authenticate(request, MANAGERS)
    service = request.app.state.services.insights
    first = query_text(request, "from", max_len=10)
    last = query_text(request, "to", max_len=10)
    if first is None or last is None:
        raise ApiError(422, "bad_request", "from and to are required (YYYY-MM-DD)")
    try:
        period = Period.parse(first, last, query_text(request, "tz", max_len=64),
                              service.policy.max_days)
    except PeriodError as exc:
        raise ApiError(422, "bad_request", str(exc)) from None
    return JSONResponse(await service.report(principal.org_id, period))


def routes() -> list[BaseRoute]:
    return [Route("/v1/insights", insights, methods=["GET"])]
