"""The meter: each org's usage this period against its plan's limits, counted from stored
events, cached per process so the bot's check costs no query per message; LLM tokens per
answer (once per stream); the 80% and 100% mails (once each per period); the checks of new
conversations (cached too), seats and knowledge-base documents (in the caller's transaction)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from server.domain import plans
from server.domain.plans import Limits, Metric, Plan
from server.mail import templates
from server.mail.base import Mail
from server.services.mail_outbox import MailOutbox
from server.storage import accounts as accounts_store
from server.storage import billing as store
from server.storage import mail_outbox
from server.storage.db import Database
from server.storage.keys import Keyring

log = logging.getLogger("clienta.billing")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class MeterPolicy:
    refresh_s: float  # how old a cached count may be before the next check re-reads it
    max_orgs: int  # cached orgs per process (least recently used leave first)
    grace: timedelta  # a failed payment keeps the paid plan this long
    public_url: str  # the billing page's link in mail
    # the limits enforced (CLIENTA_BILLING_LIMITS); the others are only metered
    enforced: frozenset[Metric] = frozenset(plans.LIMITED)


@dataclass(frozen=True, slots=True)
class Standing:
    """An org's plan and usage as of `at`."""

    plan: Plan
    limits: Limits
    period_start: datetime
    period_end: datetime
    usage: dict[Metric, int]

    def over(self, metric: Metric) -> bool:
        limit = self.limits.as_json().get(metric)
        return limit is not None and self.usage.get(metric, 0) >= limit


@dataclass(slots=True)
class _Cached:
    standing: Standing
    answers: int  # counted at refresh, plus this process's answers since
    opened: int  # open conversations at refresh, plus this process's new ones since
    fetched: float  # monotonic


async def standing_in(conn: asyncpg.Connection, org_id: UUID, now: datetime,
                      grace: timedelta) -> Standing:
    """The org's plan and usage, read in the caller's transaction."""
    account = await store.account(conn, org_id)
    if account is None:
        plan, start, end = Plan.FREE, None, None
    else:
        plan = plans.effective_plan(account.plan, account.status, account.grace_until, now)
        start, end = account.period_start, account.period_end
    period_start, period_end = plans.period(now, start if plan is not Plan.FREE else None,
                                            end if plan is not Plan.FREE else None)
    usage = await store.usage(conn, org_id, period_start, period_end)
    return Standing(plan, plans.spec(plan).limits, period_start, period_end, usage)


