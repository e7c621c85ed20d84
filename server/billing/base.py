"""What a payment provider does for us (checkout, customer portal, webhook verification, the
truth about a subscription or invoice re-read from its API) and the records it answers
with. Stripe, Omise and the offline "not configured" provider implement `PaymentProvider`;
app.py chooses them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from server.domain.plans import Plan, Status


class BillingError(Exception):
    """A refusal with an HTTP status and a code for the contract's error shape. Messages
    never carry a provider's text (it may quote what a customer typed)."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotConfigured(BillingError):
    status = 409
    code = "billing_not_configured"


class WebhookRejected(BillingError):
    """A forged, stale or malformed webhook: 400, nothing applied."""

    code = "bad_signature"


class ProviderUnavailable(BillingError):
    """The provider's API failed or timed out: try again later (a webhook is retried)."""

    status = 503
    code = "provider_unavailable"


class Method(StrEnum):
    CARD = "card"
    PROMPTPAY = "promptpay"


class EventKind(StrEnum):
    """What a verified webhook asks us to re-read and apply."""

    CHECKOUT_COMPLETED = "checkout_completed"  # a subscription may now exist
    SUBSCRIPTION = "subscription"  # created, updated or deleted: re-read it
    INVOICE_PAID = "invoice_paid"
    INVOICE_FAILED = "invoice_failed"
    CHARGE = "charge"  # Omise: a charge completed or failed (re-read it)
    IGNORED = "ignored"  # verified, but nothing we act on: acknowledged


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified event: only ids, never the body's claims about state (re-read those)."""

    provider: str
    id: str  # unique per provider: recorded once
    type: str  # the provider's name for it (e.g. invoice.paid)
    kind: EventKind
    customer_id: str | None = None
    subscription_id: str | None = None
    object_id: str | None = None  # the invoice or charge to re-read
    org_hint: UUID | None = None  # an org id we put in the object's metadata


@dataclass(frozen=True, slots=True)
class Card:
    """All we ever keep of a card: enough to show which one it is."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    provider: str
    customer_id: str
    subscription_id: str
    plan: Plan | None  # None: a price we do not sell (left as is)
    status: Status
    period_start: datetime | None
    period_end: datetime | None
    cancel_at_period_end: bool
    card: Card | None
    org_hint: UUID | None = None


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    provider: str
    invoice_id: str
    customer_id: str | None
    subscription_id: str | None
    amount: int  # minor units
    currency: str
    status: str  # paid, open, void, uncollectible
    issued_at: datetime
    url: str | None


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    org_id: UUID
    org_name: str
    customer_id: str | None  # ours from an earlier checkout, if any
    plan: Plan
    method: Method
    success_url: str
    cancel_url: str


@dataclass(frozen=True, slots=True)
class Checkout:
    """Where to send the owner (Stripe's hosted page), or a QR code to scan (PromptPay)."""

    customer_id: str
    url: str | None = None
    charge_id: str | None = None
    qr_svg: str | None = None

    def as_json(self) -> dict[str, str]:
        if self.url is not None:
            return {"url": self.url}
        return {"charge_id": self.charge_id or "", "qr_svg": self.qr_svg or ""}


class PaymentProvider(Protocol):
    name: str  # "stripe", "omise"; stored in billing_accounts.provider
    methods: tuple[Method, ...]

    async def checkout(self, request: CheckoutRequest) -> Checkout: ...

    async def portal(self, customer_id: str, return_url: str) -> str:
        """A page where the customer changes card or cancels (NotConfigured if none)."""
        ...

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """The event if the body is authentic (else WebhookRejected); the raw body, as
        received, is what the signature covers."""
        ...

    async def subscription(self, subscription_id: str) -> SubscriptionState: ...

    async def invoice(self, invoice_id: str) -> InvoiceRecord: ...

    async def change_plan(self, subscription_id: str, plan: Plan) -> SubscriptionState:
        """Switch plans (Stripe prorates; Omise from the next period)."""
        ...

    async def cancel_at_period_end(self, subscription_id: str) -> SubscriptionState: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Payments:
    """The providers this deployment has keys for, by name (none: billing is not
    configured, every org is on free)."""

    providers: Mapping[str, PaymentProvider]

    @property
    def configured(self) -> bool:
        return bool(self.providers)

    def get(self, name: str) -> PaymentProvider:
        provider = self.providers.get(name)
        if provider is None:
            raise NotConfigured(f"payments with {name} are not configured on this server")
        return provider

    def listing(self) -> list[dict[str, object]]:
        # a provider whose page tokenizes cards itself (Omise.js) publishes its public key
        # and the script's address
        return [{"name": p.name, "methods": [m.value for m in p.methods],
                 **({"public_key": key, "js_url": getattr(p, "js_url", None)}
                    if (key := getattr(p, "public_key", None)) else {})}
                for p in self.providers.values()]

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()
