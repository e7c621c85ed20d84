"""One-time links mailed to people (an invitation, a password reset, an address to verify):
a signed token naming its org and row, of which only a hash is ever stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

_NONCE_BYTES = 24
_MAC_BYTES = 16
_RAW_BYTES = 16 + 16 + _NONCE_BYTES + _MAC_BYTES
# the longest token this module makes, with room: anything longer is refused unread
MAX_TOKEN_CHARS = 128


class LinkKind(StrEnum):
    """What a link opens; its value starts the token (so a reset token is never an invite)."""

    INVITE = "inv"
    PASSWORD_RESET = "pwr"
    EMAIL_VERIFY = "eml"


@dataclass(frozen=True, slots=True)
class LinkRef:
    """What a genuine token names: the row to look up (in its org, so a scoped query finds
    it), and the hash that row must hold."""

    kind: LinkKind
    org_id: UUID
    row_id: UUID
    token_hash: bytes


class LinkSigner:
    """Tokens are `<kind>_<base64(org, row, nonce, mac)>`. The MAC (a key derived from the
    server secret) refuses forged or altered tokens before any query; the nonce makes the
    stored hash worthless to whoever reads the table."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"clienta.one-time-link\x00" + secret).digest()

    def _mac(self, kind: LinkKind, body: bytes) -> bytes:
        return hmac.new(self._key, kind.value.encode() + body, hashlib.sha256).digest()[:_MAC_BYTES]

    def mint(self, kind: LinkKind, org_id: UUID, row_id: UUID) -> tuple[str, bytes]:
        """A new token and the hash to store for it."""
        body = org_id.bytes + row_id.bytes + secrets.token_bytes(_NONCE_BYTES)
        raw = body + self._mac(kind, body)
        token = f"{kind.value}_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return token, token_hash(token)

    def read(self, token: str, kind: LinkKind) -> LinkRef | None:
        """The row a genuine token of `kind` names; None for anything else."""
        prefix = f"{kind.value}_"
        if len(token) > MAX_TOKEN_CHARS or not token.startswith(prefix):
            return None
        text = token[len(prefix):]
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError:
            return None
        if len(raw) != _RAW_BYTES:
            return None
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(kind, body)):
            return None
        return LinkRef(kind, UUID(bytes=body[:16]), UUID(bytes=body[16:32]), token_hash(token))


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
