"""Keyed blind indexes of sealed values: an HMAC of the normalised text under a key derived
from the org's key, so an exact match can be searched without storing the plaintext."""

from __future__ import annotations

import hashlib
import hmac

from server.storage.envelope import DataKey

# The derivation seals 32 zero bytes under the org key with this fixed nonce and label:
# AES-GCM's ciphertext of zeros is the AES-CTR keystream, a pseudo-random function of the
# key. Only this one (nonce, plaintext, label) is ever sealed under the fixed nonce, so
# reusing it reveals nothing; every other value gets a random nonce (envelope.py).
_NONCE = b"clienta-idx1"
_LABEL = b"clienta blind index key v1"


def index_key(org_key: DataKey) -> bytes:
    return org_key.aead.encrypt(_NONCE, bytes(32), _LABEL)[:32]


def normalised_email(email: str) -> str:
    return email.strip().lower()


def email_index(org_key: DataKey, email: str) -> bytes:
    """The value stored in `visitors.email_index` and searched for."""
    return hmac.new(index_key(org_key), b"email|" + normalised_email(email).encode(),
                    hashlib.sha256).digest()
