"""The key hierarchy's tables (org_keys, visitor_keys, key_erasures) and the Keyring: the
process's bounded cache of unwrapped keys, so a message costs an AES call, not a query.

A key is unwrapped on a miss, with the caller's connection, and made on first use. An
entry lives `ttl_s` at most: a key destroyed by another process stops opening anything
here within that time (the process that destroys it forgets it at once)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from server.storage.envelope import (
    DataKey,
    Field,
    MasterKeys,
    Undecryptable,
    associated,
    new_key,
    unwrap,
    wrap,
)


class KeyDestroyed(Undecryptable):
    """The subject's key was erased: nothing sealed under it opens, nothing new is sealed."""


class UnknownMasterKey(RuntimeError):
    """An org key is wrapped by a master key this process was not given (a rotation needs
    CLIENTA_MASTER_KEY_PREVIOUS until `clienta keys rotate` has run)."""


@dataclass(frozen=True, slots=True)
class SubjectKey:
    """A conversation's visitor and their key (None: destroyed)."""

    org_id: UUID
    visitor_id: UUID
    key: DataKey | None

    def usable(self) -> DataKey:
        if self.key is None:
            raise KeyDestroyed("this visitor's key was erased")
        return self.key


class _Lru:
    """A bounded map whose entries expire: least recently used out first."""

    def __init__(self, size: int, ttl_s: float, clock: Callable[[], float]) -> None:
        self.size, self.ttl_s, self.clock = size, ttl_s, clock
        self.items: OrderedDict[UUID, tuple[float, object]] = OrderedDict()

    def get(self, key: UUID) -> object | None:
        hit = self.items.get(key)
        if hit is None:
            return None
        if hit[0] < self.clock():
            del self.items[key]
            return None
        self.items.move_to_end(key)
        return hit[1]

    def put(self, key: UUID, value: object) -> None:
        self.items[key] = (self.clock() + self.ttl_s, value)
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)

    def drop(self, match: Callable[[object], bool]) -> None:
        for key in [k for k, (_, v) in self.items.items() if match(v)]:
            del self.items[key]


@asynccontextmanager
async def _scoped(conn: asyncpg.Connection, org_id: UUID) -> AsyncIterator[None]:
    """A miss is looked up (and a key made) with its org named, as row-level security
    wants: in the caller's transaction, or in one of its own on a grouped path's
    connection, which names no single org."""
    if conn.is_in_transaction():
        await conn.execute("SELECT set_config('clienta.org_id', $1, true)", str(org_id))
        yield
        return
    async with conn.transaction():
        await conn.execute("SELECT set_config('clienta.org_id', $1, true)", str(org_id))
        yield


_LOOKUP = """
SELECT a.conversation_id, c.org_id, c.visitor_id, vk.wrapped AS visitor_wrapped,
       vk.erased_at AS visitor_erased, ok.wrapped AS org_wrapped, ok.master_key_id,
       ok.erased_at AS org_erased
FROM unnest($1::uuid[], $2::uuid[]) AS a(org_id, conversation_id)
JOIN conversations c ON c.org_id = a.org_id AND c.id = a.conversation_id
LEFT JOIN visitor_keys vk ON vk.visitor_id = c.visitor_id AND vk.org_id = c.org_id
LEFT JOIN org_keys ok ON ok.org_id = c.org_id
"""


