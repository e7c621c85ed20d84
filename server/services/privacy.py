"""Data-subject rights (PDPA sections 30-36) for a visitor, asked by themselves (the widget's
visitor token) or by their org: export, rectify, restrict or object, consent, erase; every
request recorded with its 30-day deadline, owners reminded (docs/privacy.md)."""

from __future__ import annotations

import csv
import io
import json
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from server.domain.audit import Actor, AuditAction, Target, TargetKind
from server.domain.modes import Trigger
from server.mail import templates
from server.services.agents import AgentService
from server.services.audit import AuditLog
from server.services.bot import BotRunner
from server.services.conversations import ConversationService
from server.services.keys import KeyService
from server.services.metering import queue_mail
from server.storage import billing as billing_store
from server.storage import conversations as convs
from server.storage import privacy as store
from server.storage.db import Database, SystemJob
from server.storage.envelope import Field, associated

log = logging.getLogger("clienta.privacy")

# PDPA: every request answered within 30 days of receipt; owners hear at 7 days left
REQUEST_DAYS = 30
DUE_BATCH = 200  # requests mailed about per sweep transaction


class RequestKind(StrEnum):
    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    RESTRICTION = "restriction"
    PORTABILITY = "portability"
    OBJECTION = "objection"
    WITHDRAWAL = "withdrawal"


class RequestSource(StrEnum):
    WIDGET = "widget"  # the visitor themselves, by their token
    API = "api"  # an owner or admin acting on the visitor's behalf
    EMAIL = "email"  # received by email, entered by an admin who verified the requester


class NoSuchVisitor(Exception):
    """The org has no such visitor, or it was erased."""


