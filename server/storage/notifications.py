"""Notification state (migrations/0017): the org's inbox address and waiting threshold,
stopped kinds of mail, known sign-in devices, and what each conversation was mailed about;
the two sweeps' cross-org candidate lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg


@dataclass(frozen=True, slots=True)
class OrgNotifications:
    inbox_email: str | None  # None: the owners' addresses
    waiting_alert_s: int | None  # None: the server's default


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: UUID
    email: str
    locale: str
    role: str


async def org_settings(conn: asyncpg.Connection, org_id: UUID) -> OrgNotifications:
    row = await conn.fetchrow("SELECT inbox_email, waiting_alert_s FROM org_notifications"
                              " WHERE org_id = $1", org_id)
    return OrgNotifications(row["inbox_email"], row["waiting_alert_s"]) if row else \
        OrgNotifications(None, None)


async def put_org_settings(conn: asyncpg.Connection, org_id: UUID,
                           settings: OrgNotifications) -> None:
    await conn.execute(
        "INSERT INTO org_notifications (org_id, inbox_email, waiting_alert_s)"
        " VALUES ($1, $2, $3) ON CONFLICT (org_id) DO UPDATE SET"
        " inbox_email = EXCLUDED.inbox_email, waiting_alert_s = EXCLUDED.waiting_alert_s",
        org_id, settings.inbox_email, settings.waiting_alert_s)


async def opted_out(conn: asyncpg.Connection, org_id: UUID, subject_ids: list[UUID],
                    kind: str) -> set[UUID]:
    """Which of `subject_ids` stopped `kind`."""
    rows = await conn.fetch("SELECT subject_id FROM mail_opt_outs WHERE org_id = $1"
                            " AND subject_id = ANY($2::uuid[]) AND kind = $3",
                            org_id, subject_ids, kind)
    return {r["subject_id"] for r in rows}


async def set_opt_out(conn: asyncpg.Connection, org_id: UUID, subject_id: UUID, kind: str,
                      stopped: bool) -> None:
    if stopped:
        await conn.execute("INSERT INTO mail_opt_outs (org_id, subject_id, kind)"
                           " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                           org_id, subject_id, kind)
    else:
        await conn.execute("DELETE FROM mail_opt_outs WHERE org_id = $1 AND subject_id = $2"
                           " AND kind = $3", org_id, subject_id, kind)


async def see_device(conn: asyncpg.Connection, org_id: UUID, user_id: UUID,
                     fingerprint: bytes) -> tuple[bool, bool]:
    """Record a sign-in's device: (new to this user, the user had devices before). The
    user's row is locked first, so two sign-ins at once from one new device alert once."""
    await conn.execute("SELECT 1 FROM users WHERE org_id = $1 AND id = $2 FOR UPDATE",
                       org_id, user_id)
    had = await conn.fetchval("SELECT count(*) FROM known_devices WHERE org_id = $1"
                              " AND user_id = $2", org_id, user_id)
    inserted = await conn.fetchval(
        "INSERT INTO known_devices (org_id, user_id, fingerprint) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true", org_id, user_id, fingerprint)
    if not inserted:
        await conn.execute("UPDATE known_devices SET last_seen = now() WHERE org_id = $1"
                           " AND user_id = $2 AND fingerprint = $3", org_id, user_id, fingerprint)
    return bool(inserted), had > 0


async def staff(conn: asyncpg.Connection, org_id: UUID, roles: tuple[str, ...]
                ) -> list[Recipient]:
    rows = await conn.fetch("SELECT id, email, locale, role FROM users WHERE org_id = $1"
                            " AND role = ANY($2::text[]) ORDER BY created_at", org_id, list(roles))
    return [Recipient(r["id"], r["email"], r["locale"], r["role"]) for r in rows]


async def user(conn: asyncpg.Connection, org_id: UUID, user_id: UUID) -> Recipient | None:
    row = await conn.fetchrow("SELECT id, email, locale, role FROM users WHERE org_id = $1"
                              " AND id = $2", org_id, user_id)
    return Recipient(row["id"], row["email"], row["locale"], row["role"]) if row else None


async def org_name(conn: asyncpg.Connection, org_id: UUID) -> str:
    return await conn.fetchval("SELECT name FROM orgs WHERE id = $1", org_id) or ""


async def replies_due(conn: asyncpg.Connection, before: datetime,
                      limit: int) -> list[tuple[UUID, UUID]]:
    """(org, conversation) of every org with replies to mail. Only inside Database.system."""
    rows = await conn.fetch("SELECT org_id, conversation_id FROM clienta_replies_due($1, $2)",
                            before, limit)
    return [(r["org_id"], r["conversation_id"]) for r in rows]


async def waits_due(conn: asyncpg.Connection, default_s: int,
                    limit: int) -> list[tuple[UUID, UUID, datetime]]:
    rows = await conn.fetch("SELECT org_id, conversation_id, queued_at"
                            " FROM clienta_waits_due($1, $2)", default_s, limit)
    return [(r["org_id"], r["conversation_id"], r["queued_at"]) for r in rows]


async def take_replies(conn: asyncpg.Connection, org_id: UUID,
                       conversation_id: UUID) -> tuple[int, int, UUID] | None:
    """Lock the conversation's notice row and move it to the conversation's last seq: the
    (from, to] range of events this mail covers, and the visitor. None when another
    sweep took it first, or the visitor read everything meanwhile."""
    row = await conn.fetchrow(
        "SELECT c.last_seq, c.visitor_read_seq, c.visitor_id FROM conversations c"
        " WHERE c.org_id = $1 AND c.id = $2 AND c.followup_email IS NOT NULL",
        org_id, conversation_id)
    if row is None:
        return None
    mailed = await conn.fetchval(
        "INSERT INTO conversation_notices (org_id, conversation_id) VALUES ($1, $2)"
        " ON CONFLICT (conversation_id) DO UPDATE SET org_id = EXCLUDED.org_id"
        " RETURNING replies_mailed_seq", org_id, conversation_id)
    start = max(mailed, row["visitor_read_seq"])
    if row["last_seq"] <= start:
        return None
    await conn.execute("UPDATE conversation_notices SET replies_mailed_seq = $3"
                       " WHERE org_id = $1 AND conversation_id = $2",
                       org_id, conversation_id, row["last_seq"])
    return start, row["last_seq"], row["visitor_id"]


async def take_wait(conn: asyncpg.Connection, org_id: UUID, conversation_id: UUID,
                    queued_at: datetime) -> bool:
    """Mark this wait alerted; False when another sweep did, or it is no longer waiting."""
    still = await conn.fetchval("SELECT 1 FROM conversations WHERE org_id = $1 AND id = $2"
                                " AND mode = 'queued' AND queued_at = $3",
                                org_id, conversation_id, queued_at)
    if not still:
        return False
    status = await conn.execute(
        "INSERT INTO conversation_notices (org_id, conversation_id, waiting_alerted_for)"
        " VALUES ($1, $2, $3) ON CONFLICT (conversation_id) DO UPDATE"
        " SET waiting_alerted_for = EXCLUDED.waiting_alerted_for"
        " WHERE conversation_notices.waiting_alerted_for IS DISTINCT FROM"
        " EXCLUDED.waiting_alerted_for", org_id, conversation_id, queued_at)
    return status == "INSERT 0 1"
