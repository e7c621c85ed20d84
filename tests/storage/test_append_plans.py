"""The append group's statement reads a few rows per message however big `events` grew
since its plan was cached (migration 0008): counted in Postgres's own statistics, not
timed. A plan made while the tables were small used to scan every stored event."""

from __future__ import annotations

import uuid
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest

from server.storage.migrate import MIGRATIONS_DIR, apply_migrations
from tests.storage.databases import fresh_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

APPEND = ("SELECT * FROM clienta_append_events($1::uuid[], $2::uuid[], $3::text[],"
          " $4::text[], $5::text[], $6::uuid[], $7::text[], $8::text[], $9::text[],"
          " $10::jsonb[], $11::jsonb[], $12::uuid[])")
GROUP = 64


async def append_group(conn: asyncpg.Connection, org: UUID, conversations: list[UUID],
                       size: int) -> None:
    convs = sorted(conversations[i % len(conversations)] for i in range(size))
    rows = await conn.fetch(APPEND, [org] * size, convs, ["msg"] * size,
                            [uuid.uuid4().hex for _ in convs], ["visitor"] * size,
                            [None] * size, [None] * size, ["hello"] * size, [None] * size,
                            [None] * size, [None] * size, [None] * size)
    assert len(rows) == size and not any(r["duplicate"] for r in rows)


async def rows_read(conn: asyncpg.Connection) -> int:
    """Index entries and heap rows read from events and conversations so far."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return await conn.fetchval(
        "SELECT (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes"
        "        WHERE relname IN ('events', 'conversations'))"
        "     + (SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_user_tables"
        "        WHERE relname IN ('events', 'conversations'))")


async def rows_read_by_a_late_group(database_url: str, migrations: Path) -> int:
    url = await fresh_database(database_url, "plans_")
    await apply_migrations(url, migrations)
    conn = await asyncpg.connect(url)
    observer = await asyncpg.connect(url)
    try:
        for table in ("events", "conversations"):  # no ANALYZE may replan it mid-test
            await conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        org = uuid.uuid4()
        await conn.execute("INSERT INTO orgs (id, name, site_key) VALUES ($1, 'o', $2)",
                           org, org.hex)
        conversations = [uuid.uuid4() for _ in range(16)]
        for conversation in conversations:
            visitor = uuid.uuid4()
            await conn.execute("INSERT INTO visitors (id, org_id) VALUES ($1, $2)",
                               visitor, org)
            await conn.execute("INSERT INTO conversations (id, org_id, visitor_id)"
                               " VALUES ($1, $2, $3)", conversation, org, visitor)
        for _ in range(8):  # the connection caches its plans while the tables are small
            await append_group(conn, org, conversations, 8)
        for _ in range(40):  # ~2,600 events later
            await append_group(conn, org, conversations, GROUP)
        # a backend reports its counts when it goes idle; this makes the next report due
        await conn.execute("SELECT pg_stat_force_next_flush()")
        before = await rows_read(observer)
        await append_group(conn, org, conversations, GROUP)
        await conn.execute("SELECT pg_stat_force_next_flush()")
        return await rows_read(observer) - before
    finally:
        await conn.close()
        await observer.close()


async def test_a_group_reads_a_few_rows_per_message_after_the_table_grew(
        database_url: str) -> None:
    read = await rows_read_by_a_late_group(database_url, MIGRATIONS_DIR)
    # per message: its conversation by primary key (locked, read, bumped) and one probe
    # for its client id; 0007's cached plan read all ~2,600 stored events per group
    assert 0 < read <= 8 * GROUP, read
