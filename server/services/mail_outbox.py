"""The mail outbox worker: claims due rows, sends each through the mailer with the row id as
its idempotency key, retries with exponential backoff, gives up on what cannot pass, and
purges finished rows after the retention period. One per process; rows go to one of them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from server.mail.base import Mailer, MailError
from server.storage import mail_outbox as store
from server.storage.db import Database, SystemJob

log = logging.getLogger("clienta.mail")

PURGE_INTERVAL = timedelta(hours=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class OutboxPolicy:
    max_attempts: int = 8
    # the first retry waits this long, each next one twice as long, at most `retry_max_s`
    retry_base_s: float = 30.0
    retry_max_s: float = 3600.0
    poll_s: float = 5.0
    # longer than a send can take (the mailer's timeout), so a live holder never loses a
    # row; after a crash the row waits this long, then goes out again under the same key
    lease_s: float = 60.0
    batch: int = 10
    retention: timedelta = timedelta(days=7)

    def delay_s(self, attempts: int, retry_after_s: float | None) -> float:
        backoff = self.retry_base_s * 2 ** max(0, attempts - 1)
        # a rate limit's Retry-After is honoured when it asks for longer
        return min(self.retry_max_s, max(backoff, retry_after_s or 0.0))


class MailOutbox:
    def __init__(self, db: Database, mailer: Mailer, policy: OutboxPolicy | None = None, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.db = db
        self.mailer = mailer
        self.policy = policy or OutboxPolicy()
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Mail was queued here: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mail-outbox")

    async def close(self) -> None:
        # a send cut short keeps its lease: after it runs out the row goes out again under
        # the same idempotency key, which the provider answers without sending twice
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self, now: datetime | None = None) -> int:
        """Claim the due rows (up to a batch) and send them; how many were claimed. `now`
        fixes the clock for this pass (tests), else the worker's clock is read."""
        at = now or self.clock()
        async with self.db.system(SystemJob.MAIL_OUTBOX) as conn:
            claimed = await store.claim(conn, self.db.keys, at,
                                        timedelta(seconds=self.policy.lease_s),
                                        self.policy.batch)
        if claimed:
            await asyncio.gather(*(self._deliver(c, now) for c in claimed))
        return len(claimed)

    async def purge(self, now: datetime | None = None) -> int:
        async with self.db.system(SystemJob.MAIL_OUTBOX) as conn:
            return await store.purge_finished(conn, (now or self.clock())
                                              - self.policy.retention)

    async def _deliver(self, claimed: store.Claimed, now: datetime | None) -> None:
        try:
            if claimed.mail is None:  # crypto-shredded with its org: nothing to send
                raise MailError("key_erased", permanent=True)
            provider_id = await self.mailer.send(claimed.mail, str(claimed.id))
            error: MailError | None = None
        except MailError as exc:
            error = exc
        except Exception as exc:  # a mailer's bug must not stop the others in the batch
            error = MailError(f"error:{type(exc).__name__}", permanent=False)
        at = now or self.clock()
        try:
            async with self.db.unit_of_work(claimed.org_id) as conn:
                await self._record(conn, claimed, provider_id if error is None else "",
                                   error, at)
        except Exception:
            # the lease runs out and the row is sent again under the same key
            log.exception("mail outcome not recorded", extra={"mail_id": str(claimed.id)})

    async def _record(self, conn, claimed: store.Claimed, provider_id: str,
                      error: MailError | None, at: datetime) -> None:
        ids = {"mail_id": str(claimed.id), "kind": claimed.kind, "attempts": claimed.attempts}
        if error is None:
            if await store.mark_sent(conn, claimed, provider_id, at):
                log.info("mail sent", extra=ids)
            return
        if error.permanent or claimed.attempts >= self.policy.max_attempts:
            if await store.mark_failed(conn, claimed, error.code, at):
                log.warning("mail given up", extra={**ids, "error": error.code})
            return
        delay = self.policy.delay_s(claimed.attempts, error.retry_after_s)
        if await store.mark_retry(conn, claimed, error.code, at + timedelta(seconds=delay)):
            log.info("mail send failed, will retry",
                     extra={**ids, "error": error.code, "retry_in_s": round(delay, 1)})

    async def _run(self) -> None:
        purged_at: datetime | None = None
        while True:
            self._wake.clear()
            claimed = 0
            try:
                now = self.clock()
                if purged_at is None or now - purged_at >= PURGE_INTERVAL:
                    await self.purge(now)
                    purged_at = now
                claimed = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mail outbox pass failed")
            if claimed >= self.policy.batch:
                continue  # more may be due: no wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.policy.poll_s)
