"""Visitors and conversations (everything but message text, which lives in messages.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from server.storage.blind_index import email_index
from server.storage.envelope import DataKey, Field, Undecryptable, associated, is_sealed
from server.storage.keys import KeyDestroyed, Keyring


@dataclass(frozen=True, slots=True)
class Conversation:
    id: UUID
    org_id: UUID
    visitor_id: UUID
    mode: str
    last_seq: int
    assignee_id: UUID | None
    unresolved_turns: int
    needs_human: bool
    queued_at: datetime | None
    followup_email: str | None
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    csat_score: int | None = None
    auto_handoff: bool = True
    csat_comment: str | None = None


_COLS = ("id, org_id, visitor_id, mode, last_seq, assignee_id, unresolved_turns, needs_human,"
         " queued_at, followup_email, tags, created_at, updated_at, csat_score, auto_handoff,"
         " csat_comment")


def _conv(row: asyncpg.Record) -> Conversation:
    return Conversation(
        row["id"], row["org_id"], row["visitor_id"], row["mode"], row["last_seq"],
        row["assignee_id"], row["unresolved_turns"], row["needs_human"], row["queued_at"],
        row["followup_email"], list(row["tags"]), row["created_at"], row["updated_at"],
        row["csat_score"], row["auto_handoff"], row["csat_comment"],
    )


async def insert_conversation_for(conn: asyncpg.Connection, org_id: UUID, visitor_id: UUID,
                                  conversation_id: UUID, locale: str | None) -> Conversation:
    """A new conversation, and its visitor unless already stored, in one round trip."""
    row = await conn.fetchrow(
        "WITH v AS (INSERT INTO visitors (id, org_id, locale) VALUES ($1, $2, $3)"
        " ON CONFLICT (id) DO NOTHING)"
        f" INSERT INTO conversations (id, org_id, visitor_id) VALUES ($4, $2, $1)"
        f" RETURNING {_COLS}",
        visitor_id, org_id, locale, conversation_id,
    )
    assert row is not None  # INSERT ... RETURNING: one row
    return _conv(row)


_CONTACT = (("name", Field.VISITOR_NAME), ("email", Field.VISITOR_EMAIL))


async def visitor_details(conn: asyncpg.Connection, keys: Keyring, org_id: UUID,
                          visitor_id: UUID) -> dict[str, Any]:
    """The visitor's contact fields, opened (sealed under their key: docs/privacy.md)."""
    row = await conn.fetchrow(
        "SELECT id, name, email, locale, created_at FROM visitors WHERE org_id = $1 AND id = $2",
        org_id, visitor_id,
    )
    if row is None:
        return {"id": str(visitor_id)}
    out: dict[str, Any] = {"id": str(row["id"])}
    if row["locale"]:
        out["locale"] = row["locale"]
    sealed = [(k, f) for k, f in _CONTACT if row[k] and is_sealed(row[k])]
    subject = await keys.for_visitor(conn, org_id, visitor_id) if sealed else None
    for key, fld in _CONTACT:
        value = row[key]
        if value and is_sealed(value):
            if subject is None or subject.key is None:
                continue  # erased
            value = subject.key.open_text(value, associated(fld, org_id, visitor_id))
        if value:
            out[key] = value
    return out


async def update_visitor(conn: asyncpg.Connection, keys: Keyring, org_id: UUID,
                         visitor_id: UUID, *, name: str | None, email: str | None) -> None:
    key = (await keys.for_visitor(conn, org_id, visitor_id)).usable()
    # the address's blind index, so staff can find the visitor by it (migration 0021)
    index = None if email is None else email_index(await keys.org_key(conn, org_id), email)
    await conn.execute(
        "UPDATE visitors SET name = coalesce($3, name), email = coalesce($4, email),"
        " email_index = coalesce($5, email_index)"
        " WHERE org_id = $1 AND id = $2",
        org_id, visitor_id,
        None if name is None else key.seal_text(
            name, associated(Field.VISITOR_NAME, org_id, visitor_id)),
        None if email is None else key.seal_text(
            email, associated(Field.VISITOR_EMAIL, org_id, visitor_id)),
        index,
    )


async def visitors_by_email(conn: asyncpg.Connection, keys: Keyring, org_id: UUID,
                            email: str) -> list[UUID]:
    """The org's visitors who gave this address (exact match, case-insensitive)."""
    index = email_index(await keys.org_key(conn, org_id), email)
    rows = await conn.fetch(
        "SELECT id FROM visitors WHERE org_id = $1 AND email_index = $2", org_id, index)
    return [r["id"] for r in rows]


async def get(conn: asyncpg.Connection, org_id: UUID, conversation_id: UUID, *,
              for_update: bool = False) -> Conversation | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM conversations WHERE org_id = $1 AND id = $2{lock}",
        org_id, conversation_id,
    )
    return _conv(row) if row else None


async def mode_of(conn: asyncpg.Connection, org_id: UUID, conversation_id: UUID) -> str | None:
    return await conn.fetchval(
        "SELECT mode FROM conversations WHERE org_id = $1 AND id = $2", org_id, conversation_id
    )


async def closed_at(conn: asyncpg.Connection, org_id: UUID,
                    conversation_id: UUID) -> datetime | None:
    """When the conversation was closed (None while it is open: a reopen clears it)."""
    return await conn.fetchval(
        "SELECT closed_at FROM conversations WHERE org_id = $1 AND id = $2",
        org_id, conversation_id)


