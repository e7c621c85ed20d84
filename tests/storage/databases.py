"""A database of its own inside the session's Postgres, for tests that need a fresh one."""

from __future__ import annotations

import uuid

import asyncpg


async def fresh_database(url: str, prefix: str = "mig_") -> str:
    name = prefix + uuid.uuid4().hex[:10]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, query = url.partition("?")
    head = base.rsplit("/", 1)[0]
    return f"{head}/{name}" + (f"?{query}" if query else "")
