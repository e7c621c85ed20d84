"""The unit of work sets the tenant for its transaction, and only for it."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from server.storage.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_org_setting_is_transaction_local(database_url: str) -> None:
    # a one-connection pool, so the check below meets the very connection the unit of work
    # used (with more, it could pick another and pass without checking anything)
    one = await Database.connect(database_url, min_size=1, max_size=1)
    try:
        org = uuid.uuid4()
        async with one.unit_of_work(org) as conn:
            assert await conn.fetchval(
                "SELECT current_setting('clienta.org_id', true)") == str(org)
            pid = await conn.fetchval("SELECT pg_backend_pid()")
        async with one.pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid
            assert await conn.fetchval("SELECT current_setting('clienta.org_id', true)") in (
                None, "")
    finally:
        await one.close()



SLEEP_SQL = "SELECT pg_sleep(30) -- unit-of-work cancel test"


async def _until_running(db: Database) -> None:
    """Until the sleep query is executing on the server (polled, bounded)."""
    async with db.pool.acquire() as probe:
        for _ in range(500):
            if await probe.fetchval("SELECT count(*) FROM pg_stat_activity WHERE state ="
                                    " 'active' AND query = $1", SLEEP_SQL):
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the query never started")


@pytest.mark.parametrize("cancels", [1, 2], ids=["cancelled", "cancelled-again-in-rollback"])
async def test_a_unit_of_work_cut_short_mid_query_rolls_back_quietly(
        db: Database, cancels: int) -> None:
    """A deploy cancels answers mid-query, sometimes twice (the task, then the shutdown's
    sweep): the work is rolled back, the pool still serves, and asyncpg does not report
    'Resetting connection with an active transaction' as an error for the connection
    (it did, for each cut-short transaction at every restart)."""
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(str(context.get("message"))))
    org = uuid.uuid4()

    async def work() -> None:
        async with db.unit_of_work(org) as conn:
            await conn.execute("INSERT INTO orgs (id, name, site_key) VALUES ($1, 'cut', $2)",
                               org, f"cut-{org.hex}")
            await conn.execute(SLEEP_SQL)

    try:
        task = asyncio.create_task(work())
        await _until_running(db)
        task.cancel()
        if cancels == 2:
            for _ in range(3):  # into the ROLLBACK, which first waits out the query's cancel
                await asyncio.sleep(0)
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with db.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM orgs WHERE id = $1", org) == 0
    finally:
        loop.set_exception_handler(previous)
    assert not [m for m in reported if "active transaction" in m]
