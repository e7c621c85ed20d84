"""The connection pool and the unit of work that scopes every query to one organisation."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
from pgvector.asyncpg import register_vector


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


async def _no_reset(conn: asyncpg.Connection) -> None:
    if conn.is_in_transaction():  # a unit of work cut short: never hand out an open one
        await conn.execute("ROLLBACK")


class Database:
    """Owns the asyncpg pool. Every tenant query goes through `unit_of_work(org_id)`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def connect(cls, url: str, *, min_size: int = 2, max_size: int = 10) -> Database:
        pool = await asyncpg.create_pool(
            url, min_size=min_size, max_size=max_size, init=_init_connection,
            # statements are prepared per connection and reused by asyncpg's cache
            statement_cache_size=256,
            # nothing session-level is ever set (the tenant is transaction-local), so the
            # default reset query on every release would be a wasted round trip
            reset=_no_reset,
        )
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def unit_of_work(self, org_id: UUID | str) -> AsyncIterator[asyncpg.Connection]:
        """A transaction whose `clienta.org_id` setting names the tenant.

        Row-level security policies can later read current_setting('clienta.org_id')
        without any call site changing.
        """
        # BEGIN and the tenant go out as one simple query (one round trip, not two); the
        # id is a UUID, formatted by the UUID type itself, so the literal is safe
        tenant = UUID(str(org_id))
        async with self.pool.acquire() as conn:
            await conn.execute(f"BEGIN; SELECT set_config('clienta.org_id', '{tenant}', true)")
            try:
                yield conn
            except BaseException:
                # on cancellation the pool's reset rolls back whatever is left
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    @asynccontextmanager
    async def unscoped(self) -> AsyncIterator[asyncpg.Connection]:
        """A transaction not bound to a tenant: sign-up, site-key and token lookups only."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def ping(self) -> bool:
        try:
            async with self.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")
            return True
        except Exception:
            return False
