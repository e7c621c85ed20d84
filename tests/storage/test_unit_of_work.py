"""The unit of work sets the tenant for its transaction, and only for it."""

from __future__ import annotations

import uuid

import pytest

from server.storage.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_org_setting_is_transaction_local(db: Database) -> None:
    org = uuid.uuid4()
    async with db.unit_of_work(org) as conn:
        assert await conn.fetchval("SELECT current_setting('clienta.org_id', true)") == str(org)
        pid = await conn.fetchval("SELECT pg_backend_pid()")
    # the same pooled connection afterwards carries no tenant
    async with db.pool.acquire() as conn:
        if await conn.fetchval("SELECT pg_backend_pid()") == pid:
            assert await conn.fetchval("SELECT current_setting('clienta.org_id', true)") in (
                None, "")
