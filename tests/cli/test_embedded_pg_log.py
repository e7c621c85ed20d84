"""The embedded Postgres's own log keeps no value a failed statement carried."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from server.storage.db import Database


def _log_text(session_dir: Path) -> str:
    log = session_dir / "pgdata" / "log"  # pgserver's server log: one file
    return log.read_text(errors="replace") if log.is_file() else ""


async def test_a_failed_statement_leaves_no_value_in_postgres_log(
        db: Database, session_dir: Path, database_url: str) -> None:
    if os.environ.get("DATABASE_URL"):
        pytest.skip("an external Postgres logs as its operator configured it")
    marker = uuid.uuid4().hex
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TEMP TABLE t (k text PRIMARY KEY)")
        await conn.execute("INSERT INTO t VALUES ($1)", marker)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO t VALUES ($1)", marker)
        with pytest.raises(asyncpg.DataError):
            await conn.execute(f"SELECT 'not-{marker}'::uuid")
        # a line Postgres does log, written after the errors: once it is there, anything
        # the errors would have written is there too
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    deadline = time.monotonic() + 10
    while "checkpoint" not in _log_text(session_dir).lower():
        assert time.monotonic() < deadline, "postgres logged no checkpoint"
        await asyncio.sleep(0.05)
    assert marker not in _log_text(session_dir)
