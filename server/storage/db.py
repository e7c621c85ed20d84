"""The connection pool, the unit of work that scopes every query to one organisation, and
the one path to cross-tenant work (`system`, a named job)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Any, cast
from uuid import UUID

import asyncpg
from pgvector.asyncpg import register_vector

from server.storage.keys import Keyring
from server.storage.roles import RlsPosture, rls_posture

log = logging.getLogger("clienta.db")

# the message path: a group of appends, a group of resume reads, new conversations
MESSAGE_POOL_SIZE = 3


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    try:
        await register_vector(conn)
    except ValueError:
        # the vector extension is created by the first migration; connections opened
        # before it exists (migrate itself) work without the codec
        pass


async def set_tenant(conn: asyncpg.Connection, org_id: UUID | str) -> None:
    """Name the tenant for the rest of this transaction (sign-up creates it mid-way)."""
    await conn.execute("SELECT set_config('clienta.org_id', $1, true)", str(org_id))


class SystemJob(StrEnum):
    """Every job that may work across orgs. Its name goes into the transaction
    (`clienta.system_job`): the cross-tenant functions of migrations/0011 refuse to run
    without one, so such work cannot happen on a plain pool connection by accident."""

    QUEUE_WAIT_SWEEP = "queue_wait_sweep"
    TOKEN_PURGE = "token_purge"
    KB_RECOVERY = "kb_recovery"  # start-up: interrupted documents, indexes, stale embeddings
    MAIL_OUTBOX = "mail_outbox"  # claims and purges every org's queued mail
    NOTIFICATIONS = "notifications"  # replies to mail, waits to alert (every org's)
    BILLING_RENEWALS = "billing_renewals"  # Omise periods ending: charge, mail, lapse
    RETENTION = "retention"  # purges, reminders, retention (services/retention.py)
    POLICY_NOTICE = "policy_notice"  # a material policy change mailed to every org's owners


async def _no_reset(conn: asyncpg.Connection) -> None:
    if conn.is_in_transaction():  # a unit of work cut short: never hand out an open one
        await conn.execute("ROLLBACK")


async def _roll_back(conn: asyncpg.Connection) -> None:
    """End a unit of work cut short. When even the ROLLBACK is cut short (a deploy cancels
    an answer mid-query, then again while it rolls back), close the connection: Postgres
    rolls back as it goes and the pool opens another. Handed back open, asyncpg's reset
    would roll back too but report every such connection as an error."""
    try:
        await conn.execute("ROLLBACK")
    except asyncio.CancelledError:
        conn.terminate()
        raise
    except Exception:
        conn.terminate()


class Database:
    """Owns the asyncpg pool. Every tenant query goes through `unit_of_work(org_id)`."""

    def __init__(self, pool: asyncpg.Pool, message_pool: asyncpg.Pool | None = None,
                 rls: RlsPosture | None = None, keys: Keyring | None = None) -> None:
        self.pool = pool
        self._keys = keys
        # whether row-level security holds the role this pool logs in as (/readyz says)
        self.rls = rls
        # What a visitor waits on before an ack or a welcome (storing a new conversation,
        # the message groups, returning visitors' reads) has connections of its own: with
        # 1,000 visitors asking the bot at once the main pool's queue grows seconds long
        # (every answer reads the knowledge base), and a message must not wait behind it.
        self.message_pool = message_pool or pool

    @classmethod
    async def connect(cls, url: str, *, min_size: int = 2, max_size: int = 10,
                      statement_cache_size: int = 256, keys: Keyring | None = None
                      ) -> Database:
        options: dict[str, Any] = {
            "init": _init_connection,
            # statements are prepared per connection and reused by asyncpg's cache; 0
            # behind a transaction pooler (settings.db_statement_cache says why)
            "statement_cache_size": statement_cache_size,
            # nothing session-level is ever set (the tenant is transaction-local), so the
            # default reset query on every release would be a wasted round trip
            "reset": _no_reset,
        }
        pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, **options)
        message_pool = await asyncpg.create_pool(url, min_size=1, max_size=MESSAGE_POOL_SIZE,
                                                 **options)
        async with pool.acquire() as conn:
            rls = await rls_posture(cast(asyncpg.Connection, conn))  # see unit_of_work
        if rls.bypassed:
            # loud, not fatal: an operator's DATABASE_URL may still name the owner
            log.warning("row-level security bypassed: the server's database role can read "
                        "every org's rows (README: the serving role)",
                        extra={"db_role": rls.role, "reasons": list(rls.reasons)})
        return cls(pool, message_pool, rls, keys)

    @property
    def keys(self) -> Keyring:
        """The cache of unwrapped keys that seals and opens personal data (storage/keys.py)."""
        if self._keys is None:
            raise RuntimeError("this Database was connected without a Keyring")
        return self._keys

    async def close(self) -> None:
        if self.message_pool is not self.pool:
            await self.message_pool.close()
        await self.pool.close()

    @asynccontextmanager
    async def unit_of_work(self, org_id: UUID | str, *, message_path: bool = False
                           ) -> AsyncIterator[asyncpg.Connection]:
        """A transaction whose `clienta.org_id` setting names the tenant: row-level
        security (migrations/0011) shows and takes only that org's rows."""
        # BEGIN and the tenant go out as one simple query (one round trip, not two); the
        # id is a UUID, formatted by the UUID type itself, so the literal is safe
        tenant = UUID(str(org_id))
        pool = self.message_pool if message_path else self.pool
        async with pool.acquire() as proxy:
            # the pool's proxy is a Connection to asyncpg (isinstance), not to its stubs
            conn = cast(asyncpg.Connection, proxy)
            try:
                await conn.execute(
                    f"BEGIN; SELECT set_config('clienta.org_id', '{tenant}', true)")
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                await _roll_back(conn)
                raise

    @asynccontextmanager
    async def unscoped(self) -> AsyncIterator[asyncpg.Connection]:
        """A transaction that names no tenant: no tenant row is visible in it. Only the
        lookups that find the org (site key, email, token: SECURITY DEFINER functions of
        migrations/0011) answer here, and `set_tenant` scopes the rest of it."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield cast(asyncpg.Connection, conn)  # see unit_of_work

    @asynccontextmanager
    async def system(self, job: SystemJob) -> AsyncIterator[asyncpg.Connection]:
        """A transaction of a named cross-tenant job. The serving role still reads no
        org's rows directly in it: only the job functions of migrations/0011 (owned by
        clienta_system) work across orgs, and they refuse to run outside one of these."""
        async with self.pool.acquire() as proxy:
            conn = cast(asyncpg.Connection, proxy)  # see unit_of_work
            try:
                # one round trip, as unit_of_work; the name is an enum value, safe to inline
                await conn.execute(
                    f"BEGIN; SELECT set_config('clienta.system_job', '{SystemJob(job).value}',"
                    " true)")
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                await _roll_back(conn)
                raise
        log.debug("system job ran", extra={"job": job.value})

    async def ping(self) -> bool:
        try:
            async with self.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")
            return True
        except Exception:
            return False
