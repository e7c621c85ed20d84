"""Stripe through the official SDK (StripeClient, async over httpx): Checkout sessions for
subscriptions, the Customer Portal, webhook verification (`construct_event` on the raw body,
default tolerance), and subscriptions and invoices re-read from the API."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import stripe

from server.billing.base import (
    BillingError,
    Card,
    Checkout,
    CheckoutRequest,
    EventKind,
    InvoiceRecord,
    Method,
    ProviderUnavailable,
    SubscriptionState,
    WebhookEvent,
    WebhookRejected,
)
from server.domain.plans import Plan, Status

log = logging.getLogger("clienta.billing")

_KINDS = {
    "checkout.session.completed": EventKind.CHECKOUT_COMPLETED,
    "customer.subscription.created": EventKind.SUBSCRIPTION,
    "customer.subscription.updated": EventKind.SUBSCRIPTION,
    "customer.subscription.deleted": EventKind.SUBSCRIPTION,
    "invoice.paid": EventKind.INVOICE_PAID,
    "invoice.payment_failed": EventKind.INVOICE_FAILED,
}


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _id(value: Any) -> str | None:
    """An id whether the field holds it or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    return value.get("id")


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None


def _status(value: str) -> Status:
    # incomplete_expired and paused hold no paid plan: as cancelled
    return Status(value) if value in tuple(Status) else Status.CANCELED


