"""Billing endpoints: the billing page's reads (owners and admins), checkout, portal, plan
change and cancellation (owners), and the payment providers' webhooks (no account: the
signature over the raw body is the authentication)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.billing.base import BillingError
from server.domain.roles import MANAGERS, Role
from server.http.audit import address
from server.http.auth import authenticate
from server.http.body_limits import RouteLimit
from server.http.errors import ApiError
from server.http.params import json_body, require_str
from server.settings import Settings

OWNERS = frozenset({Role.OWNER})


def body_limits(settings: Settings) -> tuple[RouteLimit, ...]:
    """A provider's event may be larger than our JSON default (an invoice with many lines)."""
    return (RouteLimit(frozenset({"POST"}), "/v1/webhooks",
                       settings.billing.webhook_max_bytes),)


async def _answer(call: Callable[[], Awaitable[object]], status: int = 200) -> JSONResponse:
    try:
        result = await call()
    except BillingError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return JSONResponse(result, status_code=status)


async def overview(request: Request) -> JSONResponse:
    principal = await authenticate(request, MANAGERS)
    return await _answer(lambda: request.app.state.services.billing.overview(principal.org_id))


async def invoices(request: Request) -> JSONResponse:
    principal = await authenticate(request, MANAGERS)
    return await _answer(lambda: request.app.state.services.billing.invoices(principal.org_id))


async def checkout(request: Request) -> JSONResponse:
    principal = await authenticate(request, OWNERS)
    body = await json_body(request)
    plan = require_str(body, "plan", max_len=20)
    provider = require_str(body, "provider", max_len=20)
    method = require_str(body, "method", max_len=20, optional=True) or "card"
    # an Omise.js card token (the card itself never reaches us)
    token = require_str(body, "token", max_len=100, optional=True) or None
    billing = request.app.state.services.billing
    return await _answer(lambda: billing.checkout(principal, plan, provider, method,
                                                  address(request), token), 201)


async def charge(request: Request) -> JSONResponse:
    """The billing page's poll while a PromptPay QR (or a card's 3-D Secure) is pending."""
    principal = await authenticate(request, MANAGERS)
    charges = request.app.state.services.billing.charges
    charge_id = request.path_params["charge_id"]
    if charges is None or len(charge_id) > 100:
        raise ApiError(404, "not_found", "no such charge")
    return await _answer(lambda: charges.charge_status(principal.org_id, charge_id))


async def portal(request: Request) -> JSONResponse:
    principal = await authenticate(request, OWNERS)
    return await _answer(lambda: request.app.state.services.billing.portal(principal))


async def change_plan(request: Request) -> JSONResponse:
    principal = await authenticate(request, OWNERS)
    plan = require_str(await json_body(request), "plan", max_len=20)
    billing = request.app.state.services.billing
    return await _answer(lambda: billing.change_plan(principal, plan, address(request)))


async def cancel(request: Request) -> JSONResponse:
    principal = await authenticate(request, OWNERS)
    billing = request.app.state.services.billing
    return await _answer(lambda: billing.cancel(principal, address(request)))


def _webhook(provider: str) -> Callable[[Request], Awaitable[Response]]:
    async def receive(request: Request) -> Response:
        billing = request.app.state.services.billing
        if provider not in billing.payments.providers:
            raise ApiError(404, "not_found", f"{provider} is not configured on this server")
        body = await request.body()  # the exact bytes the signature covers
        try:
            applied = await billing.webhook(provider, body, request.headers)
        except BillingError as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        return JSONResponse({"received": True, "outcome": applied.outcome})

    return receive


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/billing", overview, methods=["GET"]),
        Route("/v1/billing/invoices", invoices, methods=["GET"]),
        Route("/v1/billing/checkout", checkout, methods=["POST"]),
        Route("/v1/billing/portal", portal, methods=["POST"]),
        Route("/v1/billing/plan", change_plan, methods=["POST"]),
        Route("/v1/billing/cancel", cancel, methods=["POST"]),
        Route("/v1/billing/charges/{charge_id}", charge, methods=["GET"]),
        Route("/v1/webhooks/stripe", _webhook("stripe"), methods=["POST"]),
        Route("/v1/webhooks/omise", _webhook("omise"), methods=["POST"]),
    ]