class Keyring:
    def __init__(self, master: MasterKeys, *, cache_size: int = 50_000, ttl_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.master = master
        self._orgs = _Lru(max(cache_size // 16, 64), ttl_s, clock)
        self._conversations = _Lru(cache_size, ttl_s, clock)
        self._visitors = _Lru(cache_size, ttl_s, clock)

    # -- the hot path: a cached conversation key, no await -----------------------------

    def cached(self, org_id: UUID, conversation_id: UUID) -> SubjectKey | None:
        hit = self._conversations.get(conversation_id)
        if isinstance(hit, SubjectKey) and hit.org_id == org_id:
            return hit
        return None

    async def for_conversations(self, conn: asyncpg.Connection,
                                asks: Iterable[tuple[UUID, UUID]]) -> dict[UUID, SubjectKey]:
        """The key of each (org_id, conversation_id) that is a conversation of that org;
        one statement for all the misses, a key made for a visitor who has none."""
        found: dict[UUID, SubjectKey] = {}
        missing: dict[UUID, list[UUID]] = {}
        for org_id, conversation_id in asks:
            hit = self.cached(org_id, conversation_id)
            if hit is not None:
                found[conversation_id] = hit
            else:
                missing.setdefault(org_id, []).append(conversation_id)
        for org_id, conversation_ids in missing.items():
            async with _scoped(conn, org_id):
                rows = await conn.fetch(_LOOKUP, [org_id] * len(conversation_ids),
                                        conversation_ids)
                for row in rows:
                    subject = await self._subject(conn, row)
                    self._conversations.put(row["conversation_id"], subject)
                    self._visitors.put(subject.visitor_id, subject)
                    found[row["conversation_id"]] = subject
        return found

    async def for_conversation(self, conn: asyncpg.Connection, org_id: UUID,
                               conversation_id: UUID) -> SubjectKey | None:
        hit = self.cached(org_id, conversation_id)
        if hit is not None:
            return hit
        return (await self.for_conversations(conn, [(org_id, conversation_id)])).get(
            conversation_id)

    async def for_visitor(self, conn: asyncpg.Connection, org_id: UUID,
                          visitor_id: UUID) -> SubjectKey:
        hit = self._visitors.get(visitor_id)
        if isinstance(hit, SubjectKey) and hit.org_id == org_id:
            return hit
        async with _scoped(conn, org_id):
            row = await conn.fetchrow(
                "SELECT $1::uuid AS org_id, $2::uuid AS visitor_id,"
                " vk.wrapped AS visitor_wrapped, vk.erased_at AS visitor_erased,"
                " ok.wrapped AS org_wrapped, ok.master_key_id, ok.erased_at AS org_erased"
                " FROM (SELECT 1) one"
                " LEFT JOIN visitor_keys vk ON vk.visitor_id = $2 AND vk.org_id = $1"
                " LEFT JOIN org_keys ok ON ok.org_id = $1", org_id, visitor_id)
            assert row is not None  # FROM (SELECT 1) LEFT JOINs: always one row
            subject = await self._subject(conn, row)
        self._visitors.put(visitor_id, subject)
        return subject

    async def org_key(self, conn: asyncpg.Connection, org_id: UUID) -> DataKey:
        hit = self._orgs.get(org_id)
        if isinstance(hit, DataKey):
            return hit
        async with _scoped(conn, org_id):
            row = await conn.fetchrow(
                "SELECT wrapped AS org_wrapped, master_key_id, erased_at AS org_erased"
                " FROM org_keys WHERE org_id = $1", org_id)
            return await self._org(conn, org_id, row)

    def forget_visitor(self, visitor_id: UUID) -> None:
        self._visitors.items.pop(visitor_id, None)
        self._conversations.drop(
            lambda s: isinstance(s, SubjectKey) and s.visitor_id == visitor_id)

    def forget_org(self, org_id: UUID) -> None:
        self._orgs.items.pop(org_id, None)
        for lru in (self._visitors, self._conversations):
            lru.drop(lambda s: isinstance(s, SubjectKey) and s.org_id == org_id)

    # -- misses -------------------------------------------------------------------------

    async def _org(self, conn: asyncpg.Connection, org_id: UUID,
                   row: asyncpg.Record | None) -> DataKey:
        if row is not None and row["org_erased"] is not None:
            raise KeyDestroyed("this org's key was erased")
        if row is None or row["org_wrapped"] is None:
            raw = new_key()
            await conn.execute(
                "INSERT INTO org_keys (org_id, master_key_id, wrapped) VALUES ($1, $2, $3)"
                " ON CONFLICT (org_id) DO NOTHING", org_id, self.master.current.id,
                wrap(self.master.current.key, raw, associated(Field.ORG_KEY, org_id)))
            # another process may have made it first: the stored one is the key
            row = await conn.fetchrow(
                "SELECT wrapped AS org_wrapped, master_key_id, erased_at AS org_erased"
                " FROM org_keys WHERE org_id = $1", org_id)
            if row is None or row["org_wrapped"] is None:
                raise KeyDestroyed("this org's key was erased")
        master = self.master.by_id(row["master_key_id"])
        if master is None:
            raise UnknownMasterKey("an org key is wrapped by a master key not configured")
        key = unwrap(master.key, row["org_wrapped"], associated(Field.ORG_KEY, org_id))
        self._orgs.put(org_id, key)
        return key

    async def _subject(self, conn: asyncpg.Connection, row: asyncpg.Record) -> SubjectKey:
        org_id, visitor_id = row["org_id"], row["visitor_id"]
        ad = associated(Field.VISITOR_KEY, org_id, visitor_id)
        if row["visitor_erased"] is not None or row["org_erased"] is not None:
            return SubjectKey(org_id, visitor_id, None)
        cached = self._orgs.get(org_id)
        org_key = cached if isinstance(cached, DataKey) else await self._org(conn, org_id, row)
        wrapped = row["visitor_wrapped"]
        if wrapped is None:
            await conn.execute(
                "INSERT INTO visitor_keys (visitor_id, org_id, wrapped) VALUES ($1, $2, $3)"
                " ON CONFLICT (visitor_id) DO NOTHING",
                visitor_id, org_id, wrap(org_key, new_key(), ad))
            wrapped = await conn.fetchval(
                "SELECT wrapped FROM visitor_keys WHERE visitor_id = $1 AND org_id = $2",
                visitor_id, org_id)
            if wrapped is None:
                return SubjectKey(org_id, visitor_id, None)
        return SubjectKey(org_id, visitor_id, unwrap(org_key, wrapped, ad))


# -- erasure and rotation (cross-tenant system work runs these with the org named) ------

async def destroy_visitor_key(conn: asyncpg.Connection, org_id: UUID, visitor_id: UUID,
                              at: datetime) -> None:
    """Crypto-shred one visitor: the wrapped key goes, a tombstone stays (no new key)."""
    await conn.execute(
        "INSERT INTO visitor_keys (visitor_id, org_id, wrapped, erased_at)"
        " SELECT $2, $1, NULL, $3 WHERE EXISTS (SELECT 1 FROM visitors"
        "  WHERE id = $2 AND org_id = $1)"
        " ON CONFLICT (visitor_id) DO UPDATE SET wrapped = NULL, erased_at = $3"
        " WHERE visitor_keys.org_id = $1", org_id, visitor_id, at)
    await conn.execute(
        "INSERT INTO key_erasures (org_id, visitor_id, erased_at) VALUES ($1, $2, $3)",
        org_id, visitor_id, at)
    # the keyed index of their address would still confirm a guessed one
    await conn.execute("UPDATE visitors SET email_index = NULL WHERE org_id = $1 AND id = $2",
                       org_id, visitor_id)


async def destroy_org_key(conn: asyncpg.Connection, org_id: UUID, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO org_keys (org_id, master_key_id, wrapped, erased_at)"
        " SELECT $1, NULL, NULL, $2 WHERE EXISTS (SELECT 1 FROM orgs WHERE id = $1)"
        " ON CONFLICT (org_id) DO UPDATE SET wrapped = NULL, master_key_id = NULL,"
        " erased_at = $2", org_id, at)
    await conn.execute(
        "INSERT INTO key_erasures (org_id, visitor_id, erased_at) VALUES ($1, NULL, $2)",
        org_id, at)


async def org_keys_not_under(conn: asyncpg.Connection, master_key_id: str,
                             limit: int) -> list[tuple[UUID, str, bytes]]:
    rows = await conn.fetch(
        "SELECT org_id, master_key_id, wrapped FROM org_keys WHERE wrapped IS NOT NULL"
        " AND master_key_id <> $1 ORDER BY org_id LIMIT $2", master_key_id, limit)
    return [(r["org_id"], r["master_key_id"], r["wrapped"]) for r in rows]


async def rewrap_org_key(conn: asyncpg.Connection, org_id: UUID, old_master_id: str,
                         master_key_id: str, wrapped: bytes) -> bool:
    status = await conn.execute(
        "UPDATE org_keys SET master_key_id = $3, wrapped = $4, rotated_at = now()"
        " WHERE org_id = $1 AND master_key_id = $2 AND wrapped IS NOT NULL",
        org_id, old_master_id, master_key_id, wrapped)
    return status == "UPDATE 1"


async def erasures(conn: asyncpg.Connection) -> list[tuple[UUID, UUID | None]]:
    rows = await conn.fetch("SELECT org_id, visitor_id FROM key_erasures ORDER BY id")
    return [(r["org_id"], r["visitor_id"]) for r in rows]
