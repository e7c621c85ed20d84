"""An account's end (PDPA; docs/privacy.md "Account lifecycle"): an owner terminates the org
(service stops, export open 30 days, purge after it), the purge crypto-shreds and deletes,
and a user exports or deletes their own account. Each step is mailed."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from server.domain.audit import Actor, AuditAction, Target, TargetKind
from server.hub.rooms import Hub, org_channel, room
from server.mail import privacy_templates as mails
from server.mail.base import Mail, Mailer
from server.protocol.codes import CloseCode
from server.services.accounts import Principal, hash_token
from server.services.agents import user_channel
from server.services.audit import AuditLog
from server.services.keys import KeyService
from server.services.metering import queue_mail
from server.services.privacy import zip_tables
from server.services.staff_sessions import OP_REVOKE
from server.storage import billing as billing_store
from server.storage import lifecycle as store
from server.storage.db import Database, SystemJob
from server.storage.lifecycle import ExportUser  # who an export token opens (http/ names it)

log = logging.getLogger("clienta.lifecycle")

OP_ORG_CLOSED = "org_closed"
PURGE_BATCH = 20  # orgs purged per job run (each is several statements and a mail)


class LifecycleError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    public_url: str
    export_days: int = 30  # the export stays open this long after termination
    purge_by_days: int = 60  # the promise: erased by then (the purge runs after export_days)


def utc_now() -> datetime:
    return datetime.now(UTC)


class OrgLifecycle:
    def __init__(self, db: Database, hub: Hub, keys: KeyService, audit: AuditLog,
                 mailer: Mailer, command: Callable[..., Any],
                 policy: LifecyclePolicy, clock: Callable[[], datetime] = utc_now) -> None:
        self.db = db
        self.hub = hub
        self.keys = keys
        self.audit = audit
        self.mailer = mailer  # the purge's mail: the org's outbox goes with the org
        self.command = command  # Redis
        self.policy = policy
        self.clock = clock
        hub.on_control(self._on_control)

    # ---- termination -------------------------------------------------------------------

    async def terminate(self, me: Principal, confirm: str, actor: Actor) -> dict[str, Any]:
        """Stop the service for the org: its site key finds nothing, its tokens open only the
        export (migrations/0019), its open sockets close with 4003 on every process."""
        now = self.clock()
        async with self.db.unit_of_work(me.org_id) as conn:
            name, _ = await store.org_state(conn, me.org_id)
            if confirm != name:
                raise LifecycleError(422, "confirm_mismatch",
                                     "confirm must be the organisation's name, exactly")
            if await store.terminate(conn, me.org_id, me.user_id, now) is None:
                raise LifecycleError(409, "terminated", "the account is already terminated")
            await self.audit.record(conn, me.org_id, actor, AuditAction.ORG_TERMINATED,
                                    Target(TargetKind.ORG, me.org_id))
            export_until, purge_by = self._dates(now)
            for email, locale in await billing_store.owners(conn, me.org_id):
                rendered = mails.org_terminated(
                    locale, org_name=name, date=now.date().isoformat(),
                    export_until=export_until.date().isoformat(),
                    purge_by=purge_by.date().isoformat(),
                    url=f"{self.policy.public_url}/console#export")
                await queue_mail(conn, self.db.keys, me.org_id,
                                 mails.LifecycleMail.ORG_TERMINATED, email, locale, rendered)
            rooms = await store.open_conversations(conn, me.org_id)
        signal = {"op": OP_ORG_CLOSED, "org": str(me.org_id)}
        for channel in [org_channel(str(me.org_id))] + [room(str(c)) for c in rooms]:
            await self.hub.control(channel, signal)
        return {"terminated_at": now.isoformat(), "export_until": export_until.isoformat(),
                "purge_by": purge_by.isoformat()}

    def _dates(self, at: datetime) -> tuple[datetime, datetime]:
        return (at + timedelta(days=self.policy.export_days),
                at + timedelta(days=self.policy.purge_by_days))

    def _on_control(self, channel: str, message: dict[str, Any]) -> None:
        if message.get("op") != OP_ORG_CLOSED:
            return
        org = message.get("org")
        for conn in tuple(self.hub.members.get(channel, ())):
            if str(conn.org_id) == org:
                task = asyncio.get_running_loop().create_task(
                    conn.flush_and_close(CloseCode.FORBIDDEN, 1.0))
                task.add_done_callback(lambda t: t.cancelled() or t.exception())

    # ---- export ------------------------------------------------------------------------

    async def export_user(self, token: str) -> ExportUser:
        """Who may export with this token: any member of a live org (their own account), an
        owner while the org's export is open (the org's). 401 otherwise; 410 once closed."""
        if not token or len(token) > 512:
            raise LifecycleError(401, "unauthorized", "a valid bearer token is required")
        async with self.db.unscoped() as conn:
            user = await store.export_user(conn, hash_token(token))
        if user is None:
            raise LifecycleError(401, "unauthorized", "a valid bearer token is required")
        if user.terminated_at is not None and \
                self.clock() >= self._dates(user.terminated_at)[0]:
            raise LifecycleError(410, "export_closed", "the export window has closed")
        return user

    async def org_export(self, user: ExportUser, actor: Actor) -> dict[str, Any]:
        if user.role != "owner":
            raise LifecycleError(403, "forbidden", "only an owner exports the organisation")
        async with self.db.unit_of_work(user.org_id) as conn:
            data = await store.org_export(conn, self.db.keys, user.org_id)
            await self.audit.record(conn, user.org_id, actor, AuditAction.DATA_EXPORTED,
                                    Target(TargetKind.ORG, user.org_id))
        data["exported_at"] = self.clock().isoformat()
        return data

    async def user_export(self, user: ExportUser, actor: Actor) -> dict[str, Any]:
        """A member's own account: their row and what the audit log says they did."""
        async with self.db.unit_of_work(user.org_id) as conn:
            me = await store.users(conn, user.org_id, user.user_id)
            activity = await store.own_activity(conn, user.org_id, user.user_id)
            await self.audit.record(conn, user.org_id, actor, AuditAction.DATA_EXPORTED,
                                    Target(TargetKind.USER, user.user_id))
        return {"user": me[0] if me else None, "activity": activity,
                "exported_at": self.clock().isoformat()}

    async def policy_versions(self) -> dict[str, Any]:
        """The policy's versions, newest first, and the material change still ahead."""
        async with self.db.unscoped() as conn:
            versions = await store.policy_versions(conn)
        today = self.clock().date().isoformat()
        upcoming = [v for v in versions if v["material"] and v["effective_on"] > today]
        return {"versions": versions, "upcoming": upcoming[-1] if upcoming else None}

    # ---- a user's own account ----------------------------------------------------------

    async def confirm_age(self, org_id: UUID, user_id: UUID) -> None:
        """Sign-up's confirmation that the person is 20 or older, on record."""
        async with self.db.unit_of_work(org_id) as conn:
            await store.confirm_age(conn, org_id, user_id, self.clock())

    async def delete_me(self, me: Principal, actor: Actor) -> None:
        """The last owner cannot leave an org without one: they transfer ownership or
        terminate first (409 last_owner)."""
        async with self.db.unit_of_work(me.org_id) as conn:
            if me.role == "owner" and await store.owner_count(conn, me.org_id) <= 1:
                raise LifecycleError(409, "last_owner", "make another member an owner or "
                                     "terminate the account first")
            user = await store.users(conn, me.org_id, me.user_id)
            if not await store.delete_user(conn, me.org_id, me.user_id):
                raise LifecycleError(401, "unauthorized", "a valid bearer token is required")
            await self.audit.record(conn, me.org_id, actor, AuditAction.USER_REMOVED,
                                    Target(TargetKind.USER, me.user_id))
            name, _ = await store.org_state(conn, me.org_id)
            locale = user[0]["locale"] if user else "en"
            await queue_mail(conn, self.db.keys, me.org_id, mails.LifecycleMail.ACCOUNT_DELETED,
                             me.email, locale, mails.account_deleted(locale, org_name=name))
        # their tokens went with the row; their open sockets close on every process (4001),
        # as StaffSessions.revoke does
        await self.hub.control(user_channel(me.user_id),
                               {"op": OP_REVOKE, "user": str(me.user_id)})

    # ---- the purge (a retention job) ---------------------------------------------------

    async def purge_due(self, now: datetime) -> int:
        """Erase every org whose export window has closed: the key first (nothing of theirs
        opens again, in any copy, even if what follows is cut short), then the rows, the
        Redis keys, and a mail to the owners. Returns how many orgs were purged."""
        before = now - timedelta(days=self.policy.export_days)
        async with self.db.system(SystemJob.RETENTION) as conn:
            due = await store.orgs_to_purge(conn, before, PURGE_BATCH)
        for org_id in due:
            async with self.db.unit_of_work(org_id) as conn:
                name, terminated = await store.org_state(conn, org_id)
                owners = await billing_store.owners(conn, org_id)
                conversations = await store.conversation_ids(conn, org_id)
            await self.keys.erase_org(org_id, Actor.system("retention"))
            async with self.db.unit_of_work(org_id) as conn:
                await store.delete_org(conn, org_id)
            await self._drop_redis(org_id, conversations)
            for email, locale in owners:
                await self._mail_purged(org_id, email, locale, name or "",
                                        terminated.date().isoformat() if terminated else "")
            log.info("org purged", extra={"org_id": str(org_id)})
        return len(due)

    async def _drop_redis(self, org_id: UUID, conversations: list[UUID]) -> None:
        keys = [f"bs:{c}" for c in conversations]
        keys += [f"pr:{org_id}:{status}" for status in ("online", "away")]
        for start in range(0, len(keys), 500):
            await self.command("DEL", *keys[start:start + 500])

    async def _mail_purged(self, org_id: UUID, email: str, locale: str, name: str,
                           date: str) -> None:
        rendered = mails.org_purged(locale, org_name=name, date=date)
        key = hashlib.sha256(f"org-purged|{org_id}|{email}".encode()).hexdigest()
        try:
            await self.mailer.send(Mail(email, rendered.subject, rendered.text, rendered.html,
                                        locale), key)
        except Exception:
            # the org's outbox is gone with it: one attempt, logged without the address
            log.exception("purge confirmation not sent", extra={"org_id": str(org_id)})


