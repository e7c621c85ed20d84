"""Agent tooling tables: conversation lists with keyset pagination, tags, canned responses,
assignment load. (Message text stays in messages.py.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from server.domain.roles import Author
from server.storage.conversations import _COLS, Conversation, _conv


async def list_conversations(
    conn: asyncpg.Connection, org_id: UUID, *, modes: list[str] | None,
    assignee_id: UUID | None, unassigned: bool, before: tuple[datetime, UUID] | None,
    limit: int, visitor_ids: list[UUID] | None = None, tag: str | None = None,
    created_from: datetime | None = None, created_to: datetime | None = None,
    agent_id: UUID | None = None,
) -> list[Conversation]:
    """Newest activity first; `before` is the keyset cursor (updated_at, id) of the last row.
    History filters: any of `visitor_ids`, carrying `tag`, created in [from, to), and
    `agent_id` held or wrote in (messages or notes)."""
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM conversations WHERE org_id = $1"
        " AND ($2::text[] IS NULL OR mode = ANY($2::text[]))"
        " AND ($3::uuid IS NULL OR assignee_id = $3)"
        " AND (NOT $4 OR assignee_id IS NULL)"
        # the cursor carries milliseconds (what clients see), so compare at that precision
        " AND ($5::timestamptz IS NULL OR (date_trunc('milliseconds', updated_at), id) < ($5, $6))"
        " AND ($8::uuid[] IS NULL OR visitor_id = ANY($8::uuid[]))"
        " AND ($9::text IS NULL OR tags @> ARRAY[$9::text])"
        " AND ($10::timestamptz IS NULL OR created_at >= $10)"
        " AND ($11::timestamptz IS NULL OR created_at < $11)"
        " AND ($12::uuid IS NULL OR assignee_id = $12 OR id IN (SELECT e.conversation_id"
        "  FROM events e WHERE e.org_id = $1 AND e.author_role = 'agent'"
        "  AND e.author_id = $12))"
        " ORDER BY date_trunc('milliseconds', updated_at) DESC, id DESC LIMIT $7",
        org_id, modes, assignee_id, unassigned,
        before[0] if before else None, before[1] if before else None, limit,
        visitor_ids, tag, created_from, created_to, agent_id,
    )
    return [_conv(r) for r in rows]


async def set_tags(conn: asyncpg.Connection, org_id: UUID, conversation_id: UUID,
                   tags: list[str]) -> bool:
    status = await conn.execute(
        "UPDATE conversations SET tags = $3 WHERE org_id = $1 AND id = $2",
        org_id, conversation_id, tags,
    )
    return status.endswith(" 1")


async def agent_loads(conn: asyncpg.Connection, org_id: UUID,
                      user_ids: list[UUID]) -> dict[UUID, int]:
    rows = await conn.fetch(
        "SELECT assignee_id, count(*) AS n FROM conversations"
        " WHERE org_id = $1 AND mode = 'agent' AND assignee_id = ANY($2::uuid[])"
        " GROUP BY assignee_id",
        org_id, user_ids,
    )
    loads = {u: 0 for u in user_ids}
    loads.update({r["assignee_id"]: r["n"] for r in rows})
    return loads


async def take_due_wait_offers(conn: asyncpg.Connection, older_than_s: float,
                               limit: int = 100) -> list[tuple[UUID, UUID]]:
    """Conversations queued too long, of every org, marked as offered; each is returned
    to one caller only. Only inside Database.system (migrations/0011's job function)."""
    rows = await conn.fetch("SELECT org_id, id FROM clienta_take_due_wait_offers($1, $2)",
                            older_than_s, limit)
    return [(r["org_id"], r["id"]) for r in rows]


async def set_auto_handoff(conn: asyncpg.Connection, org_id: UUID, conversation_id: UUID,
                           value: bool) -> None:
    await conn.execute(
        "UPDATE conversations SET auto_handoff = $3, wait_offered_at = NULL"
        " WHERE org_id = $1 AND id = $2",
        org_id, conversation_id, value,
    )


async def auto_handoff(conn: asyncpg.Connection, org_id: UUID, conversation_id: UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT auto_handoff FROM conversations WHERE org_id = $1 AND id = $2",
        org_id, conversation_id,
    ))


async def set_read(conn: asyncpg.Connection, org_id: UUID, conversation_id: UUID, side: Author,
                   seq: int) -> bool:
    """False when the org has no such conversation."""
    column = "visitor_read_seq" if side == Author.VISITOR else "agent_read_seq"
    status = await conn.execute(
        f"UPDATE conversations SET {column} = greatest({column}, $3)"
        " WHERE org_id = $1 AND id = $2",
        org_id, conversation_id, seq,
    )
    return status.endswith(" 1")


def canned_row(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(row["id"]), "shortcut": row["shortcut"], "text": row["text"]}


async def list_canned(conn: asyncpg.Connection, org_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, shortcut, text FROM canned_responses WHERE org_id = $1 ORDER BY shortcut",
        org_id,
    )
    return [canned_row(r) for r in rows]


async def insert_canned(conn: asyncpg.Connection, org_id: UUID, canned_id: UUID, shortcut: str,
                        text: str) -> bool:
    status = await conn.execute(
        "INSERT INTO canned_responses (id, org_id, shortcut, text) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (org_id, shortcut) DO NOTHING",
        canned_id, org_id, shortcut, text,
    )
    return status.endswith(" 1")


class ShortcutTaken(Exception):
    """Another canned response of the org has this shortcut."""


async def update_canned(conn: asyncpg.Connection, org_id: UUID, canned_id: UUID,
                        shortcut: str | None, text: str | None) -> dict[str, Any] | None:
    # a savepoint, so the unit of work outlives a conflict; in SQL, because asyncpg's
    # conn.transaction() refuses to nest in the unit of work's own BEGIN (InterfaceError)
    await conn.execute("SAVEPOINT canned_update")
    try:
        row = await conn.fetchrow(
            "UPDATE canned_responses SET shortcut = coalesce($3, shortcut),"
            " text = coalesce($4, text)"
            " WHERE org_id = $1 AND id = $2 RETURNING id, shortcut, text",
            org_id, canned_id, shortcut, text,
        )
    except asyncpg.UniqueViolationError:
        await conn.execute("ROLLBACK TO SAVEPOINT canned_update")
        raise ShortcutTaken from None
    await conn.execute("RELEASE SAVEPOINT canned_update")
    return canned_row(row) if row else None


async def delete_canned(conn: asyncpg.Connection, org_id: UUID, canned_id: UUID) -> bool:
    status = await conn.execute(
        "DELETE FROM canned_responses WHERE org_id = $1 AND id = $2", org_id, canned_id
    )
    return status.endswith(" 1")
