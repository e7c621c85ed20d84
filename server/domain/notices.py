"""The rules of notification mail: which kinds a person may turn off, the signed tokens of
an unsubscribe link and of a hosted transcript link, and a sign-in's device fingerprint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

_MAC_BYTES = 16
# the longest token this module makes, with room: anything longer is refused unread
MAX_TOKEN_CHARS = 128


class NoticeKind(StrEnum):
    """A kind of mail its recipient may stop (an unsubscribe link names one). Required
    notices (a sign-in to one's own account, a role change, a requested transcript,
    invitations and resets) are not here: nobody can turn them off."""

    REPLIES = "replies"  # an agent's replies, to the visitor who left their address
    INBOX = "inbox"  # a visitor's follow-up request, to the org's inbox address
    WAITING = "waiting"  # a conversation waits, to an agent who is offline
    SECURITY = "security"  # another member's sign-in from a new device, to owners

    @property
    def code(self) -> bytes:
        return _CODES[self]


_CODES = {NoticeKind.REPLIES: b"r", NoticeKind.INBOX: b"i", NoticeKind.WAITING: b"w",
          NoticeKind.SECURITY: b"s"}
_KINDS = {v: k for k, v in _CODES.items()}
# the kinds a staff member sets in their own settings (PATCH /v1/users/me/notifications)
USER_SETTINGS = {"offline_waiting": NoticeKind.WAITING, "security_alerts": NoticeKind.SECURITY}


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """What a genuine unsubscribe token names: the kind, the org, and whose mail stops (a
    user, a visitor, or the org itself for its inbox)."""

    kind: NoticeKind
    org_id: UUID
    subject_id: UUID


@dataclass(frozen=True, slots=True)
class TranscriptRef:
    org_id: UUID
    conversation_id: UUID
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None


class NoticeSigner:
    """Stateless tokens, MAC'd with keys derived from the server secret: `u_...` stops one
    kind of mail for one subject (it never expires: an old mail's link must still work);
    `c_...` opens one conversation's transcript until it expires. Neither shows an id in
    clear text, and an altered one is refused before any query."""

    def __init__(self, secret: bytes) -> None:
        self._unsub = hashlib.sha256(b"clienta.unsubscribe\x00" + secret).digest()
        self._transcript = hashlib.sha256(b"clienta.transcript-link\x00" + secret).digest()
        self._device = hashlib.sha256(b"clienta.device\x00" + secret).digest()

    @staticmethod
    def _mac(key: bytes, body: bytes) -> bytes:
        return hmac.new(key, body, hashlib.sha256).digest()[:_MAC_BYTES]

    def unsubscribe_token(self, kind: NoticeKind, org_id: UUID, subject_id: UUID) -> str:
        body = kind.code + org_id.bytes + subject_id.bytes
        return "u_" + _b64(body + self._mac(self._unsub, body))

    def read_unsubscribe(self, token: str) -> Unsubscribe | None:
        raw = self._open(token, "u_", 33, self._unsub)
        if raw is None or raw[:1] not in _KINDS:
            return None
        return Unsubscribe(_KINDS[raw[:1]], UUID(bytes=raw[1:17]), UUID(bytes=raw[17:33]))

    def transcript_token(self, org_id: UUID, conversation_id: UUID, expires_at: datetime) -> str:
        body = org_id.bytes + conversation_id.bytes + struct.pack(">Q", int(expires_at.timestamp()))
        return "c_" + _b64(body + self._mac(self._transcript, body))

    def read_transcript(self, token: str, now: datetime) -> TranscriptRef | None:
        """None for a forged, altered or expired token."""
        raw = self._open(token, "c_", 40, self._transcript)
        if raw is None:
            return None
        expires = datetime.fromtimestamp(struct.unpack(">Q", raw[32:40])[0], now.tzinfo)
        if expires <= now:
            return None
        return TranscriptRef(UUID(bytes=raw[:16]), UUID(bytes=raw[16:32]), expires)

    def _open(self, token: str, prefix: str, body_len: int, key: bytes) -> bytes | None:
        if len(token) > MAX_TOKEN_CHARS or not token.startswith(prefix):
            return None
        raw = _unb64(token[len(prefix):])
        # one spelling per token: unused low bits of the last character would otherwise
        # give a second, equally valid one
        if raw is None or len(raw) != body_len + _MAC_BYTES or _b64(raw) != token[len(prefix):]:
            return None
        body, mac = raw[:body_len], raw[body_len:]
        return body if hmac.compare_digest(mac, self._mac(key, body)) else None

    def device_fingerprint(self, user_id: UUID, user_agent: str | None,
                           address: str | None) -> bytes:
        """A keyed hash of (user, browser family, network): only this is stored, so the
        table says nothing about where anyone signs in from."""
        text = f"{user_id}|{agent_family(user_agent)}|{network_of(address)}"
        return hmac.new(self._device, text.encode(), hashlib.sha256).digest()


# the first match wins: Edge and Opera say "Chrome" too, Chrome says "Safari"
_FAMILIES = (("edge", re.compile(r"Edg(e|A|iOS)?/")), ("opera", re.compile(r"OPR/|Opera")),
             ("firefox", re.compile(r"Firefox/|FxiOS/")), ("chrome", re.compile(r"Chrome/|CriOS/")),
             ("safari", re.compile(r"Safari/")))
_SYSTEMS = (("android", re.compile(r"Android")), ("ios", re.compile(r"iPhone|iPad|iPod")),
            ("windows", re.compile(r"Windows")), ("mac", re.compile(r"Macintosh|Mac OS X")),
            ("linux", re.compile(r"Linux|X11")))


def agent_family(user_agent: str | None) -> str:
    """Browser and system families ("firefox/linux"): versions change with every update,
    which must not count as a new device."""
    ua = (user_agent or "")[:512]
    browser = next((name for name, pattern in _FAMILIES if pattern.search(ua)), "other")
    system = next((name for name, pattern in _SYSTEMS if pattern.search(ua)), "other")
    return f"{browser}/{system}"


def network_of(address: str | None) -> str:
    """The address cut to its network (IPv4 /24, IPv6 /48): a home router's new lease or a
    phone's next address in the same network is the same device."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return "unknown"
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def transcript_expiry(now: datetime, days: float) -> datetime:
    return now + timedelta(days=days)
