"""What a charge-based provider (Omise: no subscriptions of its own, we renew) does beyond
`PaymentProvider`: one-off charges for a plan's price (a PromptPay QR or a card token), a
saved customer's card charged again, and the truth about a charge re-read from its API."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from server.billing.base import Card, Method, PaymentProvider


class ChargeStatus(StrEnum):
    """A charge's state as Omise names it; all but pending are final."""

    PENDING = "pending"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    EXPIRED = "expired"
    REVERSED = "reversed"

    @property
    def final(self) -> bool:
        return self is not ChargeStatus.PENDING


@dataclass(frozen=True, slots=True)
class ChargeRecord:
    """A charge as the provider's API says it is (never as a webhook body says)."""

    charge_id: str
    status: ChargeStatus
    amount: int  # minor units (satang)
    currency: str
    customer_id: str | None
    card: Card | None
    org_hint: UUID | None  # the org id we put in its metadata
    authorize_uri: str | None = None  # a card needing 3-D Secure: send the owner there
    qr_uri: str | None = None  # PromptPay: where the QR image is


@dataclass(frozen=True, slots=True)
class ChargeOrder:
    """What to charge: the amount always comes from the plan, never from a client."""

    org_id: UUID
    org_name: str
    plan: str
    amount: int
    currency: str
    method: Method
    purpose: str  # "subscribe" or "renewal" (stored in the charge's metadata)
    customer_id: str | None = None  # ours, if any
    card_token: str | None = None  # Omise.js token (method card at checkout)
    return_uri: str | None = None  # where 3-D Secure sends the owner back


@dataclass(frozen=True, slots=True)
class Placed:
    customer_id: str | None
    charge: ChargeRecord


class ChargeProvider(PaymentProvider, Protocol):
    async def place(self, order: ChargeOrder) -> Placed:
        """A new charge (a PromptPay source, a token saved on the customer first, or the
        customer's saved card when neither is given)."""
        ...

    async def charge(self, charge_id: str) -> ChargeRecord: ...

    async def qr_svg(self, charge: ChargeRecord) -> str:
        """The PromptPay QR image of a pending charge, as SVG text."""
        ...