class RequestRefused(Exception):
    """A request that cannot be recorded as given (its message says why, for a 4xx)."""


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks: the visitor (source widget) or a staff member (source api or email)."""

    actor: Actor
    source: RequestSource
    user_id: UUID | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


class PrivacyService:
    def __init__(self, db: Database, keys: KeyService, audit: AuditLog,
                 conversations: ConversationService, bot: BotRunner, agents: AgentService,
                 command: Callable[..., Any], *, public_url: str,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.db = db
        self.keys = keys
        self.audit = audit
        self.conversations = conversations
        self.bot = bot
        self.agents = agents
        self.command = command  # Redis: the erased visitor's stream snapshots
        self.public_url = public_url
        self.clock = clock

    # ---- the rights --------------------------------------------------------------------

    async def is_erased(self, org_id: UUID, visitor_id: UUID) -> bool:
        async with self.db.unit_of_work(org_id) as conn:
            return await store.is_erased(conn, org_id, visitor_id)

    async def _live_visitor(self, conn: Any, org_id: UUID, visitor_id: UUID) -> None:
        state = await store.visitor_state(conn, self.db.keys, org_id, visitor_id)
        if state is None or state.erased_at is not None:
            raise NoSuchVisitor("no such visitor")

    async def find(self, org_id: UUID, *, visitor_id: UUID | None = None,
                   email: str | None = None) -> list[dict[str, Any]]:
        """The console's lookup: a visitor by id, or every visitor who gave this address
        (the keyed blind index: exact, case-insensitive). Erased visitors are listed as
        such, with nothing of theirs."""
        async with self.db.unit_of_work(org_id) as conn:
            ids = ([visitor_id] if visitor_id is not None
                   else await convs.visitors_by_email(conn, self.db.keys, org_id, email or ""))
            found = []
            for vid in ids[:50]:  # one address is rarely given by more than a handful
                state = await store.visitor_state(conn, self.db.keys, org_id, vid)
                if state is None:
                    continue
                details = ({} if state.erased_at else
                           await convs.visitor_details(conn, self.db.keys, org_id, vid))
                found.append({
                    "visitor_id": str(vid), "name": details.get("name"),
                    "email": details.get("email"), "restricted": state.restricted,
                    "objection": state.objection,
                    "erased_at": state.erased_at and state.erased_at.isoformat(),
                    "reported_minor_at": (state.reported_minor_at
                                          and state.reported_minor_at.isoformat()),
                    "created_at": state.created_at.isoformat(),
                    "conversations": await store.conversation_count(conn, org_id, vid)})
            return found

    async def export(self, org_id: UUID, visitor_id: UUID, by: Requester) -> dict[str, Any]:
        """Everything stored about the visitor; notes only for the org's own copy."""
        async with self.db.unit_of_work(org_id) as conn:
            await self._live_visitor(conn, org_id, visitor_id)
            # on record first, so the copy lists this request too
            await self._done_request(conn, org_id, visitor_id, RequestKind.ACCESS, by,
                                     {"action": "exported"})
            data = await store.visitor_export(conn, self.db.keys, org_id, visitor_id,
                                              include_notes=by.source != RequestSource.WIDGET)
            await self.audit.record(conn, org_id, by.actor, AuditAction.DATA_EXPORTED,
                                    Target(TargetKind.VISITOR, visitor_id))
        data["exported_at"] = self.clock().isoformat()
        return data

    async def rectify(self, org_id: UUID, visitor_id: UUID, by: Requester, *,
                      name: str | None, email: str | None) -> dict[str, Any]:
        async with self.db.unit_of_work(org_id) as conn:
            await self._live_visitor(conn, org_id, visitor_id)
            await convs.update_visitor(conn, self.db.keys, org_id, visitor_id, name=name,
                                       email=email)
            fields = [k for k, v in (("name", name), ("email", email)) if v is not None]
            await self._done_request(conn, org_id, visitor_id, RequestKind.RECTIFICATION, by,
                                     {"action": "rectified", "fields": fields})
            return await convs.visitor_details(conn, self.db.keys, org_id, visitor_id)

    async def set_processing(self, org_id: UUID, visitor_id: UUID, by: Requester, *,
                             restricted: bool, objection: str | None) -> dict[str, Any]:
        """Restricted (or objected to): people only, nothing of theirs to an AI provider.
        The database keeps their conversations out of bot mode from the commit on
        (migrations/0018); streams already running are stopped and open conversations
        handed to people."""
        async with self.db.unit_of_work(org_id) as conn:
            await self._live_visitor(conn, org_id, visitor_id)
            await store.set_processing(conn, self.db.keys, org_id, visitor_id, restricted,
                                       objection if restricted else None)
            kind = (RequestKind.OBJECTION if objection else RequestKind.RESTRICTION)
            await self._done_request(conn, org_id, visitor_id, kind, by,
                                     {"action": "restricted" if restricted else "lifted"})
            open_bot = await store.bot_conversations(conn, org_id, visitor_id)
        if restricted:
            for conv_id in open_bot:
                await self.bot.cancel(str(conv_id))
                if await self.conversations.change_mode(org_id, conv_id,
                                                        Trigger.VISITOR_HANDOFF):
                    await self.agents.after_queued(org_id, conv_id)
        return {"visitor_id": str(visitor_id), "restricted": restricted,
                "objection": objection if restricted else None}

    async def consent(self, org_id: UUID, visitor_id: UUID, by: Requester, *,
                      notice_version: str, granted: bool) -> dict[str, Any]:
        """A consent given or withdrawn, as one record each (withdrawing is one call too)."""
        async with self.db.unit_of_work(org_id) as conn:
            await store.ensure_visitor(conn, org_id, visitor_id)
            if await store.is_erased(conn, org_id, visitor_id):
                raise NoSuchVisitor("no such visitor")
            record = await store.add_consent(
                conn, org_id, visitor_id, notice_version, granted,
                "widget" if by.source == RequestSource.WIDGET else "admin")
            if not granted:
                await self._done_request(conn, org_id, visitor_id, RequestKind.WITHDRAWAL, by,
                                         {"action": "consent_withdrawn",
                                          "notice_version": notice_version})
        return record

    async def erase(self, org_id: UUID, visitor_id: UUID, by: Requester, *,
                    minor: bool = False) -> dict[str, Any]:
        """Crypto-shred the visitor's key first (so nothing of theirs opens again, in any
        copy, even if what follows is cut short), then delete their text and keep each
        conversation only as an anonymous skeleton; their stream snapshots go from Redis."""
        async with self.db.unit_of_work(org_id) as conn:
            if by.source != RequestSource.WIDGET:
                await self._live_visitor(conn, org_id, visitor_id)
            else:  # a visitor who never wrote has no row yet: the tombstone needs one
                await store.ensure_visitor(conn, org_id, visitor_id)
            bot_convs = await store.bot_conversations(conn, org_id, visitor_id)
        for conv_id in bot_convs:  # a running answer keeps no partial text after this
            await self.bot.cancel(str(conv_id))
        await self.keys.erase_visitor(org_id, visitor_id, by.actor)
        async with self.db.unit_of_work(org_id) as conn:
            counts = await store.erase_rows(conn, org_id, visitor_id, minor)
            evidence = {"action": "erased", "conversations": counts["conversations"],
                        "messages": counts.get("messages", 0)}
            await self._done_request(conn, org_id, visitor_id, RequestKind.ERASURE, by,
                                     evidence)
        for conv_id in counts["conversation_ids"]:
            await self.command("DEL", f"bs:{conv_id}")
        return evidence

    # ---- requests ----------------------------------------------------------------------

    async def _done_request(self, conn: Any, org_id: UUID, visitor_id: UUID,
                            kind: RequestKind, by: Requester, evidence: dict[str, Any]) -> None:
        """A right exercised at once is still a request on record, done with its evidence
        (an open request of the same kind for this visitor is completed by it)."""
        now = self.clock()
        open_id = await store.open_request(conn, org_id, visitor_id, kind.value)
        if open_id is None:
            row = await store.add_request(
                conn, org_id, kind=kind.value, visitor_id=visitor_id, sealed_email=None,
                source=by.source.value, received_at=now,
                due_at=now + timedelta(days=REQUEST_DAYS), verified_by=None,
                created_by=by.user_id)
            open_id = row["id"]
        await store.complete_request(conn, org_id, open_id, "done", evidence, now)

    async def record_request(self, org_id: UUID, by: Requester, *, kind: RequestKind,
                             visitor_id: UUID | None, email: str | None,
                             received_at: datetime | None,
                             verified_by: UUID | None) -> dict[str, Any]:
        """A request received outside the widget (by email, by phone, by letter): stored
        open, due 30 days after it was received. One made by email names who verified the
        requester's identity (the admin entering it, unless they name another member)."""
        now = self.clock()
        received = received_at or now
        if received > now + timedelta(minutes=5):
            raise RequestRefused("received_at must not be in the future")
        if visitor_id is None and email is None:
            raise RequestRefused("name the subject: visitor_id or email")
        if email is not None and verified_by is None:
            verified_by = by.user_id
        async with self.db.unit_of_work(org_id) as conn:
            if visitor_id is not None and await store.visitor_state(
                    conn, self.db.keys, org_id, visitor_id) is None:
                raise NoSuchVisitor("no such visitor")
            if verified_by is not None and not await store.is_member(conn, org_id,
                                                                     verified_by):
                raise RequestRefused("verified_by must be a member of this organisation")
            sealed = None
            if email is not None:
                key = await self.db.keys.org_key(conn, org_id)
                sealed = key.seal_text(email, associated(Field.REQUEST_EMAIL, org_id))
            row = await store.add_request(
                conn, org_id, kind=kind.value, visitor_id=visitor_id, sealed_email=sealed,
                source=(RequestSource.EMAIL if email is not None else by.source).value,
                received_at=received, due_at=received + timedelta(days=REQUEST_DAYS),
                verified_by=verified_by, created_by=by.user_id)
            return self._request_json(row, email, now)

    async def complete_request(self, org_id: UUID, request_id: UUID, status: str,
                               evidence: dict[str, Any]) -> dict[str, Any] | None:
        now = self.clock()
        async with self.db.unit_of_work(org_id) as conn:
            row = await store.complete_request(conn, org_id, request_id, status, evidence, now)
            if row is None:
                return None
            return self._request_json(row, await self._email(conn, org_id, row), now)

    async def requests(self, org_id: UUID, status: str | None, limit: int,
                       after: tuple[datetime, UUID] | None) -> list[dict[str, Any]]:
        now = self.clock()
        async with self.db.unit_of_work(org_id) as conn:
            rows = await store.list_requests(conn, org_id, status, limit, after)
            return [self._request_json(r, await self._email(conn, org_id, r), now)
                    for r in rows]

    async def _email(self, conn: Any, org_id: UUID, row: Any) -> str | None:
        if row["subject_email"] is None:
            return None
        key = await self.db.keys.org_key(conn, org_id)
        return key.open_text(row["subject_email"], associated(Field.REQUEST_EMAIL, org_id))

    @staticmethod
    def _request_json(row: Any, email: str | None, now: datetime) -> dict[str, Any]:
        out = store.request_json(row, email)
        if row["status"] == "open":
            out["days_left"] = (row["due_at"] - now).days
        return out

    async def remind_due(self, now: datetime | None = None) -> int:
        """The reminder job (services/retention.py): owners of each org with an open request
        at 7 days left, or overdue, are mailed once for each. Returns how many requests were
        mailed about."""
        now = now or self.clock()
        async with self.db.system(SystemJob.RETENTION) as conn:
            due = await store.requests_due(conn, now, DUE_BATCH)
        mailed = 0
        for org_id, request_id, overdue in due:
            async with self.db.unit_of_work(org_id) as conn:
                if not await store.mark_mailed(conn, org_id, request_id, overdue, now):
                    continue  # another process got there first
                row = await store.request_by_id(conn, org_id, request_id)
                assert row is not None  # mark_mailed has just updated it
                org_name = await store.org_name(conn, org_id)
                for email, locale in await billing_store.owners(conn, org_id):
                    rendered = templates.privacy_request_due(
                        locale, org_name=org_name or "", kind=row["kind"],
                        due=row["due_at"].date().isoformat(), overdue=overdue,
                        url=f"{self.public_url}/console#privacy")
                    await queue_mail(conn, self.db.keys, org_id,
                                     templates.MailKind.PRIVACY_REQUEST_DUE,
                                     email, locale or "en", rendered)
                mailed += 1
        return mailed


