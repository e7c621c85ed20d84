"""The retention jobs the scheduler runs (docs/privacy.md "Retention jobs"): terminated
orgs purged, owners reminded of privacy requests near or past their deadline, closed
conversations deleted past their org's retention, usage records deleted after 24 months."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.services.lifecycle import OrgLifecycle
from server.services.privacy import PrivacyService
from server.services.scheduler import Job
from server.storage import lifecycle as store
from server.storage.db import Database, SystemJob

CLOSED_BATCH = 1000  # conversations deleted per statement


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    every: timedelta = timedelta(hours=1)
    usage_keep: timedelta = timedelta(days=730)  # 24 months


class RetentionJobs:
    def __init__(self, db: Database, lifecycle: OrgLifecycle, privacy: PrivacyService,
                 command: Callable[..., Any], policy: RetentionPolicy) -> None:
        self.db = db
        self.lifecycle = lifecycle
        self.privacy = privacy
        self.command = command  # Redis: deleted conversations' stream snapshots
        self.policy = policy

    def jobs(self) -> list[Job]:
        every = self.policy.every
        return [Job("org_purge", every, self.lifecycle.purge_due),
                Job("privacy_reminders", every, self.privacy.remind_due),
                Job("closed_conversations", every, self.closed_conversations),
                # a daily pass: the cut-off moves by a day at a time anyway
                Job("usage_purge", max(every, timedelta(days=1)), self.usage)]

    async def closed_conversations(self, now: datetime) -> int:
        """Each org with a retention setting loses its conversations closed longer ago."""
        async with self.db.system(SystemJob.RETENTION) as conn:
            orgs = await store.orgs_with_retention(conn)
        deleted = 0
        for org_id, days in orgs:
            while True:
                async with self.db.unit_of_work(org_id) as conn:
                    gone = await store.delete_closed(conn, org_id, now - timedelta(days=days),
                                                     CLOSED_BATCH)
                if gone:
                    await self.command("DEL", *[f"bs:{c}" for c in gone])
                deleted += len(gone)
                if len(gone) < CLOSED_BATCH:
                    break
        return deleted

    async def usage(self, now: datetime) -> int:
        """Token counts, erased visitors' anonymous skeletons and audit entries older than
        24 months, every org's (one system function: migrations/0019)."""
        async with self.db.system(SystemJob.RETENTION) as conn:
            return await store.usage_purge(conn, now - self.policy.usage_keep)
