"""Periodic jobs run once per period across any number of server processes: each run is
claimed by leasing the job's row in `scheduled_jobs` (migrations/0019). Time comes from an
injected clock, so tests move it instead of sleeping (docs/privacy.md "Retention jobs")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast
from uuid import UUID, uuid4

import asyncpg

from server.storage import scheduler as store
from server.storage.db import Database

log = logging.getLogger("clienta.scheduler")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Job:
    """A periodic job: `run(now)` does one pass and says how many things it handled. A run
    must be safe to repeat: a holder that dies mid-run is retried after its lease."""

    name: str
    every: timedelta
    run: Callable[[datetime], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class SchedulerPolicy:
    poll_s: float = 60.0  # how often a process looks for due jobs
    lease: timedelta = timedelta(minutes=15)  # a run longer than this may be run again


class Scheduler:
    def __init__(self, db: Database, jobs: Sequence[Job], policy: SchedulerPolicy,
                 clock: Clock = utc_now) -> None:
        self.db = db
        self.jobs = {job.name: job for job in jobs}
        self.policy = policy
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    async def run_due(self) -> dict[str, int]:
        """Run every job whose time has come and that no other process holds; what each run
        handled, by job name. Jobs run one after another: the work is small and periodic."""
        ran: dict[str, int] = {}
        now = self.clock()
        async with self.db.pool.acquire() as conn:
            # the pool's proxy is a Connection to asyncpg (isinstance), not to its stubs
            await store.ensure(cast(asyncpg.Connection, conn),
                               [(job.name, now) for job in self.jobs.values()])
        for job in self.jobs.values():
            token = uuid4()
            now = self.clock()
            async with self.db.pool.acquire() as conn:
                claimed = await store.claim(cast(asyncpg.Connection, conn), job.name, now,
                                            now + self.policy.lease, token)
            if not claimed:
                continue
            ran[job.name] = await self._run(job, now, token)
        return ran

    async def _run(self, job: Job, now: datetime, token: UUID) -> int:
        try:
            count = await job.run(now)
        except asyncio.CancelledError:
            raise
        except Exception:
            # the lease is left to expire: another process (or this one) retries after it
            log.exception("scheduled job failed", extra={"job": job.name})
            return -1
        async with self.db.pool.acquire() as conn:
            await store.finish(cast(asyncpg.Connection, conn), job.name, token, now,
                               now + job.every, count)  # the proxy: as in run_due
        # a run that found nothing to do is routine: kept out of an operator's info log
        log.log(logging.INFO if count else logging.DEBUG, "scheduled job ran",
                extra={"job": job.name, "count": count})
        return count

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler pass failed")
            await asyncio.sleep(self.policy.poll_s)
