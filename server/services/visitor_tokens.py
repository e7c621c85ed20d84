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

    def verify(self, token: str, org_id: UUID) -> UUID | None:
        """The visitor id when the token is genuine and belongs to this org, else None."""
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
        if body[:16] != org_id.bytes:
            return None
        return UUID(bytes=body[16:])
