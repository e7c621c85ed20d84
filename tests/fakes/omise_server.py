"""A fake Omise on 127.0.0.1, as the official `omise` SDK and Omise.js call it: JSON bodies,
HTTP Basic auth with the secret key (API) or the public key (vault), objects with their
`object` field ("charge", "source", "token", "customer", "card", "list", "event"), and
Omise's error body (`{"object": "error", "location", "code", "message"}`).

Tokens (the vault: the card number reaches only this fake), sources, charges (PromptPay with
a QR document to download, card charges on a customer or a token), customers with cards.
The test plays the payer and Omise: `pay`, `fail` and `expire` settle a charge and return
the `charge.complete` event Omise would POST to the webhook. `/omise.js` is a stand-in for
Omise.js with its interface (`Omise.setPublicKey`, `Omise.createToken(type, data, handler)`
calling `handler(status, token or error)`): it posts the card from the browser to this
vault's `/tokens` (CORS allowed, as the vault is another origin than the page's)."""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from aiohttp import web

from tests.fakes.runner import FakeServer

SECRET_KEY = "skey_test_fake_clienta"
PUBLIC_KEY = "pkey_test_fake_clienta"
# Omise's test cards: this one is declined (insufficient funds)
DECLINED_CARD = "4111111111140011"
QR_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 29 29" id="fake-promptpay-qr">'
          '<rect width="29" height="29" fill="#fff"/><path d="M1 1h7v7H1z"/></svg>')
MIN_THB_SATANG = 2000  # Omise's minimum THB charge
BODY = web.RequestKey("body", dict)


# Omise.js's interface over this fake's vault (the real one talks to its vault through a
# frame of the vault's; this one calls it directly: the page's CSP allows both)
OMISE_JS = """(function () {
  var vault = new URL(document.currentScript.src).origin;
  window.Omise = {
    publicKey: null,
    setPublicKey: function (key) { this.publicKey = key; return key; },
    createToken: function (type, attributes, handler) {
      var body = {}; body[type] = attributes;
      fetch(vault + '/tokens', {method: 'POST', body: JSON.stringify(body), headers: {
        'Authorization': 'Basic ' + btoa(this.publicKey + ':'),
        'Content-Type': 'application/json'}})
        .then(function (r) { return r.json().then(function (d) { handler(r.status, d); }); })
        .catch(function (e) {
          handler(0, {object: 'error', code: 'rpc_error', message: String(e)}); });
    }
  };
})();
"""
CORS = {"Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Headers": "Authorization, Content-Type",
        "Access-Control-Allow-Methods": "POST"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"object": "error", "location": f"https://www.omise.co/api-errors#{code}",
                              "code": code, "message": message}, status=status)


