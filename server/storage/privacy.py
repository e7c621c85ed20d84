"""Data-subject rights in SQL: a visitor's processing state, consent records, the org's
notice, rights requests, and what an export reads and an erasure deletes (migration 0018).
Message text stays messages.py's: exports read it through `messages.after`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from server.storage import messages
from server.storage.envelope import Field, associated, is_sealed
from server.storage.keys import Keyring, SubjectKey


@dataclass(frozen=True, slots=True)
class VisitorState:
    id: UUID
    restricted: bool
    objection: str | None
    erased_at: datetime | None
    reported_minor_at: datetime | None
    created_at: datetime


def _open(subject: SubjectKey | None, value: str | None, ad: bytes) -> str | None:
    """A column that may be sealed (or plaintext from before encryption); None once the
    key is gone."""
    if value is None or not is_sealed(value):
        return value
    if subject is None or subject.key is None:
        return None
    return subject.key.open_text(value, ad)


async def visitor_state(conn: asyncpg.Connection, keys: Keyring, org_id: UUID,
                        visitor_id: UUID) -> VisitorState | None:
    row = await conn.fetchrow(
        "SELECT id, restricted, objection, erased_at, reported_minor_at, created_at"
        " FROM visitors WHERE org_id = $1 AND id = $2", org_id, visitor_id)
    if row is None:
        return None
    objection = row["objection"]
    if objection is not None:
        subject = await keys.for_visitor(conn, org_id, visitor_id)
        objection = _open(subject, objection,
                          associated(Field.VISITOR_OBJECTION, org_id, visitor_id))
    return VisitorState(row["id"], row["restricted"], objection, row["erased_at"],
                        row["reported_minor_at"], row["created_at"])


async def conversation_count(conn: asyncpg.Connection, org_id: UUID, visitor_id: UUID) -> int:
    return int(await conn.fetchval(
        "SELECT count(*) FROM conversations WHERE org_id = $1 AND visitor_id = $2",
        org_id, visitor_id))


async def ensure_visitor(conn: asyncpg.Connection, org_id: UUID, visitor_id: UUID) -> None:
    """A visitor who never wrote has no row yet: a consent or a tombstone needs one."""
    await conn.execute(
        "INSERT INTO visitors (id, org_id) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        visitor_id, org_id)


async def open_request(conn: asyncpg.Connection, org_id: UUID, visitor_id: UUID,
                       kind: str) -> UUID | None:
    """The oldest open request of this kind for the visitor."""
    return await conn.fetchval(
        "SELECT id FROM privacy_requests WHERE org_id = $1 AND visitor_id = $2"
        " AND kind = $3 AND status = 'open' ORDER BY received_at LIMIT 1",
        org_id, visitor_id, kind)


async def is_member(conn: asyncpg.Connection, org_id: UUID, user_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM users WHERE org_id = $1 AND id = $2",
                                    org_id, user_id))


async def org_name(conn: asyncpg.Connection, org_id: UUID) -> str | None:
    return await conn.fetchval("SELECT name FROM orgs WHERE id = $1", org_id)


async def is_erased(conn: asyncpg.Connection, org_id: UUID, visitor_id: UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT erased_at IS NOT NULL FROM visitors WHERE org_id = $1 AND id = $2",
        org_id, visitor_id))


async def set_processing(conn: asyncpg.Connection, keys: Keyring, org_id: UUID,
                         visitor_id: UUID, restricted: bool, objection: str | None) -> bool:
    """False when the org has no such visitor (or it was erased)."""
    sealed = None
    if objection is not None:
        key = (await keys.for_visitor(conn, org_id, visitor_id)).usable()
        sealed = key.seal_text(objection, associated(Field.VISITOR_OBJECTION, org_id,
                                                     visitor_id))
    status = await conn.execute(
        "UPDATE visitors SET restricted = $3, objection = CASE WHEN $3 THEN $4 END"
        " WHERE org_id = $1 AND id = $2 AND erased_at IS NULL",
        org_id, visitor_id, restricted, sealed)
    return status != "UPDATE 0"


async def bot_conversations(conn: asyncpg.Connection, org_id: UUID,
                            visitor_id: UUID) -> list[UUID]:
    return [r["id"] for r in await conn.fetch(
        "SELECT id FROM conversations WHERE org_id = $1 AND visitor_id = $2 AND mode = 'bot'",
        org_id, visitor_id)]


async def add_consent(conn: asyncpg.Connection, org_id: UUID, visitor_id: UUID,
                      notice_version: str, granted: bool, source: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        "INSERT INTO consent_records (id, org_id, visitor_id, notice_version, granted, source)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, notice_version, granted, source,"
        " created_at", uuid4(), org_id, visitor_id, notice_version, granted, source)
    assert row is not None  # INSERT ... RETURNING: one row
    return _consent(row)


def _consent(row: asyncpg.Record) -> dict[str, Any]:
    return {"consent_id": str(row["id"]), "notice_version": row["notice_version"],
            "granted": row["granted"], "source": row["source"],
            "at": row["created_at"].isoformat()}


async def consents(conn: asyncpg.Connection, org_id: UUID,
                   visitor_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, notice_version, granted, source, created_at FROM consent_records"
        " WHERE org_id = $1 AND visitor_id = $2 ORDER BY created_at, id", org_id, visitor_id)
    return [_consent(r) for r in rows]


async def notice(conn: asyncpg.Connection, org_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT notice_required, notice_version, notice_text, closed_retention_days"
        " FROM org_privacy WHERE org_id = $1", org_id)
    if row is None:
        return {"notice_required": False, "notice_version": None, "notice_text": None,
                "closed_retention_days": None}
    return dict(row)


async def set_notice(conn: asyncpg.Connection, org_id: UUID, changes: dict[str, Any]) -> None:
    current = await notice(conn, org_id)
    current.update(changes)
    await conn.execute(
        "INSERT INTO org_privacy (org_id, notice_required, notice_version, notice_text,"
        " closed_retention_days) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id) DO UPDATE"
        " SET notice_required = $2, notice_version = $3, notice_text = $4,"
        " closed_retention_days = $5", org_id, current["notice_required"],
        current["notice_version"], current["notice_text"], current["closed_retention_days"])


# ---- export ------------------------------------------------------------------------------

_CONV_COLS = ("id, mode, created_at, updated_at, closed_at, queued_at, tags, csat_score,"
              " csat_comment, followup_email, last_seq, visitor_read_seq")


async def visitor_export(conn: asyncpg.Connection, keys: Keyring, org_id: UUID,
                         visitor_id: UUID, *, include_notes: bool) -> dict[str, Any]:
    """Everything stored about the visitor, opened: the visitor row, each conversation with
    its messages, unanswered questions they asked, consent records, mail they stopped, and
    their rights requests. Notes only for the org's own copy."""
    subject = await keys.for_visitor(conn, org_id, visitor_id)
    row = await conn.fetchrow(
        "SELECT id, name, email, locale, created_at, restricted, objection, erased_at,"
        " reported_minor_at FROM visitors WHERE org_id = $1 AND id = $2", org_id, visitor_id)
    assert row is not None  # the caller found the visitor in this transaction
    out: dict[str, Any] = {"visitor": {
        "id": str(visitor_id),
        "name": _open(subject, row["name"], associated(Field.VISITOR_NAME, org_id, visitor_id)),
        "email": _open(subject, row["email"],
                       associated(Field.VISITOR_EMAIL, org_id, visitor_id)),
        "locale": row["locale"], "created_at": row["created_at"].isoformat(),
        "restricted": row["restricted"],
        "objection": _open(subject, row["objection"],
                           associated(Field.VISITOR_OBJECTION, org_id, visitor_id)),
        "erased_at": row["erased_at"] and row["erased_at"].isoformat(),
        "reported_minor_at": row["reported_minor_at"] and row["reported_minor_at"].isoformat(),
    }}
    conversations = []
    for c in await conn.fetch(
            f"SELECT {_CONV_COLS} FROM conversations WHERE org_id = $1 AND visitor_id = $2"
            " ORDER BY created_at, id", org_id, visitor_id):
        conv_id = c["id"]
        events: list[messages.StoredEvent] = []
        while True:
            batch = await messages.after(conn, keys, org_id, conv_id,
                                         events[-1].seq if events else 0,
                                         include_notes=include_notes)
            events += batch
            if len(batch) < messages.REPLAY_BATCH:
                break
        conversations.append({
            "id": str(conv_id), "mode": c["mode"], "created_at": c["created_at"].isoformat(),
            "updated_at": c["updated_at"].isoformat(),
            "closed_at": c["closed_at"] and c["closed_at"].isoformat(),
            "tags": list(c["tags"]), "csat_score": c["csat_score"],
            "csat_comment": _open(subject, c["csat_comment"],
                                  associated(Field.CSAT_COMMENT, org_id, conv_id)),
            "followup_email": _open(subject, c["followup_email"],
                                    associated(Field.FOLLOWUP_EMAIL, org_id, conv_id)),
            "messages": [{"seq": e.seq, "kind": e.kind, "author": e.author_role,
                          "author_name": e.author_name, "text": e.text,
                          "at": e.created_at.isoformat()} for e in events],
        })
    out["conversations"] = conversations
    out["unanswered_questions"] = [
        {"conversation_id": str(r["conversation_id"]), "at": r["created_at"].isoformat(),
         "question": _open(subject, r["question"],
                           associated(Field.UNANSWERED, org_id, r["id"]))}
        for r in await conn.fetch(
            "SELECT u.id, u.conversation_id, u.question, u.created_at FROM kb_unanswered u"
            " JOIN conversations c ON c.id = u.conversation_id AND c.org_id = u.org_id"
            " WHERE u.org_id = $1 AND c.visitor_id = $2 ORDER BY u.created_at", org_id,
            visitor_id)]
    out["consents"] = await consents(conn, org_id, visitor_id)
    out["mail_opt_outs"] = [
        {"kind": r["kind"], "at": r["created_at"].isoformat()} for r in await conn.fetch(
            "SELECT kind, created_at FROM mail_opt_outs WHERE org_id = $1 AND subject_id = $2",
            org_id, visitor_id)]
    out["requests"] = [request_json(r) for r in await conn.fetch(
        f"SELECT {_REQ_COLS} FROM privacy_requests WHERE org_id = $1 AND visitor_id = $2"
        " ORDER BY received_at", org_id, visitor_id)]
    return out