# ---- export formats ------------------------------------------------------------------------

def _rows(data: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """The export as tables, one CSV file each."""
    v = data["visitor"]
    tables: dict[str, tuple[list[str], list[list[Any]]]] = {
        "visitor.csv": (list(v), [list(v.values())])}
    conv_cols = ["id", "mode", "created_at", "updated_at", "closed_at", "tags", "csat_score",
                 "csat_comment", "followup_email"]
    tables["conversations.csv"] = (conv_cols, [
        [";".join(c[k]) if k == "tags" else c[k] for k in conv_cols]
        for c in data["conversations"]])
    msg_cols = ["conversation_id", "seq", "kind", "author", "author_name", "text", "at"]
    tables["messages.csv"] = (msg_cols, [
        [c["id"]] + [m[k] for k in msg_cols[1:]]
        for c in data["conversations"] for m in c["messages"]])
    for name, key in (("unanswered_questions.csv", "unanswered_questions"),
                      ("consents.csv", "consents"), ("mail_opt_outs.csv", "mail_opt_outs")):
        items = data[key]
        cols = list(items[0]) if items else []
        tables[name] = (cols, [list(i.values()) for i in items])
    req_cols = ["request_id", "kind", "source", "received_at", "due_at", "status",
                "completed_at"]
    tables["requests.csv"] = (req_cols, [[r[k] for k in req_cols] for r in data["requests"]])
    return tables


def export_archive(data: dict[str, Any]) -> bytes:
    """One zip: the whole export as export.json and as one CSV file per table."""
    return zip_tables(data, _rows(data))


def zip_tables(data: dict[str, Any],
               tables: dict[str, tuple[list[str], list[list[Any]]]]) -> bytes:
    """export.json and each table as CSV, in one zip (the org's export uses it too)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", json.dumps(data, ensure_ascii=False, indent=1))
        for name, (cols, rows) in tables.items():
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow(cols)
            writer.writerows(["" if c is None else c for c in row] for row in rows)
            # a BOM so spreadsheet programs read Thai as UTF-8
            archive.writestr(name, "\ufeff" + text.getvalue())
    return buffer.getvalue()
