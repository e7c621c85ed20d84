"""The audit log table: appends and keyset pages. The only SQL that touches `audit_log`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from server.domain.audit import (
    Actor,
    ActorKind,
    AuditEntry,
    AuditFilter,
    Cursor,
    Target,
    TargetKind,
)


async def append(conn: asyncpg.Connection, org_id: UUID, actor: Actor, action: str,
                 target: Target | None, detail: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO audit_log (org_id, actor_kind, actor_id, actor_label, action,"
        " target_kind, target_id, ip, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        org_id, actor.kind.value, actor.id, actor.label, action,
        target.kind.value if target else None, target.id if target else None,
        actor.ip, detail)


def _entry(row: asyncpg.Record) -> AuditEntry:
    actor = Actor(ActorKind(row["actor_kind"]), row["actor_id"], row["actor_label"], row["ip"])
    target = (Target(TargetKind(row["target_kind"]), row["target_id"])
              if row["target_kind"] is not None else None)
    return AuditEntry(row["id"], row["at"], actor, row["action"], target, row["detail"])


async def page(conn: asyncpg.Connection, org_id: UUID, where: AuditFilter,
               after: Cursor | None, limit: int) -> list[AuditEntry]:
    """Newest first, strictly after `after`. Only the filters given become predicates (a
    fixed text per filter): a generic plan of `$n IS NULL OR ...` could not seek the index
    to the cursor and would read every newer entry of the org on each page."""
    clauses = ["org_id = $1"]
    args: list[Any] = [org_id]

    def add(sql: str, *values: Any) -> None:
        args.extend(values)
        n = len(args)
        clauses.append(sql.format(*range(n - len(values) + 1, n + 1)))

    if after is not None:
        add("(at, id) < (${}, ${})", after.at, after.id)
    if where.action is not None:
        add("action = ${}", where.action.value)
    if where.actor_id is not None:
        add("actor_id = ${}", where.actor_id)
    if where.actor_label is not None:
        add("actor_label = ${}", where.actor_label)
    if where.target_id is not None:
        add("target_id = ${}", where.target_id)
    if where.target_kind is not None:
        add("target_kind = ${}", where.target_kind.value)
    if where.since is not None:
        add("at >= ${}", where.since)
    if where.until is not None:
        add("at < ${}", where.until)
    args.append(limit)
    rows = await conn.fetch(
        "SELECT id, at, actor_kind, actor_id, actor_label, action, target_kind, target_id,"
        f" ip, detail FROM audit_log WHERE {' AND '.join(clauses)}"
        f" ORDER BY at DESC, id DESC LIMIT ${len(args)}", *args)
    return [_entry(r) for r in rows]
