"""Password reset and email verification: one-time links mailed to a user (only their hash
stored), spent once; a reset revokes every session of the account."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg

from server.domain import team as rules
from server.domain.audit import Actor, AuditAction, Target, TargetKind
from server.domain.links import LinkKind, LinkRef, LinkSigner
from server.mail import templates
from server.mail.base import Mail
from server.services.accounts import AccountError, Principal
from server.services.audit import AuditLog
from server.services.credentials import Credentials
from server.services.mail_outbox import MailOutbox
from server.services.staff_sessions import StaffSessions
from server.storage import accounts as accounts_store
from server.storage import mail_outbox
from server.storage import teams as store
from server.storage.db import Database, SystemJob

log = logging.getLogger("clienta.links")

RESET = "password_reset"
VERIFY = "email_verify"
# spent or expired links and finished invites are kept this long (support questions),
# then deleted by an hourly purge
SPENT_RETENTION = timedelta(days=30)
PURGE_INTERVAL_S = 3600.0


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    public_url: str
    reset_ttl: timedelta
    verify_ttl: timedelta


class AccountLinks:
    def __init__(self, db: Database, audit: AuditLog, outbox: MailOutbox, signer: LinkSigner,
                 credentials: Credentials, sessions: StaffSessions,
                 policy: LinkPolicy) -> None:
        self.db = db
        self.audit = audit
        self.outbox = outbox
        self.signer = signer
        self.credentials = credentials
        self.sessions = sessions
        self.policy = policy
        self._purger: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._purger = asyncio.create_task(self._purge_every(), name="link-purge")

    async def close(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger

    async def _purge_every(self) -> None:
        while True:
            try:
                # every org's: idempotent, so each process runs it without a lease
                async with self.db.system(SystemJob.TOKEN_PURGE) as conn:
                    await store.delete_spent(conn, datetime.now(UTC) - SPENT_RETENTION)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("link purge failed")
            await asyncio.sleep(PURGE_INTERVAL_S)

    # ---- password reset ---------------------------------------------------------------

    async def forgot(self, email: str, address: str | None = None) -> None:
        """Mail a reset link if the address has an account; the caller answers the same
        either way."""
        async with self.db.unscoped() as conn:  # the one lookup across orgs, as login's
            account = await accounts_store.user_by_email(conn, email)
        if account is None:
            return
        user_id, org_id = account.id, account.org_id
        async with self.db.unit_of_work(org_id) as conn:
            member = await store.member(conn, org_id, user_id)
            if member is None:  # removed in between
                return
            locale, stored_email = member.locale, member.email
            token = await self._new_link(conn, LinkKind.PASSWORD_RESET, org_id, user_id, RESET,
                                         self.policy.reset_ttl)
            rendered = templates.password_reset(
                locale, url=f"{self.policy.public_url}/console#reset={token}",
                minutes=max(1, round(self.policy.reset_ttl.total_seconds() / 60)))
            await mail_outbox.enqueue(conn, self.db.keys, org_id, templates.MailKind.PASSWORD_RESET,
                                      Mail(stored_email, rendered.subject, rendered.text,
                                           rendered.html, locale))
            await self.audit.record(conn, org_id, Actor.anonymous(address),
                                    AuditAction.PASSWORD_RESET_REQUESTED,
                                    Target(TargetKind.USER, user_id))
        self.outbox.wake()

    async def reset(self, token: str, password: str, address: str | None = None) -> None:
        """Set the password, spend every open reset link of the account, and end all of
        its sessions (tokens deleted, open sockets closed on every process)."""
        ref = self._read(token, LinkKind.PASSWORD_RESET)
        async with self.db.unit_of_work(ref.org_id) as conn:
            found = await self._usable(conn, ref, RESET)
            member = await store.member(conn, ref.org_id, found.user_id)
        if member is None:
            raise AccountError(410, "gone", "this link was already used or has expired")
        # argon2 off the transaction: the link is checked again under its lock below
        password_hash = await self.credentials.hash(password, member.email)
        async with self.db.unit_of_work(ref.org_id) as conn:
            found = await self._usable(conn, ref, RESET)
            await store.set_password(conn, ref.org_id, found.user_id, password_hash)
            await store.use_links(conn, ref.org_id, found.user_id, RESET)
            # the link reached the address: it is verified too
            await store.mark_verified(conn, ref.org_id, found.user_id)
            await store.delete_tokens_of(conn, ref.org_id, found.user_id)
            await self.audit.record(conn, ref.org_id, Actor.user(found.user_id, address),
                                    AuditAction.PASSWORD_RESET,
                                    Target(TargetKind.USER, found.user_id))
        await self.sessions.revoke(found.user_id)

    # ---- email verification -----------------------------------------------------------

    async def new_account(self, org_id: UUID, user_id: UUID, locale: str | None) -> None:
        """After a sign-up: its language, and the verification mail. Ids that name no
        account (a sign-up with a taken address answers with such) do nothing."""
        if locale is not None and locale not in rules.LOCALES:
            locale = None
        async with self.db.unit_of_work(org_id) as conn:
            member = await store.member(conn, org_id, user_id)
            if member is None:
                return
            if locale is not None:
                await store.update_member(conn, org_id, user_id, role=None, name=None,
                                          locale=locale)
            await self._mail_verification(conn, org_id, user_id, member.email,
                                          locale or member.locale)
        self.outbox.wake()

    async def send_verification(self, me: Principal) -> None:
        """Another verification mail for the signed-in user (nothing if already verified)."""
        async with self.db.unit_of_work(me.org_id) as conn:
            member = await store.member(conn, me.org_id, me.user_id)
            if member is None or member.email_verified:
                return
            await self._mail_verification(conn, me.org_id, me.user_id, member.email,
                                          member.locale)
        self.outbox.wake()

    async def _mail_verification(self, conn: asyncpg.Connection, org_id: UUID, user_id: UUID,
                                 email: str, locale: str) -> None:
        token = await self._new_link(conn, LinkKind.EMAIL_VERIFY, org_id, user_id, VERIFY,
                                     self.policy.verify_ttl)
        rendered = templates.email_verify(
            locale, url=f"{self.policy.public_url}/console#verify={token}",
            days=max(1, round(self.policy.verify_ttl.total_seconds() / 86400)))
        await mail_outbox.enqueue(conn, self.db.keys, org_id, templates.MailKind.EMAIL_VERIFY,
                                  Mail(email, rendered.subject, rendered.text, rendered.html,
                                       locale))

    async def verify(self, token: str, address: str | None = None) -> None:
        ref = self._read(token, LinkKind.EMAIL_VERIFY)
        async with self.db.unit_of_work(ref.org_id) as conn:
            found = await self._usable(conn, ref, VERIFY)
            await store.mark_verified(conn, ref.org_id, found.user_id)
            await store.use_links(conn, ref.org_id, found.user_id, VERIFY)
            await self.audit.record(conn, ref.org_id, Actor.user(found.user_id, address),
                                    AuditAction.EMAIL_VERIFIED,
                                    Target(TargetKind.USER, found.user_id))

    # ---- links ------------------------------------------------------------------------

    async def _new_link(self, conn: asyncpg.Connection, kind: LinkKind, org_id: UUID,
                        user_id: UUID, purpose: str, ttl: timedelta) -> str:
        link_id = uuid4()
        token, token_hash = self.signer.mint(kind, org_id, link_id)
        await store.insert_link(conn, link_id, org_id, user_id, purpose, token_hash,
                                datetime.now(UTC) + ttl)
        return token

    def _read(self, token: str, kind: LinkKind) -> LinkRef:
        ref = self.signer.read(token, kind)
        if ref is None:
            raise AccountError(400, "invalid_token", "this link is not valid")
        return ref

    @staticmethod
    async def _usable(conn: asyncpg.Connection, ref: LinkRef, purpose: str) -> store.UserLink:
        """The link's row, locked; 400 when the token names nothing we made, 410 when it
        was spent (or voided by a later reset) or has expired."""
        found = await store.link(conn, ref.org_id, ref.row_id)
        if (found is None or found.purpose != purpose
                or not hmac.compare_digest(found.token_hash, ref.token_hash)):
            raise AccountError(400, "invalid_token", "this link is not valid")
        if found.used_at is not None or found.expires_at <= datetime.now(UTC):
            raise AccountError(410, "gone", "this link was already used or has expired")
        return found
