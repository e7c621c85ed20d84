"""The conversation event log: the ONLY module that writes or reads message text.

Every read and write of `events.body` is here, so this is where message text is sealed
(AES-256-GCM under the visitor's key, docs/privacy.md) before it is stored and opened
after it is read; the key comes from the Keyring's cache. Sequence numbers are allocated by bumping
`conversations.last_seq` in the same transaction as the insert, which serialises
writers per conversation and keeps the sequence gap-free (contract guarantee 2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from server.domain.roles import Author
from server.storage.envelope import TEXT_MARK, DataKey, Field, associated, is_sealed
from server.storage.keys import KeyDestroyed, Keyring, SubjectKey

REPLAY_BATCH = 1000  # events per replay read


# Not frozen: built for every message, and a frozen dataclass's __init__ sets each field
# through object.__setattr__ (13 fields: 3.7 µs against 0.5 µs). Treat it as read-only.
@dataclass(slots=True)
class StoredEvent:
    conversation_id: UUID
    seq: int
    kind: str  # msg | note
    client_id: str | None
    author_role: str
    author_id: UUID | None
    author_name: str | None
    text: str
    stream_id: str | None
    sources: list[dict[str, Any]] | None
    meta: dict[str, Any] | None
    created_at: datetime
    duplicate: bool = False

    def frame(self) -> dict[str, Any]:
        author: dict[str, Any] = {"role": self.author_role}
        if self.author_name:
            author["name"] = self.author_name
        if self.author_id is not None and self.author_role == Author.AGENT:
            author["id"] = str(self.author_id)
        frame: dict[str, Any] = {
            "t": self.kind,
            "seq": self.seq,
            "conversation_id": str(self.conversation_id),
            "author": author,
            "text": self.text,
            "ts": int(self.created_at.timestamp() * 1000),
        }
        if self.client_id is not None:
            frame["id"] = self.client_id
        if self.stream_id is not None:
            frame["stream_id"] = self.stream_id
        if self.sources:
            frame["sources"] = self.sources
        if self.meta:
            frame.update({k: v for k, v in self.meta.items() if k not in frame})
        return frame


_COLS = ("conversation_id, seq, kind, client_id, author_role, author_id, author_name,"
         " body, stream_id, sources, meta, created_at")


def _ad(org_id: UUID, conversation_id: UUID, kind: str, author_role: str,
        client_id: str | None, stream_id: str | None) -> bytes:
    """What a body is bound to: its org, conversation and the event's identity as known
    before the append (its seq is allocated inside the append statement, after sealing).
    A body moved to another org, conversation, kind, author or client id does not open."""
    return associated(Field.EVENT_BODY, org_id, conversation_id, kind, author_role,
                      client_id, stream_id)


def _seal(key: DataKey, org_id: UUID, item: NewEvent | None = None, *, conversation_id:
          UUID | None = None, kind: str = "", author_role: str = "", text: str = "",
          client_id: str | None = None, stream_id: str | None = None) -> str:
    if item is not None:
        return key.seal_text(item.text, _ad(org_id, item.conversation_id, item.kind,
                                            item.author_role, item.client_id, item.stream_id))
    assert conversation_id is not None
    return key.seal_text(text, _ad(org_id, conversation_id, kind, author_role, client_id,
                                   stream_id))


def _open(row: asyncpg.Record, org_id: UUID, subject: SubjectKey | None,
          body: str | None = None) -> str:
    stored = row["body"] if body is None else body
    if not is_sealed(stored):
        return stored  # stored before encryption began, not yet backfilled
    if subject is None or subject.key is None:
        return ""  # the visitor was erased: their words are gone
    return subject.key.open_text(stored, _ad(org_id, row["conversation_id"], row["kind"],
                                             row["author_role"], row["client_id"],
                                             row["stream_id"]))


_GROUP_COLS = ", ".join(f"(r.e).{c.strip()}" for c in _COLS.split(","))


def _event(row: asyncpg.Record, text: str, duplicate: bool = False) -> StoredEvent:
    return StoredEvent(row["conversation_id"], row["seq"], row["kind"], row["client_id"],
                       row["author_role"], row["author_id"], row["author_name"], text,
                       row["stream_id"], row["sources"], row["meta"], row["created_at"],
                       duplicate)


def _read(row: asyncpg.Record, org_id: UUID, keys: dict[UUID, SubjectKey],
          duplicate: bool = False) -> StoredEvent:
    return _event(row, _open(row, org_id, keys.get(row["conversation_id"])), duplicate)


def _appended(row: asyncpg.Record, org_id: UUID, subject: SubjectKey, sealed: str,
              text: str) -> Appended:
    # our own row: the text we sealed; a duplicate's is the first try's, opened
    body = text if row["body"] == sealed else _open(row, org_id, subject)
    return Appended(_event(row, body, duplicate=row["duplicate"]), row["mode"])


class DuplicateClientId(Exception):
    """A concurrent first try of the same client id stored it; this transaction is void."""


@dataclass(slots=True)  # per message, like StoredEvent
class Appended:
    event: StoredEvent
    mode: str


async def append(
    conn: asyncpg.Connection, keys: Keyring, org_id: UUID, conversation_id: UUID, *, kind: str,
    author_role: str, text: str, client_id: str | None = None, author_id: UUID | None = None,
    author_name: str | None = None, stream_id: str | None = None,
    sources: list[dict[str, Any]] | None = None, meta: dict[str, Any] | None = None,
    require_assignee: UUID | None = None,
) -> Appended | None:
    """Store one event in one round trip; a retried client id returns the first event,
    marked duplicate. None when the conversation is not this org's (or, with
    `require_assignee`, not held by that user).

    The SQL function (migrations/0004_append_event.sql) names the tenant before touching a
    row, so on a connection outside any transaction it is a whole unit of work by itself
    (the hot path of every message); inside a unit of work it joins that transaction. Two
    concurrent first tries of one client id both miss the existing row; the second fails
    the unique index (DuplicateClientId): its transaction rolls back, no seq is spent, and
    the caller reads the winner with `by_client_id`. KeyDestroyed when the conversation's
    visitor was erased.
    """
    subject = await keys.for_conversation(conn, org_id, conversation_id)
    if subject is None:
        return None  # not a conversation of this org
    sealed = _seal(subject.usable(), org_id, conversation_id=conversation_id, kind=kind,
                   author_role=author_role, text=text, client_id=client_id,
                   stream_id=stream_id)
    try:
        row = await conn.fetchrow(
            "SELECT * FROM clienta_append_event("
            "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            org_id, conversation_id, kind, client_id, author_role, author_id, author_name,
            sealed, stream_id, sources, meta, require_assignee,
        )
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateClientId(client_id) from exc
    if row is None:
        return None
    return _appended(row, org_id, subject, sealed, text)


@dataclass(slots=True)  # per message, like StoredEvent
class NewEvent:
    """One event to append, as `append_many` takes it (the arguments of `append`)."""

    org_id: UUID
    conversation_id: UUID
    kind: str
    author_role: str
    text: str
    client_id: str | None = None
    author_id: UUID | None = None
    author_name: str | None = None
    stream_id: str | None = None
    sources: list[dict[str, Any]] | None = None
    meta: dict[str, Any] | None = None
    require_assignee: UUID | None = None


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


async def append_many(conn: asyncpg.Connection, keys: Keyring,
                      items: list[NewEvent]) -> list[Appended | BaseException | None]:
    """Store several events in one call and one transaction (migrations/
    0007_set_based_append_events.sql); the answer for item i is at position i, as
    `append` would give it. A unique violation (a client id another kind of event took)
    voids the whole group: DuplicateClientId, nothing stored, no seq spent. Each text is
    sealed here, with keys from the cache (one lookup for the group's misses)."""
    subjects: list[SubjectKey | None] = [keys.cached(i.org_id, i.conversation_id)
                                         for i in items]
    if None in subjects:
        found = await keys.for_conversations(
            conn, [(i.org_id, i.conversation_id) for i, s in zip(items, subjects, strict=True)
                   if s is None])
        subjects = [s or found.get(i.conversation_id)
                    for i, s in zip(items, subjects, strict=True)]
    out: list[Appended | BaseException | None] = [None] * len(items)
    # only messages with a usable key go to the statement (the rest: None, not this org's
    # conversation; KeyDestroyed, an erased visitor)
    send: list[int] = []
    sealed: list[str] = []
    for n, (item, subject) in enumerate(zip(items, subjects, strict=True)):
        if subject is None:
            continue
        if subject.key is None:
            out[n] = KeyDestroyed("this visitor's key was erased")
            continue
        send.append(n)
        sealed.append(_seal(subject.key, item.org_id, item))
    if not send:
        return out
    group = [items[n] for n in send]
    try:
        rows = await conn.fetch(
            "SELECT * FROM clienta_append_events($1::uuid[], $2::uuid[], $3::text[],"
            " $4::text[], $5::text[], $6::uuid[], $7::text[], $8::text[], $9::text[],"
            " $10::text[]::jsonb[], $11::text[]::jsonb[], $12::uuid[])",
            [i.org_id for i in group], [i.conversation_id for i in group],
            [i.kind for i in group], [i.client_id for i in group],
            [i.author_role for i in group], [i.author_id for i in group],
            [i.author_name for i in group], sealed,
            # JSON documents go as text: asyncpg would read a list (sources) as another
            # array dimension
            [i.stream_id for i in group], [_json(i.sources) for i in group],
            [_json(i.meta) for i in group], [i.require_assignee for i in group],
        )
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateClientId(None) from exc
    for row in rows:
        k = row["ord"] - 1
        n = send[k]
        subject = subjects[n]
        assert subject is not None
        out[n] = _appended(row, group[k].org_id, subject, sealed[k], group[k].text)
    return out


async def by_client_id(conn: asyncpg.Connection, keys: Keyring, org_id: UUID,
                       conversation_id: UUID, client_id: str) -> StoredEvent | None:
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM events WHERE org_id = $1 AND conversation_id = $2"
        " AND client_id = $3",
        org_id, conversation_id, client_id,
    )
    if row is None:
        return None
    found = await keys.for_conversations(conn, [(org_id, conversation_id)])
    return _read(row, org_id, found, duplicate=True)


