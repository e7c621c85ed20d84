"""The data lifecycle in SQL (migrations/0019): an org's termination and what its export
reads, the purge's lookups, closed conversations past the org's retention, usage records
past 24 months, a user's own data, sign-up's age confirmation and the policy's versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from server.domain.audit import AuditFilter, Cursor
from server.storage import audit as audit_store
from server.storage import kb as kb_store
from server.storage import kb_review
from server.storage import privacy as privacy_store
from server.storage.keys import Keyring

PAGE = 500  # rows read per query while exporting


@dataclass(frozen=True, slots=True)
class ExportUser:
    """Who a token opens for an export, whatever the org's state."""

    user_id: UUID
    org_id: UUID
    role: str
    terminated_at: datetime | None


async def export_user(conn: asyncpg.Connection, token_hash: bytes) -> ExportUser | None:
    row = await conn.fetchrow(
        "SELECT user_id, org_id, role, terminated_at FROM clienta_export_user_by_token($1)",
        token_hash)
    return None if row is None else ExportUser(row["user_id"], row["org_id"], row["role"],
                                               row["terminated_at"])


async def org_state(conn: asyncpg.Connection, org_id: UUID) -> tuple[str, datetime | None]:
    """The org's name and when it was terminated (None: live)."""
    row = await conn.fetchrow("SELECT name, terminated_at FROM orgs WHERE id = $1", org_id)
    return ("", None) if row is None else (row["name"], row["terminated_at"])


async def own_activity(conn: asyncpg.Connection, org_id: UUID,
                       user_id: UUID) -> list[dict[str, Any]]:
    """What the audit log records a member did, newest first."""
    return [{"at": r["at"].isoformat(), "action": r["action"], "ip": r["ip"]}
            for r in await conn.fetch(
                "SELECT at, action, ip FROM audit_log WHERE org_id = $1 AND actor_id = $2"
                " ORDER BY at DESC, id DESC", org_id, user_id)]


async def terminate(conn: asyncpg.Connection, org_id: UUID, by: UUID,
                    at: datetime) -> str | None:
    """Mark the org terminated (once); its name, or None when it already was."""
    return await conn.fetchval(
        "UPDATE orgs SET terminated_at = $3, terminated_by = $2 WHERE id = $1"
        " AND terminated_at IS NULL RETURNING name", org_id, by, at)


async def open_conversations(conn: asyncpg.Connection, org_id: UUID) -> list[UUID]:
    return [r["id"] for r in await conn.fetch(
        "SELECT id FROM conversations WHERE org_id = $1 AND mode <> 'closed'", org_id)]


async def conversation_ids(conn: asyncpg.Connection, org_id: UUID) -> list[UUID]:
    return [r["id"] for r in await conn.fetch(
        "SELECT id FROM conversations WHERE org_id = $1", org_id)]


async def users(conn: asyncpg.Connection, org_id: UUID,
                user_id: UUID | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, email, name, role, locale, created_at, age_confirmed_at FROM users"
        " WHERE org_id = $1 AND ($2::uuid IS NULL OR id = $2) ORDER BY created_at",
        org_id, user_id)
    return [{"user_id": str(r["id"]), "email": r["email"], "name": r["name"],
             "role": r["role"], "locale": r["locale"], "created_at": r["created_at"].isoformat(),
             "age_confirmed_at": r["age_confirmed_at"] and r["age_confirmed_at"].isoformat()}
            for r in rows]


async def org_export(conn: asyncpg.Connection, keys: Keyring,
                     org_id: UUID) -> dict[str, Any]:
    """The whole org, opened: each visitor as their own export reads them (notes included),
    the knowledge base's documents with their text, the members and the audit log."""
    org = await conn.fetchrow("SELECT id, name, created_at, terminated_at FROM orgs"
                              " WHERE id = $1", org_id)
    assert org is not None  # the caller's token named this org in this transaction
    visitors = []
    for r in await conn.fetch("SELECT id FROM visitors WHERE org_id = $1 ORDER BY created_at",
                              org_id):
        visitors.append(await privacy_store.visitor_export(conn, keys, org_id, r["id"],
                                                           include_notes=True))
    documents = []
    offset = 0
    while True:
        batch = await kb_store.list_documents(conn, org_id, limit=PAGE, offset=offset)
        for d in batch:
            chunks = await kb_review.list_chunks(conn, org_id, d.id, limit=100_000, offset=0)
            documents.append({
                "id": str(d.id), "title": d.title, "url": d.url, "kind": d.kind.value,
                "filename": d.filename, "status": d.status.value,
                "created_at": d.created_at.isoformat(),
                "text": "\n\n".join(c.text for c in chunks)})
        if len(batch) < PAGE:
            break
        offset += PAGE
    audit: list[dict[str, Any]] = []
    after = None
    while True:
        entries = await audit_store.page(conn, org_id, AuditFilter(), after, PAGE)
        audit += [{"at": e.at.isoformat(), "actor_kind": e.actor.kind.value,
                   "actor": str(e.actor.id or e.actor.label or ""), "action": e.action,
                   "target": e.target and f"{e.target.kind.value}:{e.target.id or ''}",
                   "ip": e.actor.ip} for e in entries]
        if len(entries) < PAGE:
            break
        after = Cursor(entries[-1].at, entries[-1].id)
    return {"org": {"id": str(org_id), "name": org["name"],
                    "created_at": org["created_at"].isoformat(),
                    "terminated_at": org["terminated_at"] and org["terminated_at"].isoformat()},
            "users": await users(conn, org_id), "visitors": visitors,
            "kb_documents": documents, "audit_log": audit}


