"""A team: members (list, re-role, rename, remove) and invitations by email (send, list,
resend, revoke, accept). A change to a member reaches their open sockets at once through
StaffSessions; an org never loses its last owner."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from server.domain import team as rules
from server.domain.audit import Actor, AuditAction, Target, TargetKind
from server.domain.links import LinkKind, LinkRef, LinkSigner
from server.domain.roles import Role
from server.mail import templates
from server.mail.base import Mail
from server.services.accounts import AccountError, Principal, SeatCheck
from server.services.audit import AuditLog
from server.services.credentials import Credentials
from server.services.mail_outbox import MailOutbox
from server.services.staff_sessions import StaffSessions
from server.storage import accounts as accounts_store
from server.storage import mail_outbox
from server.storage import teams as store
from server.storage.db import Database


class _EmailTaken(Exception):
    """Rolls an acceptance back when its address got an account meanwhile."""


@dataclass(frozen=True, slots=True)
class TeamPolicy:
    public_url: str  # links in mail start here (settings.public_url)
    invite_ttl: timedelta


def _role(value: str) -> Role:
    if value not in tuple(Role):
        raise AccountError(422, "bad_request", f"role must be one of {', '.join(Role)}")
    return Role(value)


def _refused(reason: str | None) -> None:
    if reason is not None:
        raise AccountError(403, "forbidden", reason)


def member_json(m: store.Member) -> dict[str, Any]:
    return {"user_id": str(m.id), "email": m.email, "name": m.name, "role": m.role,
            "locale": m.locale, "email_verified": m.email_verified,
            "last_active_at": m.last_active_at.isoformat() if m.last_active_at else None}


def invite_json(i: store.Invite, now: datetime) -> dict[str, Any]:
    return {"invite_id": str(i.id), "email": i.email, "role": i.role, "locale": i.locale,
            "created_at": i.created_at.isoformat(), "expires_at": i.expires_at.isoformat(),
            "status": "expired" if i.expires_at <= now else "pending"}


class TeamService:
    def __init__(self, db: Database, audit: AuditLog, outbox: MailOutbox, signer: LinkSigner,
                 credentials: Credentials, sessions: StaffSessions,
                 policy: TeamPolicy, seats: SeatCheck | None = None) -> None:
        self.db = db
        self.audit = audit
        self.outbox = outbox
        self.signer = signer
        self.credentials = credentials
        self.sessions = sessions
        self.policy = policy
        # the plan's seat limit (services/metering.Meter.seat_refusal), in the invite's
        # own transaction
        self.seats = seats

    # ---- members ----------------------------------------------------------------------

    async def members(self, actor: Principal, cursor: str | None,
                      limit: int) -> dict[str, Any]:
        after = self._cursor(cursor)
        async with self.db.unit_of_work(actor.org_id) as conn:
            rows = await store.members(conn, actor.org_id, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return {"items": [member_json(m) for m in rows],
                "next_cursor": rules.encode_cursor(rows[-1].created_at, rows[-1].id)
                if more else None}

    async def me(self, me: Principal) -> dict[str, Any]:
        """The signed-in member as the members list shows them (the console's banner reads
        `email_verified`)."""
        async with self.db.unit_of_work(me.org_id) as conn:
            found = await self._member(conn, me.org_id, me.user_id)
        return dict(member_json(found), org_id=str(me.org_id))

    async def update_member(self, actor: Principal, user_id: UUID, *, role: str | None,
                            name: str | None, locale: str | None,
                            address: str | None = None) -> dict[str, Any]:
        """Owners and admins change anyone's name, locale and (by the rules) role; any
        member changes their own name and locale."""
        new_role = _role(role) if role is not None else None
        if locale is not None and locale not in rules.LOCALES:
            raise AccountError(422, "bad_request", "locale must be en or th")
        if new_role is None and user_id != actor.user_id:
            _refused(rules.grant_refusal(actor.role, Role.VIEWER))
        async with self.db.unit_of_work(actor.org_id) as conn:
            owners = await store.lock_owners(conn, actor.org_id)
            target = await self._member(conn, actor.org_id, user_id)
            old_role = Role(target.role)
            changed = new_role is not None and new_role != old_role
            if changed:
                _refused(rules.change_refusal(actor.role, old_role, new_role))
                if rules.leaves_no_owner(owners, user_id, new_role):
                    raise AccountError(409, "conflict", "an organisation keeps at least one "
                                                         "owner: make another owner first")
            await store.update_member(conn, actor.org_id, user_id,
                                      role=new_role.value if changed and new_role else None,
                                      name=name, locale=locale)
            who = Actor.user(actor.user_id, address)
            target_ref = Target(TargetKind.USER, user_id)
            if changed and new_role is not None:
                await self.audit.record(conn, actor.org_id, who, AuditAction.USER_ROLE_CHANGED,
                                        target_ref, {"role": new_role.value,
                                                     "from_role": old_role.value})
                await self._alert_owners(conn, actor, target, old_role, new_role)
            fields = [k for k, v in (("name", name), ("locale", locale)) if v is not None]
            if fields:
                await self.audit.record(conn, actor.org_id, who, AuditAction.USER_UPDATED,
                                        target_ref, {"settings": fields})
            updated = await self._member(conn, actor.org_id, user_id)
        if changed and new_role is not None:
            self.outbox.wake()
            await self.sessions.narrow(user_id, new_role)
        return member_json(updated)

    async def remove_member(self, actor: Principal, user_id: UUID,
                            address: str | None = None) -> None:
        async with self.db.unit_of_work(actor.org_id) as conn:
            owners = await store.lock_owners(conn, actor.org_id)
            target = await self._member(conn, actor.org_id, user_id)
            _refused(rules.change_refusal(actor.role, Role(target.role), None))
            if rules.leaves_no_owner(owners, user_id, None):
                raise AccountError(409, "conflict", "an organisation keeps at least one owner")
            await store.delete_member(conn, actor.org_id, user_id)  # tokens go with them
            await self.audit.record(conn, actor.org_id, Actor.user(actor.user_id, address),
                                    AuditAction.USER_REMOVED, Target(TargetKind.USER, user_id),
                                    {"from_role": target.role})
        await self.sessions.revoke(user_id)

    async def _member(self, conn: asyncpg.Connection, org_id: UUID,
                      user_id: UUID) -> store.Member:
        found = await store.member(conn, org_id, user_id)
        if found is None:
            raise AccountError(404, "not_found", "no such member")
        return found

    async def _alert_owners(self, conn: asyncpg.Connection, actor: Principal,
                            target: store.Member, old: Role, new: Role) -> None:
        """A security alert to every owner, each in their language, with the change."""
        org = await accounts_store.org_by_id(conn, actor.org_id)
        org_name = org.name if org else ""
        for email, locale in await store.owners(conn, actor.org_id):
            rendered = templates.role_changed(
                locale, org_name=org_name, actor=actor.name or actor.email,
                member=target.name or target.email, old=old.value, new=new.value,
                team_url=f"{self.policy.public_url}/console#team")
            await mail_outbox.enqueue(conn, self.db.keys, actor.org_id,
                                      templates.MailKind.ROLE_CHANGED,
                                      Mail(email, rendered.subject, rendered.text,
                                           rendered.html, locale))

    def _cursor(self, text: str | None) -> tuple[datetime, UUID] | None:
        if not text:
            return None
        try:
            return rules.decode_cursor(text)
        except ValueError as exc:
            raise AccountError(400, "bad_request", "cursor is not one this server gave") from exc

    # ---- invitations ------------------------------------------------------------------

    async def invite(self, actor: Principal, email: str, role: str, locale: str | None,
                     address: str | None = None) -> dict[str, Any]:
        wanted = _role(role)
        _refused(rules.grant_refusal(actor.role, wanted))
        if locale is not None and locale not in rules.LOCALES:
            raise AccountError(422, "bad_request", "locale must be en or th")
        invite_id = uuid4()
        async with self.db.unit_of_work(actor.org_id) as conn:
            inviter = await store.member(conn, actor.org_id, actor.user_id)
            if inviter is None or not inviter.email_verified:
                raise AccountError(403, "email_unverified",
                                   "confirm your email address before inviting people")
            if await accounts_store.user_by_email(conn, email) is not None:
                raise AccountError(409, "conflict", "an account with this email already exists")
            if self.seats is not None and (full := await self.seats(conn, actor.org_id)):
                raise AccountError(403, "plan_limit", full)
            token, token_hash = self.signer.mint(LinkKind.INVITE, actor.org_id, invite_id)
            expires = datetime.now(UTC) + self.policy.invite_ttl
            chosen = locale or inviter.locale
            await store.insert_invite(conn, invite_id, actor.org_id, email, wanted.value,
                                      chosen, token_hash, actor.user_id, expires)
            await self._mail_invite(conn, actor, email, wanted.value, chosen, token)
            await self.audit.record(conn, actor.org_id, Actor.user(actor.user_id, address),
                                    AuditAction.INVITE_SENT, Target(TargetKind.INVITE, invite_id),
                                    {"role": wanted.value})
        self.outbox.wake()
        return {"invite_id": str(invite_id), "expires_at": expires.isoformat()}

    async def _mail_invite(self, conn: asyncpg.Connection, actor: Principal, email: str,
                           role: str, locale: str, token: str) -> None:
        org = await accounts_store.org_by_id(conn, actor.org_id)
        rendered = templates.invite(
            locale, org_name=org.name if org else "", inviter=actor.name or actor.email,
            role=role, url=f"{self.policy.public_url}/console#invite={token}",
            days=max(1, round(self.policy.invite_ttl.total_seconds() / 86400)))
        await mail_outbox.enqueue(conn, self.db.keys, actor.org_id, templates.MailKind.INVITE,
                                  Mail(email, rendered.subject, rendered.text, rendered.html,
                                       locale))

    async def invites(self, actor: Principal, cursor: str | None,
                      limit: int) -> dict[str, Any]:
        after = self._cursor(cursor)
        async with self.db.unit_of_work(actor.org_id) as conn:
            rows = await store.pending_invites(conn, actor.org_id, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        now = datetime.now(UTC)
        return {"items": [invite_json(i, now) for i in rows],
                "next_cursor": rules.encode_cursor(rows[-1].created_at, rows[-1].id)
                if more else None}

    async def resend(self, actor: Principal, invite_id: UUID,
                     address: str | None = None) -> dict[str, Any]:
        """A new link (the old one stops working) and a fresh expiry, mailed again."""
        async with self.db.unit_of_work(actor.org_id) as conn:
            found = await self._pending(conn, actor, invite_id)
            token, token_hash = self.signer.mint(LinkKind.INVITE, actor.org_id, invite_id)
            expires = datetime.now(UTC) + self.policy.invite_ttl
            await store.renew_invite(conn, actor.org_id, invite_id, token_hash, expires)
            await self._mail_invite(conn, actor, found.email, found.role, found.locale, token)
            await self.audit.record(conn, actor.org_id, Actor.user(actor.user_id, address),
                                    AuditAction.INVITE_RESENT,
                                    Target(TargetKind.INVITE, invite_id))
        self.outbox.wake()
        return {"invite_id": str(invite_id), "expires_at": expires.isoformat()}

    async def revoke(self, actor: Principal, invite_id: UUID,
                     address: str | None = None) -> None:
        async with self.db.unit_of_work(actor.org_id) as conn:
            await self._pending(conn, actor, invite_id)
            await store.revoke_invite(conn, actor.org_id, invite_id)
            await self.audit.record(conn, actor.org_id, Actor.user(actor.user_id, address),
                                    AuditAction.INVITE_REVOKED,
                                    Target(TargetKind.INVITE, invite_id))

    async def _pending(self, conn: asyncpg.Connection, actor: Principal,
                       invite_id: UUID) -> store.Invite:
        found = await store.invite(conn, actor.org_id, invite_id, lock=True)
        if found is None or found.accepted_at or found.revoked_at:
            raise AccountError(404, "not_found", "no such pending invite")
        _refused(rules.grant_refusal(actor.role, Role(found.role)))
        return found

    async def accept(self, token: str, name: str, password: str,
                     address: str | None = None) -> dict[str, str]:
        """Join the org the link names: the account exists with the invited role and a
        verified address (the link reached it), and the answer is a login's.

        The one place an invitation becomes an account: a Google sign-in by invitation
        (issue 19 point 4) opens the link here too, with its own credential in place of
        the password's hash."""
        ref = self._read(token)
        async with self.db.unit_of_work(ref.org_id) as conn:
            found = await store.invite(conn, ref.org_id, ref.row_id)
        self._usable(found, ref)
        assert found is not None
        # hashed before the transaction: argon2 is slow and must hold no row lock (the
        # transaction checks the invite again, so two uses at once make one account)
        password_hash = await self.credentials.hash(password, found.email)
        return await self.accept_with(ref, name, password_hash, address)

    async def accept_with(self, ref: LinkRef, name: str, password_hash: str,
                          address: str | None) -> dict[str, str]:
        user_id = uuid4()
        try:
            async with self.db.unit_of_work(ref.org_id) as conn:
                found = await store.invite(conn, ref.org_id, ref.row_id, lock=True)
                self._usable(found, ref)
                assert found is not None
                if not await accounts_store.insert_user(conn, user_id, ref.org_id,
                                                        found.email, name, found.role,
                                                        password_hash):
                    raise _EmailTaken
                await store.update_member(conn, ref.org_id, user_id, role=None, name=None,
                                          locale=found.locale)
                await store.mark_verified(conn, ref.org_id, user_id)
                await store.accept_invite(conn, ref.org_id, ref.row_id, user_id)
                bearer = await self.credentials.issue_token(conn, ref.org_id, user_id)
                await self.audit.record(conn, ref.org_id, Actor.user(user_id, address),
                                        AuditAction.INVITE_ACCEPTED,
                                        Target(TargetKind.INVITE, ref.row_id),
                                        {"role": found.role})
        except _EmailTaken:
            raise AccountError(409, "conflict",
                               "an account with this email already exists") from None
        return {"token": bearer, "user_id": str(user_id), "org_id": str(ref.org_id),
                "role": found.role}

    async def preview(self, token: str) -> dict[str, str]:
        """What the accept page shows before the invitee commits: org, address, role."""
        ref = self._read(token)
        async with self.db.unit_of_work(ref.org_id) as conn:
            found = await store.invite(conn, ref.org_id, ref.row_id)
            self._usable(found, ref)
            assert found is not None
            org = await accounts_store.org_by_id(conn, ref.org_id)
        return {"org_name": org.name if org else "", "email": found.email, "role": found.role,
                "locale": found.locale}

    def _read(self, token: str) -> LinkRef:
        ref = self.signer.read(token, LinkKind.INVITE)
        if ref is None:
            raise AccountError(400, "invalid_token", "this invitation link is not valid")
        return ref

    @staticmethod
    def _usable(found: store.Invite | None, ref: LinkRef) -> None:
        """Refuse a link whose row is missing or holds another hash (400), or one used,
        revoked, resent or expired (410: it was valid once)."""
        if found is None:
            raise AccountError(400, "invalid_token", "this invitation link is not valid")
        if (not hmac.compare_digest(found.token_hash, ref.token_hash) or found.accepted_at
                or found.revoked_at):
            raise AccountError(410, "gone", "this invitation was already used or withdrawn")
        if found.expires_at <= datetime.now(UTC):
            raise AccountError(410, "gone", "this invitation has expired; ask for a new one")