# ---- erasure -----------------------------------------------------------------------------

async def erase_rows(conn: asyncpg.Connection, org_id: UUID, visitor_id: UUID,
                     minor: bool = False) -> dict[str, Any]:
    """Delete what the visitor wrote or told (their key is already destroyed) and keep each
    conversation only as an anonymous skeleton: moved to a new visitor row that holds
    nothing and that no token names, closed, without text, email or comment. The erased
    visitor's row stays as a tombstone (erased_at), so the key is never made again and
    their token is refused. Returns the ids of their conversations and what was deleted."""
    convs = [r["id"] for r in await conn.fetch(
        "SELECT id FROM conversations WHERE org_id = $1 AND visitor_id = $2 FOR UPDATE",
        org_id, visitor_id)]
    counts: dict[str, Any] = {"conversations": len(convs)}
    if convs:
        counts["messages"] = int((await conn.execute(
            "DELETE FROM events WHERE org_id = $1 AND conversation_id = ANY($2::uuid[])",
            org_id, convs)).split()[-1])
        await conn.execute(
            "DELETE FROM kb_unanswered WHERE org_id = $1 AND conversation_id = ANY($2::uuid[])",
            org_id, convs)
        await conn.execute(
            "DELETE FROM conversation_notices WHERE org_id = $1"
            " AND conversation_id = ANY($2::uuid[])", org_id, convs)
        anonymous = uuid4()
        await conn.execute("INSERT INTO visitors (id, org_id) VALUES ($1, $2)", anonymous,
                           org_id)
        await conn.execute(
            "UPDATE conversations SET visitor_id = $3, followup_email = NULL,"
            " csat_comment = NULL, needs_human = false, queued_at = NULL,"
            " closed_at = coalesce(closed_at, now()), mode = 'closed'"
            " WHERE org_id = $1 AND id = ANY($2::uuid[])", org_id, convs, anonymous)
    await conn.execute("DELETE FROM consent_records WHERE org_id = $1 AND visitor_id = $2",
                       org_id, visitor_id)
    await conn.execute("DELETE FROM mail_opt_outs WHERE org_id = $1 AND subject_id = $2",
                       org_id, visitor_id)
    await conn.execute(
        "INSERT INTO visitors (id, org_id) VALUES ($2, $1) ON CONFLICT (id) DO NOTHING",
        org_id, visitor_id)
    await conn.execute(
        "UPDATE visitors SET name = NULL, email = NULL, locale = NULL, objection = NULL,"
        " restricted = true, erased_at = now(),"
        " reported_minor_at = CASE WHEN $3 THEN now() ELSE reported_minor_at END"
        " WHERE org_id = $1 AND id = $2", org_id, visitor_id, minor)
    counts["conversation_ids"] = [str(c) for c in convs]
    return counts


