"""/healthz (the process answers), /readyz (Postgres and Redis reachable, and whether
row-level security holds the serving role), /metrics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    services = request.app.state.services
    postgres = await services.db.ping()
    redis = services.broker.healthy
    ready = postgres and redis
    body: dict[str, object] = {"status": "ready" if ready else "degraded",
                               "postgres": postgres, "redis": redis}
    rls = services.db.rls
    if rls is not None:
        # loud, not a 503: an operator's DATABASE_URL naming the owner worked before RLS,
        # and taking every instance out of its load balancer for it would be an outage
        body["rls"] = "bypassed" if rls.bypassed else "enforced"
        if rls.bypassed:
            body["rls_bypass"] = list(rls.reasons)
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    services = request.app.state.services
    services.metrics.redis_reconnects.set(services.broker.reconnects)
    return Response(services.metrics.render(),
                    media_type="text/plain; version=0.0.4; charset=utf-8")


def routes() -> list[BaseRoute]:
    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
