"""A fake Stripe API on 127.0.0.1, as the official `stripe` SDK calls it: form-encoded
bodies with bracketed keys, `expand[]`, objects with their `object` field, Stripe's error
body (`{"error": {"type", "code", "message", "param"}}`), Bearer secret keys.

Customers, Checkout and portal sessions, subscriptions (retrieve, update) and invoices. The
test plays the customer: `pay_checkout` is what Stripe's hosted page does with a test card
(the card number reaches only this fake; our server sees brand, last four and expiry), and
each Stripe-side change returns the events Stripe would send, for `WebhookSender`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import httpx
from aiohttp import web

from tests.fakes.runner import FakeServer

API_KEY = "sk_test_fake_clienta"
WEBHOOK_SECRET = "whsec_fake_clienta"
PRICES = {"starter": "price_starter_fake", "pro": "price_pro_fake"}
AMOUNTS = {PRICES["starter"]: 2900, PRICES["pro"]: 9900}
MONTH_S = 30 * 24 * 3600
_KEY = re.compile(r"[^\[\]]+")
PARAMS = web.RequestKey("params", dict)


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's encoding: `a[b][0][c]=v` -> {"a": {"b": [{"c": "v"}]}}."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _KEY.findall(key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            child_default: Any = value if last else ([] if nxt.isdigit() else {})
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append([] if nxt is not None and nxt.isdigit() else {})
                if last:
                    node[index] = value
                node = node[index]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, child_default)
    return root


def error(status: int, type_: str, message: str, code: str | None = None,
          param: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": {"type": type_, "message": message}}
    if code:
        body["error"]["code"] = code
    if param:
        body["error"]["param"] = param
    return web.json_response(body, status=status)


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, t: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends: t=<unix>,v1=HMAC-SHA256("t.payload")."""
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class FakeStripe(FakeServer):
    """`async with FakeStripe() as fake:` then `STRIPE_API_BASE=fake.origin`."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self.fail_next = 0  # the next N API calls answer 500

    def _id(self, prefix: str) -> str:
        # unique across fakes too, as Stripe's are: tests share one database
        return f"{prefix}_{next(self._ids):04d}{uuid.uuid4().hex[:12]}"

    # ---- Stripe-side state the test drives -------------------------------------------

    def event(self, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {"id": self._id("evt"), "object": "event", "api_version": "2025-03-31.basil",
                "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None}, "type": type_,
                "data": {"object": json.loads(json.dumps(obj))}}

    def pay_checkout(self, session_id: str, card_number: str = "4242424242424242",
                     exp: tuple[int, int] = (12, 2034)) -> list[dict[str, Any]]:
        """The customer pays on the hosted page: a card payment method, an active
        subscription, a paid invoice; the events Stripe sends, in its usual order."""
        session = self.objects[session_id]
        price = session["_price"]
        now = int(time.time())
        pm = {"id": self._id("pm"), "object": "payment_method", "type": "card",
              "customer": session["customer"],
              "card": {"brand": "visa", "last4": card_number[-4:], "exp_month": exp[0],
                       "exp_year": exp[1], "funding": "credit", "country": "US"}}
        self.objects[pm["id"]] = pm
        sub_id = self._id("sub")
        sub = {"id": sub_id, "object": "subscription", "customer": session["customer"],
               "status": "active", "cancel_at_period_end": False, "created": now,
               "default_payment_method": pm["id"], "metadata": session["_sub_metadata"],
               "items": {"object": "list", "has_more": False, "url": "/v1/subscription_items",
                         "data": [self._item(sub_id, price, now)]}}
        self.objects[sub_id] = sub
        session.update(status="complete", payment_status="paid", subscription=sub_id)
        invoice = self._invoice(sub, "paid")
        return [self.event("checkout.session.completed", self._public(session)),
                self.event("customer.subscription.created", sub),
                self.event("invoice.paid", invoice)]

    def _item(self, sub_id: str, price: str, now: int) -> dict[str, Any]:
        return {"id": self._id("si"), "object": "subscription_item", "subscription": sub_id,
                "quantity": 1, "current_period_start": now,
                "current_period_end": now + MONTH_S,
                "price": {"id": price, "object": "price", "currency": "usd",
                          "unit_amount": AMOUNTS[price], "recurring": {"interval": "month"}}}

    def _invoice(self, sub: dict[str, Any], status: str) -> dict[str, Any]:
        price = sub["items"]["data"][0]["price"]
        inv_id = self._id("in")
        invoice = {"id": inv_id, "object": "invoice", "customer": sub["customer"],
                   "status": status, "currency": "usd", "created": int(time.time()),
                   "amount_due": price["unit_amount"],
                   "amount_paid": price["unit_amount"] if status == "paid" else 0,
                   "hosted_invoice_url": f"https://invoice.stripe.test/{inv_id}",
                   "parent": {"type": "subscription_details",
                              "subscription_details": {"subscription": sub["id"]}}}
        self.objects[inv_id] = invoice
        return invoice

    def fail_payment(self, sub_id: str) -> list[dict[str, Any]]:
        sub = self.objects[sub_id]
        sub["status"] = "past_due"
        invoice = self._invoice(sub, "open")
        return [self.event("invoice.payment_failed", invoice),
                self.event("customer.subscription.updated", sub)]

    def cancel_now(self, sub_id: str) -> list[dict[str, Any]]:
        sub = self.objects[sub_id]
        sub.update(status="canceled", ended_at=int(time.time()))
        return [self.event("customer.subscription.deleted", sub)]

    # ---- the API ----------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/v1/customers", self._create_customer)
        app.router.add_post("/v1/checkout/sessions", self._create_session)
        app.router.add_post("/v1/billing_portal/sessions", self._create_portal)
        app.router.add_get("/v1/subscriptions/{id}", self._get_subscription)
        app.router.add_post("/v1/subscriptions/{id}", self._update_subscription)
        app.router.add_get("/v1/invoices/{id}", self._get_invoice)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return error(401, "invalid_request_error", "Invalid API Key provided")
        if request.method == "POST":
            params = decode_form(parse_qsl(await request.text(), keep_blank_values=True))
        else:
            params = decode_form(list(request.query.items()))
        self.requests.append((request.method, request.path, params))
        if self.fail_next > 0:
            self.fail_next -= 1
            return error(500, "api_error", "Something went wrong on Stripe's end.")
        request[PARAMS] = params
        return await handler(request)

    def _missing(self, ident: str, kind: str) -> web.Response:
        return error(404, "invalid_request_error", f"No such {kind}: '{ident}'",
                     "resource_missing", "id")

    def _public(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    async def _create_customer(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        customer = {"id": self._id("cus"), "object": "customer", "name": p.get("name"),
                    "metadata": p.get("metadata") or {}, "created": int(time.time()),
                    "livemode": False}
        self.objects[customer["id"]] = customer
        return web.json_response(customer)

    async def _create_session(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        if p.get("customer") not in self.objects:
            return self._missing(str(p.get("customer")), "customer")
        items = p.get("line_items") or []
        price = items[0].get("price") if items else None
        if price not in AMOUNTS:
            return error(400, "invalid_request_error", f"No such price: '{price}'",
                         "resource_missing", "line_items[0][price]")
        sid = self._id("cs_test")
        session = {"id": sid, "object": "checkout.session", "mode": p.get("mode"),
                   "customer": p["customer"], "status": "open", "payment_status": "unpaid",
                   "client_reference_id": p.get("client_reference_id"),
                   "metadata": p.get("metadata") or {}, "subscription": None,
                   "success_url": p.get("success_url"), "cancel_url": p.get("cancel_url"),
                   "url": f"https://checkout.stripe.test/c/pay/{sid}",
                   "_price": price,
                   "_sub_metadata": (p.get("subscription_data") or {}).get("metadata") or {}}
        self.objects[sid] = session
        return web.json_response(self._public(session))

    async def _create_portal(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        if p.get("customer") not in self.objects:
            return self._missing(str(p.get("customer")), "customer")
        portal = {"id": self._id("bps"), "object": "billing_portal.session",
                  "customer": p["customer"], "return_url": p.get("return_url"),
                  "url": f"https://billing.stripe.test/p/session/{p['customer']}"}
        return web.json_response(portal)

    def _expanded(self, obj: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        out = dict(obj)
        for field in expand:
            ident = out.get(field)
            if isinstance(ident, str) and ident in self.objects:
                out[field] = self.objects[ident]
        return out

    async def _get_subscription(self, request: web.Request) -> web.Response:
        sub = self.objects.get(request.match_info["id"])
        if sub is None or sub.get("object") != "subscription":
            return self._missing(request.match_info["id"], "subscription")
        return web.json_response(self._expanded(sub, request[PARAMS].get("expand") or []))

    async def _update_subscription(self, request: web.Request) -> web.Response:
        sub = self.objects.get(request.match_info["id"])
        if sub is None or sub.get("object") != "subscription":
            return self._missing(request.match_info["id"], "subscription")
        p = request[PARAMS]
        if sub["status"] == "canceled":
            return error(400, "invalid_request_error",
                         "A canceled subscription can only update its metadata.")
        if "cancel_at_period_end" in p:
            sub["cancel_at_period_end"] = p["cancel_at_period_end"] == "true"
        for item in p.get("items") or []:
            current = sub["items"]["data"][0]
            if item.get("id") != current["id"] or item.get("price") not in AMOUNTS:
                return error(400, "invalid_request_error", "Invalid subscription item",
                             "resource_missing", "items")
            sub["items"]["data"][0] = dict(self._item(sub["id"], item["price"],
                                                      current["current_period_start"]),
                                           id=current["id"])
        return web.json_response(self._expanded(sub, p.get("expand") or []))

    async def _get_invoice(self, request: web.Request) -> web.Response:
        inv = self.objects.get(request.match_info["id"])
        if inv is None or inv.get("object") != "invoice":
            return self._missing(request.match_info["id"], "invoice")
        return web.json_response(inv)


class WebhookSender:
    """Delivers events to our webhook URL signed as Stripe signs them."""

    def __init__(self, url: str, secret: str = WEBHOOK_SECRET) -> None:
        self.url = url
        self.secret = secret

    async def send(self, event: dict[str, Any], *, secret: str | None = None,
                   t: int | None = None) -> httpx.Response:
        payload = json.dumps(event).encode()
        header = sign(payload, secret or self.secret, t)
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(self.url, content=payload, headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": header, "User-Agent": "Stripe/1.0"})
