"""The scheduler against the real database, as the serving role: two schedulers on two
pools (two processes' worth) run each job once per period however often and however
concurrently they look, a moved clock makes every job due again, and a holder that dies
mid-run hands the job on after its lease. Nothing sleeps: the clock is injected."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from server.services.scheduler import Job, Scheduler, SchedulerPolicy
from server.storage.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")

EVERY = timedelta(hours=1)
POLICY = SchedulerPolicy(poll_s=60.0, lease=timedelta(minutes=15))


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def counting_jobs(runs: Counter[str], names: list[str]) -> list[Job]:
    def job(name: str) -> Job:
        async def run(now: datetime) -> int:
            runs[name] += 1
            await asyncio.sleep(0)  # let the other scheduler try while this one holds it
            return 1
        return Job(name, EVERY, run)
    return [job(n) for n in names]


async def test_two_schedulers_on_two_pools_run_each_job_once_per_period(
        app_db: Database, app_database_url: str) -> None:
    other = await Database.connect(app_database_url, min_size=1, max_size=2)
    try:
        clock = Clock()
        names = [f"test_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("purge", "usage", "mail")]
        runs: Counter[str] = Counter()
        a = Scheduler(app_db, counting_jobs(runs, names), POLICY, clock)
        b = Scheduler(other, counting_jobs(runs, names), POLICY, clock)
        for _ in range(3):  # many looks at the same moment: one run of each
            await asyncio.gather(a.run_due(), b.run_due(), a.run_due(), b.run_due())
        assert runs == Counter({n: 1 for n in names})

        clock.now += EVERY - timedelta(seconds=1)  # not yet
        await asyncio.gather(a.run_due(), b.run_due())
        assert runs == Counter({n: 1 for n in names})

        clock.now += timedelta(seconds=1)  # the period has passed: once more each
        await asyncio.gather(a.run_due(), b.run_due(), a.run_due())
        assert runs == Counter({n: 2 for n in names})
    finally:
        await other.close()


async def test_a_run_that_failed_is_retried_after_its_lease(app_db: Database) -> None:
    clock = Clock()
    name = f"test_flaky_{uuid.uuid4().hex[:8]}"
    attempts: list[datetime] = []

    async def flaky(now: datetime) -> int:
        attempts.append(now)
        if len(attempts) == 1:
            raise RuntimeError("the first run dies")
        return 0

    scheduler = Scheduler(app_db, [Job(name, EVERY, flaky)], POLICY, clock)
    assert await scheduler.run_due() == {name: -1}
    clock.now += POLICY.lease - timedelta(seconds=1)  # still leased by the dead run
    assert await scheduler.run_due() == {}
    clock.now += timedelta(seconds=1)
    assert await scheduler.run_due() == {name: 0}
    assert len(attempts) == 2