# ---- the org export's CSV form ---------------------------------------------------------------

def _table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    cols = list(rows[0]) if rows else []
    return cols, [[r.get(c) for c in cols] for r in rows]


def org_archive(data: dict[str, Any]) -> bytes:
    """One zip: the export as export.json and one CSV per table (visitors, conversations,
    messages, consents, requests, users, KB documents, audit log)."""
    visitors = data["visitors"]
    conversations = [{"visitor_id": v["visitor"]["id"],
                      **{k: (";".join(x) if k == "tags" else x) for k, x in c.items()
                         if k != "messages"}}
                     for v in visitors for c in v["conversations"]]
    messages = [{"conversation_id": c["id"], **m}
                for v in visitors for c in v["conversations"] for m in c["messages"]]
    tables = {
        "users.csv": _table(data["users"]),
        "visitors.csv": _table([v["visitor"] for v in visitors]),
        "conversations.csv": _table(conversations),
        "messages.csv": _table(messages),
        "consents.csv": _table([{"visitor_id": v["visitor"]["id"], **c}
                                for v in visitors for c in v["consents"]]),
        "requests.csv": _table([{"visitor_id": v["visitor"]["id"], **r}
                                for v in visitors for r in v["requests"]]),
        "kb_documents.csv": _table(data["kb_documents"]),
        "audit_log.csv": _table(data["audit_log"]),
    }
    return zip_tables(data, tables)