class FakeOmise(FakeServer):
    """`async with FakeOmise() as fake:` then OMISE_API_BASE=OMISE_VAULT_BASE=fake.origin."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._numbers: dict[str, str] = {}  # card id -> number (only here, as at Omise)
        self.fail_next = 0  # the next N API calls answer 500
        self.scripts_served = 0  # /omise.js fetched by a page

    def _id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids):04d}{uuid.uuid4().hex[:12]}"

    # ---- Omise-side changes the test drives ------------------------------------------

    def event(self, charge_id: str, key: str = "charge.complete") -> dict[str, Any]:
        ident = self._id("evnt")
        return {"object": "event", "id": ident, "livemode": False,
                "location": f"/events/{ident}", "key": key, "created_at": _now(),
                "data": json.loads(json.dumps(self.objects[charge_id]))}

    def pay(self, charge_id: str) -> dict[str, Any]:
        """The payer scanned the QR and paid in their bank's app."""
        charge = self.objects[charge_id]
        charge.update(status="successful", paid=True, authorized=True, captured=True,
                      paid_at=_now(), transaction=self._id("trxn"))
        return self.event(charge_id)

    def fail(self, charge_id: str, code: str = "payment_rejected") -> dict[str, Any]:
        self.objects[charge_id].update(status="failed", failure_code=code,
                                       failure_message="The payment was rejected")
        return self.event(charge_id)

    def expire(self, charge_id: str) -> dict[str, Any]:
        self.objects[charge_id].update(status="expired", expired=True)
        return self.event(charge_id, "charge.expire")

    def charges(self) -> list[dict[str, Any]]:
        return [o for o in self.objects.values() if o.get("object") == "charge"]

    # ---- the API ----------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/omise.js", self._omise_js)
        app.router.add_route("OPTIONS", "/tokens", self._preflight)
        app.router.add_post("/tokens", self._create_token)
        app.router.add_post("/sources", self._create_source)
        app.router.add_post("/charges", self._create_charge)
        app.router.add_get("/charges/{id}", self._get_charge)
        app.router.add_get("/charges/{id}/documents/{doc}/downloads/{key}", self._download)
        app.router.add_post("/customers", self._create_customer)
        app.router.add_get("/customers/{id}", self._get_customer)
        app.router.add_patch("/customers/{id}", self._update_customer)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/omise.js" or request.method == "OPTIONS":
            return await handler(request)
        response = await self._authorized(request, handler)
        if request.path == "/tokens":  # Omise.js calls it from the page's origin
            response.headers.update(CORS)
        return response

    async def _omise_js(self, request: web.Request) -> web.Response:
        self.scripts_served += 1
        return web.Response(text=OMISE_JS, content_type="text/javascript")

    async def _preflight(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers=CORS)

    async def _authorized(self, request: web.Request, handler: Any) -> web.StreamResponse:
        key = SECRET_KEY if request.path != "/tokens" else PUBLIC_KEY
        expected = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return error(401, "authentication_failure", "authentication failed")
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = json.loads(await request.text() or "{}")
            except ValueError:
                return error(400, "bad_request", "malformed JSON")
        self.requests.append((request.method, request.path, body))
        if self.fail_next > 0:
            self.fail_next -= 1
            return error(500, "internal_error", "something went wrong")
        request[BODY] = body
        return await handler(request)

    def _missing(self, kind: str, ident: str) -> web.Response:
        return error(404, "not_found", f"{kind} {ident} was not found")

    def _card(self, data: dict[str, Any]) -> dict[str, Any]:
        number = str(data.get("number") or "")
        ident = self._id("card")
        self._numbers[ident] = number
        return {"object": "card", "id": ident, "livemode": False, "country": "th",
                "brand": "Visa" if number.startswith("4") else "MasterCard",
                "last_digits": number[-4:], "financing": "credit",
                "expiration_month": int(data.get("expiration_month") or 0),
                "expiration_year": int(data.get("expiration_year") or 0),
                "fingerprint": uuid.uuid5(uuid.NAMESPACE_OID, number).hex,
                "name": data.get("name"), "security_code_check": True, "created_at": _now()}

    async def _create_token(self, request: web.Request) -> web.Response:
        card = request[BODY].get("card") or {}
        number = str(card.get("number") or "")
        if len(number) < 12 or not number.isdigit():
            return error(400, "invalid_card", "number is invalid")
        ident = self._id("tokn")
        token = {"object": "token", "id": ident, "livemode": False,
                 "location": f"https://vault.omise.co/tokens/{ident}", "used": False,
                 "card": self._card(card), "created_at": _now()}
        self.objects[ident] = token
        return web.json_response(token)

    async def _create_source(self, request: web.Request) -> web.Response:
        b = request[BODY]
        if b.get("type") != "promptpay":
            return error(400, "invalid_source", "type is not supported")
        ident = self._id("src")
        source = {"object": "source", "id": ident, "livemode": False,
                  "location": f"/sources/{ident}", "type": "promptpay", "flow": "offline",
                  "amount": int(b.get("amount") or 0), "currency": b.get("currency"),
                  "scannable_code": None, "created_at": _now()}
        self.objects[ident] = source
        return web.json_response(source)

    def _use_token(self, token_id: Any) -> dict[str, Any] | web.Response:
        token = self.objects.get(str(token_id))
        if token is None or token.get("object") != "token":
            return error(404, "invalid_card_token", "token was not found")
        if token["used"]:
            return error(400, "used_token", "token was already used")
        token["used"] = True
        return token["card"]

    async def _create_charge(self, request: web.Request) -> web.Response:
        b = request[BODY]
        amount, currency = int(b.get("amount") or 0), str(b.get("currency") or "")
        if currency != "thb" or amount < MIN_THB_SATANG:
            return error(400, "invalid_charge", "amount must be at least 2000")
        ident = self._id("chrg")
        charge: dict[str, Any] = {
            "object": "charge", "id": ident, "livemode": False, "location": f"/charges/{ident}",
            "amount": amount, "currency": currency, "description": b.get("description"),
            "metadata": b.get("metadata") or {}, "status": "pending", "paid": False,
            "authorized": False, "captured": False, "expired": False, "capture": True,
            "failure_code": None, "failure_message": None, "card": None, "customer": None,
            "source": None, "return_uri": b.get("return_uri"), "authorize_uri": None,
            "refunds": {"object": "list", "data": [], "total": 0},
            "created_at": _now(), "expires_at": None}
        if b.get("source"):
            source = self.objects.get(str(b["source"]))
            if source is None or source["amount"] != amount:
                return error(400, "invalid_charge", "source does not match the charge")
            doc = self._id("docu")
            source = dict(source, charge_status="pending", scannable_code={
                "object": "barcode", "type": "qr", "image": {
                    "object": "document", "livemode": False, "id": doc, "filename": "qrcode.svg",
                    "location": f"/charges/{ident}/documents/{doc}", "kind": "qr",
                    "download_uri": f"{self.origin}/charges/{ident}/documents/{doc}/downloads/"
                                    f"{uuid.uuid4().hex[:16].upper()}",
                    "created_at": _now()}})
            charge.update(source=source, expires_at=datetime.fromtimestamp(
                time.time() + 86400, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        else:
            card: dict[str, Any] | web.Response | None = None
            customer_id = b.get("customer")
            if customer_id:
                customer = self.objects.get(str(customer_id))
                if customer is None:
                    return self._missing("customer", str(customer_id))
                wanted = b.get("card") or customer["default_card"]
                card = next((c for c in customer["cards"]["data"] if c["id"] == wanted), None)
                if card is None:
                    return error(400, "missing_card", "customer has no card")
                charge["customer"] = customer_id
            elif b.get("card"):
                card = self._use_token(b["card"])
            if not isinstance(card, dict):
                return card or error(400, "missing_card", "card or source is required")
            charge["card"] = card
            if self._numbers.get(card["id"]) == DECLINED_CARD:
                charge.update(status="failed", failure_code="insufficient_fund",
                              failure_message="insufficient funds in the account")
            else:
                charge.update(status="successful", paid=True, authorized=True, captured=True,
                              paid_at=_now(), transaction=self._id("trxn"))
        self.objects[ident] = charge
        return web.json_response(charge)

    async def _get_charge(self, request: web.Request) -> web.Response:
        charge = self.objects.get(request.match_info["id"])
        if charge is None or charge.get("object") != "charge":
            return self._missing("charge", request.match_info["id"])
        return web.json_response(charge)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        charge = self.objects.get(request.match_info["id"])
        if charge is None or not charge.get("source"):
            return self._missing("document", request.match_info["doc"])
        return web.Response(text=QR_SVG, content_type="image/svg+xml")

    def _customer_view(self, customer: dict[str, Any]) -> dict[str, Any]:
        return json.loads(json.dumps(customer))

    async def _create_customer(self, request: web.Request) -> web.Response:
        b = request[BODY]
        ident = self._id("cust")
        customer: dict[str, Any] = {
            "object": "customer", "id": ident, "livemode": False,
            "location": f"/customers/{ident}", "description": b.get("description"),
            "email": b.get("email"), "metadata": b.get("metadata") or {},
            "default_card": None, "created_at": _now(),
            "cards": {"object": "list", "from": "1970-01-01T00:00:00Z", "to": _now(),
                      "offset": 0, "limit": 20, "total": 0, "order": "chronological",
                      "location": f"/customers/{ident}/cards", "data": []}}
        if b.get("card"):
            card = self._use_token(b["card"])
            if not isinstance(card, dict):
                return card
            customer["cards"]["data"].append(card)
            customer["cards"]["total"] = 1
            customer["default_card"] = card["id"]
        self.objects[ident] = customer
        return web.json_response(self._customer_view(customer))

    async def _get_customer(self, request: web.Request) -> web.Response:
        customer = self.objects.get(request.match_info["id"])
        if customer is None or customer.get("object") != "customer":
            return self._missing("customer", request.match_info["id"])
        return web.json_response(self._customer_view(customer))

    async def _update_customer(self, request: web.Request) -> web.Response:
        customer = self.objects.get(request.match_info["id"])
        if customer is None or customer.get("object") != "customer":
            return self._missing("customer", request.match_info["id"])
        b = request[BODY]
        if b.get("card"):
            card = self._use_token(b["card"])
            if not isinstance(card, dict):
                return card
            customer["cards"]["data"].append(card)
            customer["cards"]["total"] += 1
            customer["default_card"] = card["id"]
        for field in ("description", "email", "metadata"):
            if field in b:
                customer[field] = b[field]
        return web.json_response(self._customer_view(customer))


async def create_token(fake: FakeOmise, number: str, exp: tuple[int, int] = (12, 2034),
                       name: str = "Somchai Prasert") -> str:
    """What Omise.js does in the owner's browser: the card goes to the vault, never to us."""
    auth = (PUBLIC_KEY, "")
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(f"{fake.origin}/tokens", auth=auth, json={"card": {
            "name": name, "number": number, "expiration_month": exp[0],
            "expiration_year": exp[1], "security_code": "123"}})
    r.raise_for_status()
    return str(r.json()["id"])


async def deliver(url: str, event: dict[str, Any]) -> httpx.Response:
    """Omise POSTs the event JSON to the webhook URL."""
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, content=json.dumps(event).encode(), headers={
            "Content-Type": "application/json", "User-Agent": "Omise/2019-05-29"})
