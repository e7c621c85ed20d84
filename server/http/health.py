"""/healthz (the process answers), /readyz (Postgres and Redis reachable, and whether
row-level security holds the serving role), /metrics (behind CLIENTA_METRICS_TOKEN on
the public port, 404 there without one; http/metrics_listener.py serves it apart)."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.http.errors import error_response

METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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


def render_metrics(services: Any) -> bytes:
    services.metrics.redis_reconnects.set(services.broker.reconnects)
    return bytes(services.metrics.render())


def bearer_matches(authorization: str | None, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())


async def metrics(request: Request) -> Response:
    services = request.app.state.services
    token = services.settings.metrics_token
    if not token:  # never public by default: only the listener of CLIENTA_METRICS_ADDR
        return error_response(404, "not_found", "Not Found")
    if not bearer_matches(request.headers.get("authorization"), token):
        answer = error_response(401, "unauthorized", "metrics need the bearer token")
        answer.headers["WWW-Authenticate"] = "Bearer"
        return answer
    return Response(render_metrics(services), media_type=METRICS_TYPE)


def routes() -> list[BaseRoute]:
    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