async def visitor_locale(conn: asyncpg.Connection, org_id: UUID,
                         conversation_id: UUID) -> str | None:
    return await conn.fetchval(
        "SELECT v.locale FROM conversations c JOIN visitors v"
        " ON v.id = c.visitor_id AND v.org_id = c.org_id"
        " WHERE c.org_id = $1 AND c.id = $2",
        org_id, conversation_id,
    )


async def for_visitor(conn: asyncpg.Connection, org_id: UUID, visitor_id: UUID,
                      conversation_id: UUID | None) -> Conversation | None:
    """The visitor's conversation `conversation_id` if it is theirs, else their latest."""
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM conversations WHERE org_id = $1 AND visitor_id = $2"
        " ORDER BY coalesce(id = $3, false) DESC, created_at DESC LIMIT 1",
        org_id, visitor_id, conversation_id,
    )
    return _conv(row) if row else None


async def for_visitors(conn: asyncpg.Connection,
                       asks: list[tuple[UUID, UUID, UUID | None]]) -> list[Conversation | None]:
    """`for_visitor` for many (org_id, visitor_id, conversation_id) at once, in one
    statement: the answer for ask i at position i. Each ask is scoped by its own org (the
    group spans orgs, so it is a SECURITY DEFINER function: migrations/0011)."""
    cols = ", ".join(f"(r.c).{c.strip()}" for c in _COLS.split(","))
    rows = await conn.fetch(
        f"SELECT r.i, {cols} FROM clienta_resume_conversations($1::uuid[], $2::uuid[],"
        " $3::uuid[]) r",
        [a[0] for a in asks], [a[1] for a in asks], [a[2] for a in asks],
    )
    out: list[Conversation | None] = [None] * len(asks)
    for row in rows:
        out[row["i"] - 1] = _conv(row)
    return out


async def set_mode(conn: asyncpg.Connection, org_id: UUID, conversation_id: UUID, mode: str, *,
                   assignee_id: UUID | None, needs_human: bool | None = None) -> None:
    await conn.execute(
        "UPDATE conversations SET mode = $3, assignee_id = $4, updated_at = now(),"
        " needs_human = coalesce($5, needs_human),"
        " queued_at = CASE WHEN $3 = 'queued' THEN now() ELSE NULL END,"
        " unresolved_turns = CASE WHEN $3 = 'bot' THEN unresolved_turns ELSE 0 END,"
        " closed_at = CASE WHEN $3 = 'closed' THEN now() ELSE NULL END"
        " WHERE org_id = $1 AND id = $2",
        org_id, conversation_id, mode, assignee_id, needs_human,
    )


async def bump_unresolved(conn: asyncpg.Connection, org_id: UUID, conversation_id: UUID,
                          resolved: bool) -> int:
    return await conn.fetchval(
        "UPDATE conversations SET unresolved_turns ="
        " CASE WHEN $3 THEN 0 ELSE unresolved_turns + 1 END"
        " WHERE org_id = $1 AND id = $2 RETURNING unresolved_turns",
        org_id, conversation_id, resolved,
    ) or 0


async def _conversation_key(conn: asyncpg.Connection, keys: Keyring, org_id: UUID,
                            conversation_id: UUID) -> DataKey:
    subject = await keys.for_conversation(conn, org_id, conversation_id)
    if subject is None:
        raise KeyDestroyed("no such conversation")  # nothing is stored for it either way
    return subject.usable()


async def set_followup_email(conn: asyncpg.Connection, keys: Keyring, org_id: UUID,
                             conversation_id: UUID, email: str) -> None:
    """Sealed under the visitor's key (docs/privacy.md)."""
    key = await _conversation_key(conn, keys, org_id, conversation_id)
    await conn.execute(
        "UPDATE conversations SET followup_email = $3 WHERE org_id = $1 AND id = $2",
        org_id, conversation_id,
        key.seal_text(email, associated(Field.FOLLOWUP_EMAIL, org_id, conversation_id)),
    )


async def set_csat(conn: asyncpg.Connection, keys: Keyring, org_id: UUID,
                   conversation_id: UUID, score: int, comment: str | None) -> None:
    """The comment sealed under the visitor's key (docs/privacy.md)."""
    sealed = None
    if comment is not None:
        key = await _conversation_key(conn, keys, org_id, conversation_id)
        sealed = key.seal_text(comment, associated(Field.CSAT_COMMENT, org_id, conversation_id))
    await conn.execute(
        "UPDATE conversations SET csat_score = $3, csat_comment = $4 WHERE org_id = $1 AND id = $2",
        org_id, conversation_id, score, sealed,
    )


_SEALED_FIELDS = (("followup_email", Field.FOLLOWUP_EMAIL), ("csat_comment", Field.CSAT_COMMENT))


async def opened(conn: asyncpg.Connection, keys: Keyring, conv: Conversation) -> Conversation:
    """`conv` with its follow-up address and rating comment in clear, for what shows them
    (rows from before encryption read as they are; an erased visitor's read as None)."""
    sealed = [name for name, _ in _SEALED_FIELDS
              if (value := getattr(conv, name)) and is_sealed(value)]
    if not sealed:
        return conv
    subject = await keys.for_conversation(conn, conv.org_id, conv.id)
    changes: dict[str, Any] = {}  # str | None each: replace() checks no **dict by key
    for name, fld in _SEALED_FIELDS:
        if name not in sealed:
            continue
        try:
            key = subject.usable() if subject is not None else None
            changes[name] = None if key is None else key.open_text(
                getattr(conv, name), associated(fld, conv.org_id, conv.id))
        except Undecryptable:
            changes[name] = None  # erased, or not this row's: shown as absent
    return replace(conv, **changes)