async def after(
    conn: asyncpg.Connection, keys: Keyring, org_id: UUID, conversation_id: UUID, last_seq: int, *,
    include_notes: bool, limit: int = REPLAY_BATCH,
) -> list[StoredEvent]:
    kinds = ["msg", "note"] if include_notes else ["msg"]
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM events WHERE org_id = $1 AND conversation_id = $2 AND seq > $3"
        " AND kind = ANY($4::text[]) ORDER BY seq LIMIT $5",
        org_id, conversation_id, last_seq, kinds, limit,
    )
    if not rows:
        return []
    found = await keys.for_conversations(conn, [(org_id, conversation_id)])
    return [_read(r, org_id, found) for r in rows]


async def after_many(
    conn: asyncpg.Connection, keys: Keyring, asks: list[tuple[UUID, UUID, int]], *,
    include_notes: bool, limit: int = REPLAY_BATCH,
) -> list[list[StoredEvent]]:
    """`after` for many (org_id, conversation_id, last_seq) at once, in one statement: the
    events for ask i at position i. Each ask is scoped by its own org (the group spans
    orgs, so it is a SECURITY DEFINER function: migrations/0011)."""
    kinds = ["msg", "note"] if include_notes else ["msg"]
    rows = await conn.fetch(
        f"SELECT r.i, {_GROUP_COLS} FROM clienta_resume_events($1::uuid[], $2::uuid[],"
        " $3::bigint[], $4::text[], $5::int) r",
        [a[0] for a in asks], [a[1] for a in asks], [a[2] for a in asks], kinds, limit,
    )
    out: list[list[StoredEvent]] = [[] for _ in asks]
    if not rows:
        return out
    found = await keys.for_conversations(
        conn, {(asks[r["i"] - 1][0], r["conversation_id"]) for r in rows})
    for row in rows:
        out[row["i"] - 1].append(_read(row, asks[row["i"] - 1][0], found))
    return out