# ---- requests ----------------------------------------------------------------------------

_REQ_COLS = ("id, kind, visitor_id, source, received_at, due_at, status, completed_at,"
             " evidence, verified_by, created_by, subject_email")


def request_json(row: asyncpg.Record, email: str | None = None) -> dict[str, Any]:
    return {"request_id": str(row["id"]), "kind": row["kind"],
            "subject": {"visitor_id": row["visitor_id"] and str(row["visitor_id"]),
                        "email": email},
            "source": row["source"], "received_at": row["received_at"].isoformat(),
            "due_at": row["due_at"].isoformat(), "status": row["status"],
            "completed_at": row["completed_at"] and row["completed_at"].isoformat(),
            "evidence": row["evidence"],
            "verified_by": row["verified_by"] and str(row["verified_by"]),
            "created_by": row["created_by"] and str(row["created_by"])}


async def add_request(conn: asyncpg.Connection, org_id: UUID, *, kind: str,
                      visitor_id: UUID | None, sealed_email: str | None, source: str,
                      received_at: datetime, due_at: datetime, verified_by: UUID | None,
                      created_by: UUID | None, request_id: UUID | None = None
                      ) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO privacy_requests (id, org_id, kind, visitor_id, subject_email, source,"
        " received_at, due_at, verified_by, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7,"
        f" $8, $9, $10) RETURNING {_REQ_COLS}", request_id or uuid4(), org_id, kind,
        visitor_id, sealed_email, source, received_at, due_at, verified_by, created_by)
    assert row is not None  # INSERT ... RETURNING: one row
    return row


