"""Omise through the official `omise` SDK: PromptPay charges (a QR to scan) and card charges
from Omise.js tokens on an Omise customer, charges re-read from the API (a webhook body is
never believed), the saved card charged again at renewal. Omise has no subscriptions here:
services/billing_charges.py keeps the period and renews it."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

import omise  # ships no type hints: ignore_missing_imports in pyproject's [tool.mypy]
import requests

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
from server.billing.charges import ChargeOrder, ChargeRecord, ChargeStatus, Placed
from server.domain.plans import Plan

log = logging.getLogger("clienta.billing")
T = TypeVar("T")

# the webhook keys that mean "a charge changed: re-read it"; anything else is acknowledged
CHARGE_EVENTS = frozenset({"charge.create", "charge.complete", "charge.update",
                           "charge.expire", "charge.reverse"})
# the SDK is synchronous and sets no timeout: its calls run on these threads, bounded by
# `timeout_s` each; a call that hangs holds one thread, never the event loop
API_THREADS = 4


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None


def _status(value: Any) -> ChargeStatus:
    try:
        return ChargeStatus(str(value))
    except ValueError:
        return ChargeStatus.PENDING  # a state we do not know grants nothing


def _card(data: Any) -> Card | None:
    if not isinstance(data, Mapping) or not data.get("last_digits"):
        return None
    return Card(str(data.get("brand") or "")[:20].lower(), str(data["last_digits"])[-4:],
                int(data.get("expiration_month") or 0), int(data.get("expiration_year") or 0))


def _record(data: Mapping[str, Any]) -> ChargeRecord:
    if data.get("object") != "charge" or not data.get("id"):
        raise ProviderUnavailable("the payment provider answered something else")
    source = data.get("source") or {}
    image = ((source.get("scannable_code") or {}).get("image") or {}) \
        if isinstance(source, Mapping) else {}
    customer = data.get("customer")
    return ChargeRecord(
        charge_id=str(data["id"]), status=_status(data.get("status")),
        amount=int(data.get("amount") or 0), currency=str(data.get("currency") or "").lower(),
        customer_id=customer if isinstance(customer, str) else None,
        card=_card(data.get("card")),
        org_hint=_uuid((data.get("metadata") or {}).get("org_id")),
        authorize_uri=data.get("authorize_uri") or None,
        qr_uri=image.get("download_uri") or None)


class OmisePayments:
    name = "omise"
    methods: tuple[Method, ...] = (Method.CARD, Method.PROMPTPAY)

    def __init__(self, secret_key: str, public_key: str | None, *,
                 api_base: str | None = None, vault_base: str | None = None,
                 timeout_s: float = 20.0, qr_max_bytes: int = 256 * 1024,
                 js_url: str = "https://cdn.omise.co/omise.js") -> None:
        # the SDK reads its keys and addresses from module attributes at each call; this
        # provider is their only writer (one Omise account per deployment)
        omise.api_secret = secret_key
        omise.api_public = public_key
        omise.api_main = api_base or "https://api.omise.co"
        omise.api_vault = vault_base or "https://vault.omise.co"
        # it logs every response body at INFO (customers' emails, cards): never ours
        logging.getLogger("omise").setLevel(logging.WARNING)
        self.secret_key = secret_key
        self.public_key = public_key
        self.js_url = js_url  # Omise.js, which the billing page loads to tokenize cards
        self.api_base = omise.api_main
        self.timeout_s = timeout_s
        self.qr_max_bytes = qr_max_bytes
        self._threads = ThreadPoolExecutor(API_THREADS, thread_name_prefix="omise")

    async def _call(self, what: str, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._threads, call),
                                          self.timeout_s)
        except (omise.errors.InvalidCardError, omise.errors.InvalidCardTokenError,
                omise.errors.UsedTokenError, omise.errors.MissingCardError,
                omise.errors.InvalidChargeError, omise.errors.FailedFraudCheckError) as exc:
            # Omise's message may quote what was sent: only the error's kind leaves here
            log.warning("omise refused a request", extra={"call": what,
                                                          "error": type(exc).__name__})
            raise BillingError("the payment provider refused the card or the charge") \
                from None
        except (omise.errors.BaseError, requests.RequestException, ValueError,
                KeyError, TimeoutError) as exc:
            log.warning("omise failed", extra={"call": what, "error": type(exc).__name__})
            raise ProviderUnavailable("the payment provider is unavailable; try again") \
                from None

    @staticmethod
    def _data(obj: Any) -> dict[str, Any]:
        return dict(obj._attributes)  # the SDK keeps the API's JSON object here

    # ---- charges ------------------------------------------------------------------------

    async def place(self, order: ChargeOrder) -> Placed:
        metadata = {"org_id": str(order.org_id), "plan": order.plan, "purpose": order.purpose}
        base: dict[str, Any] = {"amount": order.amount, "currency": order.currency,
                                "description": f"Clienta {order.plan}", "metadata": metadata}
        if order.method is Method.PROMPTPAY:
            def promptpay() -> Any:
                source = omise.Source.create(type="promptpay", amount=order.amount,
                                             currency=order.currency)
                return omise.Charge.create(source=source.id, **base)

            charge = _record(self._data(await self._call("charges.create", promptpay)))
            return Placed(order.customer_id, charge)
        customer = order.customer_id
        if order.card_token:
            customer = await self._save_card(order, customer)
        if customer is None:
            raise BillingError("a card payment needs a card: token is required")
        if order.return_uri:
            base["return_uri"] = order.return_uri
        data = await self._call("charges.create",
                                lambda: omise.Charge.create(customer=customer, **base))
        return Placed(customer, _record(self._data(data)))

    async def _save_card(self, order: ChargeOrder, customer: str | None) -> str:
        """The token's card becomes the customer's default (a new customer the first time):
        renewals charge it; we keep only its brand, last four digits and expiry."""
        token = order.card_token

        def save() -> Any:
            if customer is None:
                return omise.Customer.create(description=order.org_name[:200], card=token,
                                             metadata={"org_id": str(order.org_id)})
            found = omise.Customer.retrieve(customer)
            return found.update(card=token)

        return str(self._data(await self._call("customers.save", save))["id"])

    async def charge(self, charge_id: str) -> ChargeRecord:
        data = await self._call("charges.retrieve", lambda: omise.Charge.retrieve(charge_id))
        return _record(self._data(data))

    async def qr_svg(self, charge: ChargeRecord) -> str:
        """The QR image Omise made for the charge. Our secret key goes only to Omise's own
        API host; the image is size-limited and a PNG is wrapped as an SVG <image>."""
        uri = charge.qr_uri
        if not uri or urlsplit(uri).scheme not in ("https", "http"):
            raise ProviderUnavailable("the payment provider gave no QR code")
        ours = urlsplit(uri).netloc == urlsplit(self.api_base).netloc
        limit = self.qr_max_bytes

        def download() -> tuple[str, bytes]:
            with requests.get(uri, auth=(self.secret_key, "") if ours else None,
                              timeout=self.timeout_s, stream=True) as r:
                r.raise_for_status()
                body = r.raw.read(limit + 1, decode_content=True)
                return r.headers.get("Content-Type", ""), body

        kind, body = await self._call("qr.download", download)
        if len(body) > limit:
            raise ProviderUnavailable("the payment provider's QR code is too large")
        if kind.startswith("image/png"):
            data = base64.b64encode(body).decode()
            return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 256 256">'
                    f'<image width="256" height="256" href="data:image/png;base64,{data}"/>'
                    "</svg>")
        text = body.decode("utf-8", "replace")
        if "<svg" not in text[:1000]:
            raise ProviderUnavailable("the payment provider's QR code is not an image")
        return text

    # ---- PaymentProvider ------------------------------------------------------------

    async def checkout(self, request: CheckoutRequest) -> Checkout:
        raise BillingError("Omise checkout goes through charges (services/billing_charges)")

    async def portal(self, customer_id: str, return_url: str) -> str:
        raise BillingError("Omise has no customer portal: pay with a new card or a PromptPay "
                           "QR on the billing page")

    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Only the charge's id is taken from the body; what happened to it is re-read
        from the API (a forged body can only make us ask Omise about a charge of ours)."""
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRejected("not an Omise event") from None
        if not isinstance(event, dict) or event.get("object") != "event":
            raise WebhookRejected("not an Omise event")
        key = str(event.get("key") or "")[:100]
        data = event.get("data")
        charge_id = data.get("id") if isinstance(data, dict) else None
        if key not in CHARGE_EVENTS or not isinstance(charge_id, str) \
                or not charge_id.startswith("chrg_") or len(charge_id) > 100:
            return WebhookEvent(self.name, str(event.get("id") or "")[:100], key,
                                EventKind.IGNORED)
        # a charge is applied once, whatever events announce it: the charge id is the key
        return WebhookEvent(self.name, charge_id, key, EventKind.CHARGE, object_id=charge_id)

    async def subscription(self, subscription_id: str) -> SubscriptionState:
        raise BillingError("Omise subscriptions are kept by Clienta, not by Omise")

    async def invoice(self, invoice_id: str) -> InvoiceRecord:
        raise BillingError("Omise charges are re-read with charge()")

    async def change_plan(self, subscription_id: str, plan: Plan) -> SubscriptionState:
        raise BillingError("Omise plan changes take effect at the next period")

    async def cancel_at_period_end(self, subscription_id: str) -> SubscriptionState:
        raise BillingError("Omise subscriptions are kept by Clienta, not by Omise")

    async def close(self) -> None:
        # a thread stuck on a silent connection is left to finish on its own
        self._threads.shutdown(wait=False, cancel_futures=True)