async def recent_turns(
    conn: asyncpg.Connection, keys: Keyring, org_id: UUID, conversation_id: UUID,
    limit: int = 20,
) -> list[tuple[str, str]]:
    """The last visible messages as (role, text), oldest first: the bot's context."""
    rows = await conn.fetch(
        "SELECT conversation_id, kind, author_role, client_id, stream_id, body FROM events"
        " WHERE org_id = $1 AND conversation_id = $2 AND kind = 'msg' ORDER BY seq DESC"
        " LIMIT $3",
        org_id, conversation_id, limit,
    )
    if not rows:
        return []
    subject = (await keys.for_conversations(conn, [(org_id, conversation_id)])).get(
        conversation_id)
    return [(r["author_role"], _open(r, org_id, subject)) for r in reversed(rows)]


async def previews(
    conn: asyncpg.Connection, keys: Keyring, org_id: UUID, conversation_ids: list[UUID]
) -> dict[UUID, str]:
    """The latest visible message text of each conversation, cut for list views (after
    opening: a sealed body cannot be cut in SQL)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (conversation_id) conversation_id, kind, author_role, client_id,"
        " stream_id, body FROM events WHERE org_id = $1"
        " AND conversation_id = ANY($2::uuid[]) AND kind = 'msg'"
        " ORDER BY conversation_id, seq DESC",
        org_id, conversation_ids,
    )
    if not rows:
        return {}
    found = await keys.for_conversations(conn, [(org_id, r["conversation_id"]) for r in rows])
    return {r["conversation_id"]: _open(r, org_id, found.get(r["conversation_id"]))[:140]
            for r in rows}


async def open_sample(conn: asyncpg.Connection, keys: Keyring, limit: int,
                      table_rows: int) -> int:
    """A restore's check (services/backups.py): up to `limit` sealed message and note
    bodies chosen at random across orgs, among those whose keys were not erased, each
    opened; returns how many opened. One that does not open raises (Undecryptable,
    UnknownMasterKey). Run by a role row-level security does not hold. A sample of the
    table's pages (about 2,000 rows' worth) keeps it cheap on a large `events`."""
    percent = min(100.0, 100.0 * max(2000, limit * 100) / max(table_rows, 1))
    rows = await conn.fetch(
        f"SELECT e.org_id, {', '.join('e.' + c.strip() for c in _COLS.split(','))}"
        " FROM events e TABLESAMPLE SYSTEM ($1)"
        " JOIN conversations c ON c.org_id = e.org_id AND c.id = e.conversation_id"
        " LEFT JOIN visitor_keys vk ON vk.visitor_id = c.visitor_id"
        " LEFT JOIN org_keys ok ON ok.org_id = e.org_id"
        " WHERE e.kind IN ('msg', 'note') AND left(e.body, 1) = $3"
        "  AND vk.erased_at IS NULL AND ok.erased_at IS NULL"
        " ORDER BY random() LIMIT $2", percent, limit, TEXT_MARK)
    opened = 0
    for row in rows:
        found = await keys.for_conversations(conn, [(row["org_id"], row["conversation_id"])])
        subject = found.get(row["conversation_id"])
        if subject is None or subject.key is None:
            raise KeyDestroyed("a sampled message's key is missing")
        _open(row, row["org_id"], subject)
        opened += 1
    return opened
