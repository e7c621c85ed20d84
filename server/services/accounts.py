"""Sign-up, login, users and bearer tokens (random, stored only as hashes, expiring).

Sign-up never reveals whether an address has an account: a taken address gets the same
201 and shape as a new one, with ids and a token that exist nowhere, and its owner is
told by mail instead. Both paths hash the password and run the same inserts."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.domain.audit import Actor, AuditAction, Target, TargetKind
from server.domain.passwords import PasswordPolicy
from server.domain.roles import MANAGERS, Role
from server.mail import templates
from server.mail.base import Mail
from server.services.audit import AuditLog
from server.services.mail_outbox import MailOutbox
from server.storage import accounts as store
from server.storage import mail_outbox
from server.storage.db import Database, SystemJob, set_tenant

log = logging.getLogger("clienta.accounts")

# expired tokens already open nothing (the lookup checks expires_at): the purge only keeps
# the table from growing, so once an hour is plenty
TOKEN_PURGE_INTERVAL_S = 3600.0

# why one more seat would exceed the org's plan (None: it fits), in the caller's transaction
SeatCheck = Callable[[asyncpg.Connection, UUID], Awaitable[str | None]]

class AccountError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class _AddressTaken(Exception):
    """Rolls the sign-up's transaction back when the address already has an account."""


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: UUID
    org_id: UUID
    role: Role
    name: str
    email: str


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class AccountService:
    def __init__(self, db: Database, token_ttl_s: int, passwords: PasswordPolicy,
                 outbox: MailOutbox, audit: AuditLog | None = None,
                 seats: SeatCheck | None = None) -> None:
        self.db = db
        # the plan's seat limit (services/metering.Meter.seat_refusal), in the insert's
        # own transaction, as for invitations
        self.seats = seats
        self.audit = audit or AuditLog(db)
        self.token_ttl = timedelta(seconds=token_ttl_s)
        self.passwords = passwords
        self.outbox = outbox
        # argon2id; the library's defaults follow RFC 9106's second recommendation
        self.hasher = PasswordHasher()
        self._purger: asyncio.Task[None] | None = None

    def start(self, purge_interval_s: float = TOKEN_PURGE_INTERVAL_S) -> None:
        self._purger = asyncio.create_task(self._purge_every(purge_interval_s),
                                           name="token-purge")

    async def close(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger

    async def purge_expired_tokens(self) -> int:
        """Delete every org's expired bearer tokens; how many went. Each process runs it:
        the DELETE is idempotent, so no lease is needed."""
        async with self.db.system(SystemJob.TOKEN_PURGE) as conn:
            return await store.delete_expired_tokens(conn)

    async def _purge_every(self, interval_s: float) -> None:
        # at start too: a process restarted more often than the interval still purges
        while True:
            try:
                await self.purge_expired_tokens()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("expired-token purge failed")
            await asyncio.sleep(interval_s)

    async def _hash(self, password: str) -> str:
        # argon2 is deliberately slow: keep it off the event loop
        return await asyncio.to_thread(self.hasher.hash, password)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def _check_password(self, password: str, email: str) -> None:
        reason = self.passwords.refusal(password, email)
        if reason is not None:
            raise AccountError(422, "bad_request", reason)

    async def _issue_token(self, conn, org_id: UUID, user_id: UUID) -> str:
        token = "ct_" + secrets.token_urlsafe(32)
        await store.insert_token(conn, hash_token(token), org_id, user_id,
                                 datetime.now(UTC) + self.token_ttl)
        return token

    async def signup(self, org_name: str, email: str, password: str, name: str,
                     address: str | None = None) -> dict[str, str]:
        self._check_password(password, email)
        org_id, user_id = uuid4(), uuid4()
        site_key = "sk_" + secrets.token_urlsafe(18)
        password_hash = await self._hash(password)
        try:
            async with self.db.unscoped() as conn:
                await store.insert_org(conn, org_id, org_name, site_key)
                await set_tenant(conn, org_id)
                if not await store.insert_user(conn, user_id, org_id, email, name, Role.OWNER,
                                               password_hash):
                    raise _AddressTaken  # the org row goes with the rolled-back transaction
                token = await self._issue_token(conn, org_id, user_id)
                await self.audit.record(conn, org_id, Actor.user(user_id, address),
                                        AuditAction.ORG_CREATED, Target(TargetKind.ORG, org_id))
        except _AddressTaken:
            await self._tell_owner(email)
            # the look of a fresh account, all of it stored nowhere: the token and site key
            # open nothing, the ids name nothing
            token = "ct_" + secrets.token_urlsafe(32)
        return {"org_id": str(org_id), "user_id": str(user_id), "site_key": site_key,
                "token": token}

    async def _tell_owner(self, email: str) -> None:
        """Queue the notice in the existing account's org (the outbox worker sends it)."""
        rendered = templates.existing_account(templates.DEFAULT_LOCALE)
        try:
            async with self.db.unscoped() as conn:
                owner = await store.user_by_email(conn, email)
                if owner is None:  # removed in between: nobody to tell
                    return
                await set_tenant(conn, owner.org_id)
                await mail_outbox.enqueue(
                    conn, self.db.keys, owner.org_id, templates.MailKind.EXISTING_ACCOUNT,
                    Mail(email, rendered.subject, rendered.text, rendered.html,
                         templates.DEFAULT_LOCALE))
        except Exception as exc:
            # the caller's answer must not differ, so a failed notice is only logged
            log.warning("existing-account notice not queued",
                        extra={"error": type(exc).__name__})
            return
        self.outbox.wake()

    async def login(self, email: str, password: str,
                    address: str | None = None) -> dict[str, str]:
        """A failed attempt is audited in the account's org; one for an address with no
        account belongs to no org and is not (the rate limits still count it)."""
        async with self.db.unscoped() as conn:
            user = await store.user_by_email(conn, email)
        if user is None:
            # an unknown email still costs one argon2 run with the same parameters (hashing
            # is what a verify does), so timing does not reveal which accounts exist; no
            # dummy hash is made at start-up, where it blocked the loop for ~0.4 s
            await asyncio.to_thread(self.hasher.hash, password)
            raise AccountError(401, "unauthorized", "wrong email or password")
        target = Target(TargetKind.USER, user.id)
        if not await asyncio.to_thread(self._verify, user.password_hash, password):
            await self.audit.record_alone(user.org_id, Actor.anonymous(address),
                                          AuditAction.SIGN_IN_FAILED, target,
                                          {"reason": "wrong_password"})
            raise AccountError(401, "unauthorized", "wrong email or password")
        async with self.db.unit_of_work(user.org_id) as conn:
            if self.hasher.check_needs_rehash(user.password_hash):
                await store.update_password_hash(conn, user.org_id, user.id,
                                                 await self._hash(password))
            token = await self._issue_token(conn, user.org_id, user.id)
            await self.audit.record(conn, user.org_id, Actor.user(user.id, address),
                                    AuditAction.SIGN_IN, target)
        return {"token": token, "user_id": str(user.id), "org_id": str(user.org_id),
                "role": user.role}

    async def create_user(self, actor: Principal, email: str, password: str, name: str,
                          role: str, address: str | None = None) -> str:
        if actor.role not in MANAGERS:
            raise AccountError(403, "forbidden", "only owners and admins add users")
        if role not in tuple(Role):
            raise AccountError(422, "bad_request", f"role must be one of {', '.join(Role)}")
        if role == Role.OWNER and actor.role != Role.OWNER:
            raise AccountError(403, "forbidden", "only an owner can add an owner")
        self._check_password(password, email)
        user_id = uuid4()
        password_hash = await self._hash(password)
        async with self.db.unit_of_work(actor.org_id) as conn:
            if self.seats is not None and (full := await self.seats(conn, actor.org_id)):
                raise AccountError(403, "plan_limit", full)
            if not await store.insert_user(conn, user_id, actor.org_id, email, name, role,
                                           password_hash):
                raise AccountError(409, "conflict", "an account with this email already exists")
            await self.audit.record(conn, actor.org_id, Actor.user(actor.user_id, address),
                                    AuditAction.USER_CREATED, Target(TargetKind.USER, user_id),
                                    {"role": role})
        return str(user_id)

    async def authenticate(self, token: str) -> Principal | None:
        if not token or len(token) > 512:
            return None
        async with self.db.unscoped() as conn:
            user = await store.user_by_token(conn, hash_token(token))
        if user is None:
            return None
        return Principal(user.id, user.org_id, Role(user.role), user.name, user.email)
