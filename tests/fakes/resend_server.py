"""A fake Resend API on 127.0.0.1: `POST /emails` as the official `resend` SDK calls it.

Bearer auth, Resend's error JSON (`{"statusCode", "name", "message"}`), the
`Idempotency-Key` semantics (same key and body: the first answer again, nothing sent;
same key, other body: 409; key in flight: 409), and failures on demand: the next N calls
answer 429 (with `retry-after`) or 5xx, addresses that are refused with 422.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.runner import FakeServer

API_KEY = "re_test_fake_key"


@dataclass(slots=True)
class Received:
    """One request as received (every call, refused ones included)."""

    body: dict[str, Any]
    headers: dict[str, str]
    status: int
    t: float


@dataclass(slots=True)
class Delivery:
    """One message Resend would have sent: at most one per idempotency key."""

    id: str
    key: str | None
    body: dict[str, Any]


@dataclass(slots=True)
class _Failures:
    status: int = 0
    left: int = 0
    retry_after_s: float = 1.0


@dataclass(slots=True)
class _Keyed:
    fingerprint: str
    answer: tuple[int, dict[str, Any]] | None = None  # None while the first is in flight


def error(status: int, name: str, message: str,
          headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"statusCode": status, "name": name, "message": message},
                             status=status, headers=headers)


class FakeResend(FakeServer):
    """`async with FakeResend() as fake:` then `RESEND_BASE_URL=fake.base_url`,
    `RESEND_API_KEY=fake.api_key`; `fake.deliveries` are the messages sent."""

    def __init__(self, port: int = 0, *, api_key: str = API_KEY,
                 latency_s: float = 0.0) -> None:
        super().__init__(port)
        self.api_key = api_key
        self.latency_s = latency_s
        self.refused: set[str] = set()  # addresses answered with a 422
        self.received: list[Received] = []
        self.deliveries: list[Delivery] = []
        self._failures = _Failures()
        self._keys: dict[str, _Keyed] = {}

    @property
    def base_url(self) -> str:
        return self.origin  # the SDK appends /emails

    def fail_next(self, status: int, count: int = 1, retry_after_s: float = 1.0) -> None:
        """The next `count` calls answer `status` (429, 500, 502, 503...) and send nothing."""
        self._failures = _Failures(status, count, retry_after_s)

    def deliveries_by_key(self) -> dict[str | None, int]:
        counts: dict[str | None, int] = {}
        for d in self.deliveries:
            counts[d.key] = counts.get(d.key, 0) + 1
        return counts

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/emails", self._emails)
        return app

    async def _emails(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        response = await self._answer(request, body)
        self.received.append(Received(body if isinstance(body, dict) else {},
                                      dict(request.headers), response.status, time.time()))
        return response

    async def _answer(self, request: web.Request, body: Any) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return error(401, "missing_api_key", "Missing API key in the authorization header.")
        if auth[7:] != self.api_key:
            return error(403, "invalid_api_key", "API key is invalid.")
        failures = self._failures
        if failures.left > 0:
            failures.left -= 1
            if failures.status == 429:
                return error(429, "rate_limit_exceeded",
                             "Too many requests. You can only make 2 requests per second.",
                             {"retry-after": f"{failures.retry_after_s:g}",
                              "ratelimit-limit": "2", "ratelimit-remaining": "0",
                              "ratelimit-reset": f"{failures.retry_after_s:g}"})
            return error(failures.status, "application_error",
                         "An unexpected error occurred, please try again later.")
        if not isinstance(body, dict):
            return error(422, "validation_error", "Invalid JSON body.")
        for name in ("from", "to", "subject"):
            if not body.get(name):
                return error(422, "missing_required_field", f"Missing `{name}` field.")
        to = body["to"] if isinstance(body["to"], list) else [body["to"]]
        if any(not isinstance(a, str) or "@" not in a for a in to):
            return error(422, "validation_error",
                         "Invalid `to` field. The email address needs to follow the "
                         "`email@example.com` or `Name <email@example.com>` format.")
        if any(a in self.refused for a in to):
            # Resend's message names the address: the server must never log or store it
            return error(422, "validation_error", f"Invalid `to` field: {to[0]}")
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return await self._deliver(None, body)
        if not 1 <= len(key) <= 256:
            return error(400, "invalid_idempotency_key", "The key must be between 1-256 chars.")
        fingerprint = json.dumps(body, sort_keys=True)
        seen = self._keys.get(key)
        if seen is not None:
            if seen.fingerprint != fingerprint:
                return error(409, "invalid_idempotent_request",
                             "Same idempotency key used with a different request payload.")
            if seen.answer is None:
                return error(409, "concurrent_idempotent_requests",
                             "Same idempotency key used while original request is still "
                             "in progress.")
            status, payload = seen.answer
            return web.json_response(payload, status=status)
        self._keys[key] = _Keyed(fingerprint)
        response = await self._deliver(key, body)
        self._keys[key].answer = (response.status, json.loads(response.body))
        return response

    async def _deliver(self, key: str | None, body: dict[str, Any]) -> web.Response:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        email_id = str(uuid.uuid4())
        self.deliveries.append(Delivery(email_id, key, body))
        return web.json_response({"id": email_id})