async def delete_org(conn: asyncpg.Connection, org_id: UUID) -> bool:
    """Every row of the org goes with it (each tenant table cascades from orgs); the audit
    log, which has no foreign key by design, keeps ids and truncated addresses only and is
    deleted by the usage purge at 24 months."""
    return await conn.execute("DELETE FROM orgs WHERE id = $1", org_id) == "DELETE 1"


async def orgs_to_purge(conn: asyncpg.Connection, before: datetime, limit: int) -> list[UUID]:
    """Inside `Database.system(SystemJob.RETENTION)`."""
    return [r[0] for r in await conn.fetch("SELECT * FROM clienta_orgs_to_purge($1, $2)",
                                           before, limit)]


async def orgs_with_retention(conn: asyncpg.Connection) -> list[tuple[UUID, int]]:
    """Inside `Database.system(SystemJob.RETENTION)`."""
    return [(r["org_id"], r["days"]) for r in await conn.fetch(
        "SELECT org_id, days FROM clienta_orgs_with_retention()")]


async def delete_closed(conn: asyncpg.Connection, org_id: UUID, before: datetime,
                        limit: int) -> list[UUID]:
    """Closed conversations closed before `before`, deleted with their events."""
    return [r["id"] for r in await conn.fetch(
        "DELETE FROM conversations WHERE id IN (SELECT id FROM conversations"
        " WHERE org_id = $1 AND mode = 'closed' AND closed_at < $2 LIMIT $3)"
        " AND org_id = $1 RETURNING id", org_id, before, limit)]


async def usage_purge(conn: asyncpg.Connection, before: datetime) -> int:
    """Inside `Database.system(SystemJob.RETENTION)`: every org's usage records before."""
    return int(await conn.fetchval("SELECT clienta_usage_purge($1)", before))


async def live_orgs(conn: asyncpg.Connection) -> list[UUID]:
    """Inside a system job: live orgs with an owner."""
    return [r[0] for r in await conn.fetch("SELECT * FROM clienta_live_orgs()")]


async def owner_count(conn: asyncpg.Connection, org_id: UUID) -> int:
    return int(await conn.fetchval(
        "SELECT count(*) FROM users WHERE org_id = $1 AND role = 'owner'", org_id))


async def delete_user(conn: asyncpg.Connection, org_id: UUID, user_id: UUID) -> bool:
    return await conn.execute("DELETE FROM users WHERE org_id = $1 AND id = $2",
                              org_id, user_id) == "DELETE 1"


async def confirm_age(conn: asyncpg.Connection, org_id: UUID, user_id: UUID,
                      at: datetime) -> None:
    await conn.execute("UPDATE users SET age_confirmed_at = $3 WHERE org_id = $1 AND id = $2",
                       org_id, user_id, at)


# ---- policy versions (global) --------------------------------------------------------------

async def publish_policy(conn: asyncpg.Connection, version: str, effective_on: date,
                         material: bool, summary: str | None, at: datetime) -> bool:
    """False when the version exists already."""
    status = await conn.execute(
        "INSERT INTO policy_versions (version, effective_on, material, summary, published_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (version) DO NOTHING",
        version, effective_on, material, summary, at)
    return status == "INSERT 0 1"


async def policy_versions(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [{"version": r["version"], "effective_on": r["effective_on"].isoformat(),
             "material": r["material"], "summary": r["summary"],
             "published_at": r["published_at"].isoformat()}
            for r in await conn.fetch(
                "SELECT version, effective_on, material, summary, published_at"
                " FROM policy_versions ORDER BY effective_on DESC, published_at DESC")]
