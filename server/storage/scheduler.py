"""The periodic jobs' leases in SQL (`scheduled_jobs`, migrations/0019): a global table,
no org's data, so plain pool connections read and write it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg


async def ensure(conn: asyncpg.Connection, jobs: Sequence[tuple[str, datetime]]) -> None:
    """A row for each job, first due at the given time (existing rows are left alone)."""
    await conn.execute(
        "INSERT INTO scheduled_jobs (name, next_run_at)"
        " SELECT * FROM unnest($1::text[], $2::timestamptz[]) ON CONFLICT (name) DO NOTHING",
        [name for name, _ in jobs], [at for _, at in jobs])


async def claim(conn: asyncpg.Connection, name: str, now: datetime, until: datetime,
                token: UUID) -> bool:
    """Take the job's lease when it is due and nobody holds it: one UPDATE, so of two
    processes asking at once exactly one gets the row (the other waits on its lock, then
    finds the lease taken)."""
    status = await conn.execute(
        "UPDATE scheduled_jobs SET locked_until = $3, lock_token = $4"
        " WHERE name = $1 AND next_run_at <= $2"
        " AND (locked_until IS NULL OR locked_until <= $2)", name, now, until, token)
    return status == "UPDATE 1"


async def finish(conn: asyncpg.Connection, name: str, token: UUID, ran_at: datetime,
                 next_at: datetime, count: int) -> bool:
    """Free the lease and set the next run, only if this run still holds it."""
    status = await conn.execute(
        "UPDATE scheduled_jobs SET locked_until = NULL, lock_token = NULL, last_run_at = $3,"
        " next_run_at = $4, last_count = $5 WHERE name = $1 AND lock_token = $2",
        name, token, ran_at, next_at, count)
    return status == "UPDATE 1"
