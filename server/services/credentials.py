"""What accepting an invitation and resetting a password share with sign-in: the password
policy, argon2id hashing off the event loop, and issuing a bearer token."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
from argon2 import PasswordHasher

from server.domain.passwords import PasswordPolicy
from server.services.accounts import AccountError, hash_token
from server.storage import accounts as store


class Credentials:
    def __init__(self, passwords: PasswordPolicy, token_ttl_s: int) -> None:
        self.passwords = passwords
        self.token_ttl = timedelta(seconds=token_ttl_s)
        # the same parameters as AccountService's (the library's RFC 9106 defaults)
        self.hasher = PasswordHasher()

    async def hash(self, password: str, email: str) -> str:
        """The hash of an acceptable password; AccountError 422 saying which rule it breaks."""
        reason = self.passwords.refusal(password, email)
        if reason is not None:
            raise AccountError(422, "bad_request", reason)
        return await asyncio.to_thread(self.hasher.hash, password)

    async def issue_token(self, conn: asyncpg.Connection, org_id: UUID, user_id: UUID) -> str:
        token = "ct_" + secrets.token_urlsafe(32)
        await store.insert_token(conn, hash_token(token), org_id, user_id,
                                 datetime.now(UTC) + self.token_ttl)
        return token