class Meter:
    def __init__(self, db: Database, outbox: MailOutbox, policy: MeterPolicy,
                 clock: Clock = utc_now) -> None:
        self.db = db
        self.outbox = outbox
        self.policy = policy
        self.clock = clock
        self._cache: OrderedDict[UUID, _Cached] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- the bot's hot path ---------------------------------------------------------

    async def allows_answer(self, org_id: UUID) -> bool:
        """Whether the bot may answer one more question for this org: a dict lookup while
        the cached count is fresh, one query per org every `refresh_s` otherwise."""
        if Metric.AI_ANSWERS not in self.policy.enforced:
            return True
        cached = await self._fresh(org_id)
        return cached is None or cached.answers < cached.standing.limits.ai_answers

    async def admits_conversation(self, org_id: UUID) -> bool:
        """Whether a new conversation starts with the bot: open conversations below the
        plan's limit (the cached count, plus this process's new ones since; closings are
        seen at the next refresh). Counted either way: a refused one is open too."""
        if Metric.CONCURRENT_CONVERSATIONS not in self.policy.enforced:
            return True
        cached = await self._fresh(org_id)
        if cached is None:
            return True
        cached.opened += 1
        return cached.opened <= cached.standing.limits.concurrent_conversations

    async def _fresh(self, org_id: UUID) -> _Cached | None:
        cached = self._cache.get(org_id)
        if cached is None or time.monotonic() - cached.fetched > self.policy.refresh_s:
            try:
                cached = await self._refresh(org_id)
            except Exception as exc:
                # the meter failing must not stop a conversation: the last count, else allow
                log.error("meter refresh failed", extra={"error": exc})
                if cached is None:
                    return None
        self._cache.move_to_end(org_id)
        return cached

    async def answered(self, org_id: UUID, stream_id: str, tokens_in: int,
                       tokens_out: int) -> None:
        """The bot stored an answer: count it here until the next refresh recounts it from
        events, and record its tokens once per stream."""
        cached = self._cache.get(org_id)
        if cached is not None:
            cached.answers += 1
            limit = cached.standing.limits.ai_answers
            if any(cached.answers * 100 >= p * limit > (cached.answers - 1) * 100
                   for p in plans.ALERT_PERCENTS):
                self._spawn(self._refresh_quietly(org_id))  # mails the alert now
        if tokens_in or tokens_out:
            try:
                async with self.db.unit_of_work(org_id) as conn:
                    await store.record_tokens(conn, org_id, stream_id, tokens_in, tokens_out)
            except Exception as exc:  # the answer is stored and sent: never fail it now
                log.error("could not record an answer's tokens", extra={"error": exc})

    # ---- reads ----------------------------------------------------------------------

    async def standing(self, org_id: UUID) -> Standing:
        return (await self._refresh(org_id)).standing

    def forget(self, org_id: UUID) -> None:
        """The org's plan changed: its next check re-reads it."""
        self._cache.pop(org_id, None)

    async def seat_refusal(self, conn: asyncpg.Connection, org_id: UUID) -> str | None:
        """Why one more member (or invitation) would exceed the plan's seats, or None. In
        the caller's transaction, so the check and the insert see the same rows (and a
        concurrent check waits for this transaction)."""
        if Metric.SEATS not in self.policy.enforced:
            return None
        await store.lock_limit(conn, org_id, Metric.SEATS.value)
        plan = await self._plan_in(conn, org_id)
        limit = plans.spec(plan).limits.seats
        if await store.seats(conn, org_id) >= limit:
            return (f"the {plan.value} plan includes {limit} seats (members and pending "
                    "invitations): upgrade the plan to add more")
        return None

    async def document_refusal(self, conn: asyncpg.Connection, org_id: UUID) -> str | None:
        """Why one more knowledge-base document would exceed the plan, or None; in the
        caller's transaction, like seats. Documents already stored are never removed."""
        if Metric.KB_DOCUMENTS not in self.policy.enforced:
            return None
        await store.lock_limit(conn, org_id, Metric.KB_DOCUMENTS.value)
        plan = await self._plan_in(conn, org_id)
        limit = plans.spec(plan).limits.kb_documents
        if await store.kb_documents(conn, org_id) >= limit:
            return (f"the {plan.value} plan includes {limit} knowledge-base documents: "
                    "delete one or upgrade the plan to add more (nothing stored is removed)")
        return None

    async def _plan_in(self, conn: asyncpg.Connection, org_id: UUID) -> Plan:
        account = await store.account(conn, org_id)
        return Plan.FREE if account is None else plans.effective_plan(
            account.plan, account.status, account.grace_until, self.clock())

    async def can_add_seat(self, org_id: UUID) -> bool:
        async with self.db.unit_of_work(org_id) as conn:
            return await self.seat_refusal(conn, org_id) is None

    async def seat_limit(self, org_id: UUID) -> int:
        return (await self.standing(org_id)).limits.seats

    # ---- refresh and alerts ---------------------------------------------------------

    async def _refresh(self, org_id: UUID) -> _Cached:
        now = self.clock()
        mailed = False
        async with self.db.unit_of_work(org_id) as conn:
            standing = await standing_in(conn, org_id, now, self.policy.grace)
            mailed = await self._alerts(conn, org_id, standing)
        if mailed:
            self.outbox.wake()
        cached = _Cached(standing, standing.usage[Metric.AI_ANSWERS],
                         standing.usage[Metric.CONCURRENT_CONVERSATIONS], time.monotonic())
        self._cache[org_id] = cached
        self._cache.move_to_end(org_id)
        while len(self._cache) > self.policy.max_orgs:
            self._cache.popitem(last=False)
        return cached

    async def _refresh_quietly(self, org_id: UUID) -> None:
        try:
            await self._refresh(org_id)
        except Exception as exc:
            log.error("meter refresh failed", extra={"error": exc})

    async def _alerts(self, conn: asyncpg.Connection, org_id: UUID,
                      standing: Standing) -> bool:
        """Mail the owners each alert due for this period, once: the marker's UNIQUE key
        and the mail share this transaction."""
        metric = Metric.AI_ANSWERS
        used, limit = standing.usage[metric], standing.limits.ai_answers
        due = plans.alerts_due(used, limit, frozenset())
        if not due:
            return False
        percent = due[-1]  # past 100% at once: one mail, the 100% one (80% marked too)
        fresh = [p for p in due
                 if await store.mark_alert(conn, org_id, standing.period_start, metric, p)]
        if percent not in fresh:
            return False
        org = await accounts_store.org_by_id(conn, org_id)
        for email, locale in await store.owners(conn, org_id):
            rendered = templates.usage_alert(
                locale, org_name=org.name if org else "", plan=standing.plan.value,
                metric=metric.value, used=used, limit=limit, percent=percent,
                billing_url=f"{self.policy.public_url}/console#billing")
            await queue_mail(conn, self.db.keys, org_id, templates.MailKind.USAGE_ALERT, email,
                             locale, rendered)
        return True

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if len(self._tasks) >= 64:  # bounded: a later check refreshes anyway
            coro.close()
            return
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def queue_mail(conn: asyncpg.Connection, keys: Keyring, org_id: UUID, kind: str,
                     email: str, locale: str, rendered: templates.Rendered) -> None:
    await mail_outbox.enqueue(conn, keys, org_id, kind, Mail(email, rendered.subject,
                                                             rendered.text, rendered.html, locale))
