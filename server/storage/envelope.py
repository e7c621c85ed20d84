"""Sealed values: AES-256-GCM under a data key, with associated data that names where the
value belongs, in a versioned envelope; and the wrapping of one key by another. No I/O."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's standard nonce; random per value (2^32 values per key is far off)
FORMAT_V1 = 1
# A sealed text column starts with this control character, which no stored plaintext
# from before encryption began with in practice; `is_sealed` tells the two apart so rows
# written before the backfill still read.
TEXT_MARK = "\x01"


class Field(StrEnum):
    """Which column a value belongs to: part of its associated data, so a ciphertext moved
    to another column (a message body into a visitor's name) does not open."""

    EVENT_BODY = "events.body"
    VISITOR_NAME = "visitors.name"
    VISITOR_EMAIL = "visitors.email"
    VISITOR_OBJECTION = "visitors.objection"
    REQUEST_EMAIL = "privacy_requests.subject_email"
    FOLLOWUP_EMAIL = "conversations.followup_email"
    CSAT_COMMENT = "conversations.csat_comment"
    UNANSWERED = "kb_unanswered.question"
    STREAM_TEXT = "stream.text"
    MAIL = "mail_outbox.content"
    KB_FILE = "kb_documents.original"
    VISITOR_KEY = "visitor_keys.wrapped"
    ORG_KEY = "org_keys.wrapped"


class Undecryptable(Exception):
    """The value does not open under its key and place: tampered with, moved from another
    row, or sealed under a key that is gone. Carries no part of the value."""


def associated(field: Field, *parts: object) -> bytes:
    """The associated data: the field and the ids of the row it belongs to."""
    return "|".join((field.value, *(("" if p is None else str(p)) for p in parts))).encode()


@dataclass(frozen=True, slots=True)
class DataKey:
    """One AES-256-GCM key, ready to use (the cipher object is built once per key)."""

    aead: AESGCM

    @classmethod
    def of(cls, raw: bytes) -> DataKey:
        if len(raw) != KEY_BYTES:
            raise ValueError("a data key is 32 bytes")
        return cls(AESGCM(raw))

    def seal(self, plaintext: bytes, ad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return bytes((FORMAT_V1,)) + nonce + self.aead.encrypt(nonce, plaintext, ad)

    def open(self, sealed: bytes, ad: bytes) -> bytes:
        if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[0] != FORMAT_V1:
            raise Undecryptable("not a sealed value of a known format")
        try:
            return self.aead.decrypt(sealed[1:1 + NONCE_BYTES], sealed[1 + NONCE_BYTES:], ad)
        except InvalidTag:
            raise Undecryptable("the value does not open under this key and place") from None

    def seal_text(self, text: str, ad: bytes) -> str:
        """For text columns: the mark, then the envelope in base64."""
        return TEXT_MARK + base64.b64encode(self.seal(text.encode(), ad)).decode("ascii")

    def open_text(self, stored: str, ad: bytes) -> str:
        try:
            raw = base64.b64decode(stored[1:], validate=True)
        except (binascii.Error, ValueError):
            raise Undecryptable("not a sealed value of a known format") from None
        return self.open(raw, ad).decode()


def is_sealed(stored: str) -> bool:
    return stored.startswith(TEXT_MARK)


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def wrap(wrapping: DataKey, raw: bytes, ad: bytes) -> bytes:
    return wrapping.seal(raw, ad)


def unwrap(wrapping: DataKey, wrapped: bytes, ad: bytes) -> DataKey:
    return DataKey.of(wrapping.open(wrapped, ad))


@dataclass(frozen=True, slots=True)
class MasterKey:
    """The key that wraps org keys; known by a short id (a hash, never the key)."""

    id: str
    key: DataKey

    @classmethod
    def parse(cls, text: str) -> MasterKey:
        """32 bytes as 64 hex digits or as base64 (what `openssl rand -base64 32` prints)."""
        text = text.strip()
        raw: bytes | None = None
        if len(text) == 2 * KEY_BYTES:
            try:
                raw = bytes.fromhex(text)
            except ValueError:
                raw = None
        if raw is None:
            try:
                raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_"
                                       if "-" in text or "_" in text else None, validate=True)
            except (binascii.Error, ValueError):
                raw = b""
        if len(raw) != KEY_BYTES:
            raise ValueError("a master key is 32 bytes, as 64 hex digits or base64")
        return cls(hashlib.sha256(b"clienta master key id|" + raw).hexdigest()[:16],
                   DataKey.of(raw))


@dataclass(frozen=True, slots=True)
class MasterKeys:
    """The current master key, and during a rotation the previous one (read only)."""

    current: MasterKey
    previous: MasterKey | None = None

    def by_id(self, key_id: str) -> MasterKey | None:
        if key_id == self.current.id:
            return self.current
        if self.previous is not None and key_id == self.previous.id:
            return self.previous
        return None
