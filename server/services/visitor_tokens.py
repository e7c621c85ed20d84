"""Visitor tokens: HMAC-signed, bound to one organisation and one visitor."""

from __future__ import annotations

import base64
import hashlib
import hmac
from uuid import UUID


class VisitorTokens:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"clienta.visitor-token\x00" + secret).digest()

    def issue(self, org_id: UUID, visitor_id: UUID) -> str:
        body = org_id.bytes + visitor_id.bytes
        mac = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        return "v1." + base64.urlsafe_b64encode(body + mac).decode().rstrip("=")

    def subject(self, token: str) -> tuple[UUID, UUID] | None:
        """(org id, visitor id) of a genuine token, whichever org: an HTTP call by the
        widget carries no site key."""
        raw = self._genuine(token)
        return None if raw is None else (UUID(bytes=raw[:16]), UUID(bytes=raw[16:]))

    def verify(self, token: str, org_id: UUID) -> UUID | None:
        """The visitor id when the token is genuine and belongs to this org, else None."""
        body = self._genuine(token)
        if body is None or body[:16] != org_id.bytes:
            return None
        return UUID(bytes=body[16:])

    def _genuine(self, token: str) -> bytes | None:
        """The signed body (org id + visitor id) when the MAC holds, else None."""
        if not token.startswith("v1."):
            return None
        try:
            raw = base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4))
        except ValueError:
            return None
        if len(raw) != 48:
            return None
        body, mac = raw[:32], raw[32:]
        if not hmac.compare_digest(mac, hmac.new(self._key, body, hashlib.sha256).digest()[:16]):
            return None
        return body
