"""Migrations: in order, once each, recorded, and safe when N workers start together."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from server.storage.migrate import MIGRATIONS_DIR, apply_migrations, discover
from tests.storage.databases import fresh_database
from tests.storage.test_rls import GLOBAL_TABLES

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_concurrent_workers_apply_each_migration_once(database_url: str) -> None:
    url = await fresh_database(database_url)
    results = await asyncio.gather(*(apply_migrations(url) for _ in range(4)))
    applied = [name for result in results for name in result]
    expected = [stem for _, stem, _ in discover()]
    assert sorted(applied) == sorted(expected)  # each exactly once across the workers
    assert await apply_migrations(url) == []  # and never again
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [r["name"] for r in rows] == expected
        # every tenant table carries org_id (the platform's own tables are listed, with
        # their reasons, in test_rls.GLOBAL_TABLES)
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            " AND NOT (table_name = ANY($1::text[]))", ["orgs", *GLOBAL_TABLES])
        for row in tables:
            has = await conn.fetchval(
                "SELECT 1 FROM information_schema.columns WHERE table_name = $1"
                " AND column_name = 'org_id'", row["table_name"])
            assert has, f"{row['table_name']} has no org_id"
    finally:
        await conn.close()


async def test_migration_files_are_numbered_and_unique() -> None:
    found = discover(MIGRATIONS_DIR)
    numbers = [n for n, _, _ in found]
    assert numbers == sorted(numbers) and numbers[0] == 1