async def complete_request(conn: asyncpg.Connection, org_id: UUID, request_id: UUID,
                           status: str, evidence: dict[str, Any],
                           at: datetime) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE privacy_requests SET status = $3, evidence = $4, completed_at = $5"
        f" WHERE org_id = $1 AND id = $2 AND status = 'open' RETURNING {_REQ_COLS}",
        org_id, request_id, status, evidence, at)


async def list_requests(conn: asyncpg.Connection, org_id: UUID, status: str | None,
                        limit: int, after: tuple[datetime, UUID] | None
                        ) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_REQ_COLS} FROM privacy_requests WHERE org_id = $1"
        " AND ($2::text IS NULL OR status = $2)"
        " AND ($3::timestamptz IS NULL OR (due_at, id) > ($3, $4::uuid))"
        " ORDER BY due_at, id LIMIT $5", org_id, status, after and after[0],
        after and after[1], limit)


async def request_by_id(conn: asyncpg.Connection, org_id: UUID,
                        request_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_REQ_COLS} FROM privacy_requests WHERE org_id = $1 AND id = $2",
        org_id, request_id)


async def requests_due(conn: asyncpg.Connection, now: datetime,
                       limit: int) -> list[tuple[UUID, UUID, bool]]:
    """Inside `Database.system(SystemJob.RETENTION)`: every org's open requests at 7 days
    left or overdue that have not been mailed about."""
    rows = await conn.fetch("SELECT * FROM clienta_privacy_requests_due($1, $2)", now, limit)
    return [(r["org_id"], r["request_id"], r["overdue"]) for r in rows]


async def mark_mailed(conn: asyncpg.Connection, org_id: UUID, request_id: UUID,
                      overdue: bool, at: datetime) -> bool:
    column = "overdue_mailed_at" if overdue else "reminded_at"
    status = await conn.execute(
        f"UPDATE privacy_requests SET {column} = $3 WHERE org_id = $1 AND id = $2"
        f" AND {column} IS NULL AND status = 'open'", org_id, request_id, at)
    return status != "UPDATE 0"