class StripePayments:
    name = "stripe"
    methods: tuple[Method, ...] = (Method.CARD,)

    def __init__(self, secret_key: str, webhook_secret: str, prices: Mapping[Plan, str], *,
                 api_base: str | None = None, timeout_s: float = 20.0,
                 max_retries: int = 2) -> None:
        self.webhook_secret = webhook_secret
        self.prices = dict(prices)
        self.plans = {price: plan for plan, price in prices.items()}
        addresses: dict[str, str] = {"api": api_base} if api_base else {}
        # the SDK retries network errors and 409/5xx, with an idempotency key on each POST
        self._http = stripe.HTTPXClient(timeout=timeout_s)
        self.client = stripe.StripeClient(
            secret_key, base_addresses=addresses,  # type: ignore[arg-type]  # its TypedDict, as a dict
            http_client=self._http, max_network_retries=max_retries)

    async def _call(self, what: str, call: Any) -> dict[str, Any]:
        """The API's answer as plain data (the SDK's StripeObject is not a dict)."""
        try:
            return (await call).to_dict()
        except stripe.InvalidRequestError as exc:
            # the provider's message may quote what was sent: only its code leaves here
            log.warning("stripe refused a request", extra={"call": what, "code": exc.code})
            raise BillingError(f"the payment provider refused the request ({exc.code})") \
                from None
        except stripe.StripeError as exc:
            log.warning("stripe failed", extra={"call": what, "error": type(exc).__name__})
            raise ProviderUnavailable("the payment provider is unavailable; try again") \
                from None

    async def checkout(self, request: CheckoutRequest) -> Checkout:
        if request.method is not Method.CARD:
            raise BillingError("Stripe takes cards: method must be card")
        org = str(request.org_id)
        customer = request.customer_id
        if customer is None:
            made = await self._call("customers.create", self.client.v1.customers.create_async(
                params={"name": request.org_name[:200], "metadata": {"org_id": org}},
                # a retried click makes one customer, not two
                options={"idempotency_key": f"clienta-customer-{org}"}))
            customer = made["id"]
        session = await self._call("checkout.sessions.create",
                                   self.client.v1.checkout.sessions.create_async(params={
                                       "mode": "subscription", "customer": customer,
                                       "client_reference_id": org,
                                       "line_items": [{"price": self.prices[request.plan],
                                                       "quantity": 1}],
                                       "success_url": request.success_url,
                                       "cancel_url": request.cancel_url,
                                       "metadata": {"org_id": org},
                                       "subscription_data": {"metadata": {"org_id": org}},
                                   }))
        return Checkout(customer_id=customer, url=session["url"])

    async def portal(self, customer_id: str, return_url: str) -> str:
        session = await self._call("billing_portal.sessions.create",
                                   self.client.v1.billing_portal.sessions.create_async(
                                       params={"customer": customer_id,
                                               "return_url": return_url}))
        return str(session["url"])

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        try:
            event = self.client.construct_event(body, headers.get("stripe-signature"),
                                                self.webhook_secret)
        except (stripe.SignatureVerificationError, ValueError, TypeError, AttributeError) as exc:
            raise WebhookRejected("the Stripe signature does not match this body") from exc
        data = event.to_dict()
        kind = _KINDS.get(str(data.get("type")), EventKind.IGNORED)
        obj = (data.get("data") or {}).get("object") or {}
        if not isinstance(obj, dict) or not data.get("id"):
            raise WebhookRejected("not a Stripe event")
        metadata = obj.get("metadata") or {}
        if kind is EventKind.CHECKOUT_COMPLETED:
            return WebhookEvent(self.name, data["id"], data["type"], kind,
                                customer_id=_id(obj.get("customer")),
                                subscription_id=_id(obj.get("subscription")),
                                org_hint=_uuid(obj.get("client_reference_id")
                                               or metadata.get("org_id")))
        if kind is EventKind.SUBSCRIPTION:
            return WebhookEvent(self.name, data["id"], data["type"], kind,
                                customer_id=_id(obj.get("customer")),
                                subscription_id=obj.get("id"),
                                org_hint=_uuid(metadata.get("org_id")))
        if kind in (EventKind.INVOICE_PAID, EventKind.INVOICE_FAILED):
            return WebhookEvent(self.name, data["id"], data["type"], kind,
                                customer_id=_id(obj.get("customer")), object_id=obj.get("id"))
        return WebhookEvent(self.name, data["id"], str(data.get("type")), EventKind.IGNORED)

    async def subscription(self, subscription_id: str) -> SubscriptionState:
        sub = await self._call("subscriptions.retrieve",
                               self.client.v1.subscriptions.retrieve_async(
                                   subscription_id,
                                   params={"expand": ["default_payment_method"]}))
        return self._state(sub)

    def _state(self, sub: Any) -> SubscriptionState:
        items = (sub.get("items") or {}).get("data") or []
        item = items[0] if items else {}
        price = _id((item or {}).get("price"))
        # since API version 2025-03-31 the period is on each item, no longer on the
        # subscription; older versions have it on both
        start = item.get("current_period_start") or sub.get("current_period_start")
        end = item.get("current_period_end") or sub.get("current_period_end")
        card = None
        method = sub.get("default_payment_method")
        if isinstance(method, Mapping) and method.get("card"):
            c = method["card"]
            card = Card(str(c.get("brand") or "")[:20], str(c.get("last4") or ""),
                        int(c.get("exp_month") or 0), int(c.get("exp_year") or 0))
        return SubscriptionState(
            provider=self.name, customer_id=_id(sub.get("customer")) or "",
            subscription_id=sub["id"], plan=self.plans.get(price or ""),
            status=_status(sub.get("status") or "canceled"), period_start=_time(start),
            period_end=_time(end), cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
            card=card, org_hint=_uuid((sub.get("metadata") or {}).get("org_id")))

    async def invoice(self, invoice_id: str) -> InvoiceRecord:
        inv = await self._call("invoices.retrieve",
                               self.client.v1.invoices.retrieve_async(invoice_id))
        subscription = _id(inv.get("subscription"))
        if subscription is None:  # API 2025-03-31 moved it under parent
            details = (inv.get("parent") or {}).get("subscription_details") or {}
            subscription = _id(details.get("subscription"))
        paid = inv.get("status") == "paid"
        return InvoiceRecord(
            provider=self.name, invoice_id=inv["id"], customer_id=_id(inv.get("customer")),
            subscription_id=subscription,
            amount=int((inv.get("amount_paid") if paid else inv.get("amount_due")) or 0),
            currency=str(inv.get("currency") or "usd"), status=str(inv.get("status") or ""),
            issued_at=_time(inv.get("created")) or datetime.now(UTC),
            url=inv.get("hosted_invoice_url"))

    async def change_plan(self, subscription_id: str, plan: Plan) -> SubscriptionState:
        current = await self._call("subscriptions.retrieve",
                                   self.client.v1.subscriptions.retrieve_async(subscription_id))
        item = current["items"]["data"][0]["id"]
        sub = await self._call("subscriptions.update",
                               self.client.v1.subscriptions.update_async(subscription_id, params={
                                   "items": [{"id": item, "price": self.prices[plan]}],
                                   "proration_behavior": "create_prorations",
                                   "cancel_at_period_end": False,
                                   "expand": ["default_payment_method"]}))
        return self._state(sub)

    async def cancel_at_period_end(self, subscription_id: str) -> SubscriptionState:
        sub = await self._call("subscriptions.update",
                               self.client.v1.subscriptions.update_async(subscription_id, params={
                                   "cancel_at_period_end": True,
                                   "expand": ["default_payment_method"]}))
        return self._state(sub)

    async def close(self) -> None:
        await self._http.close_async()
