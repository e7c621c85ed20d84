"""The plans we sell (free, starter, pro): prices in USD cents and THB satang, and each
plan's limits; which plan an org is on given its subscription's state; the usage
period; and when usage deserves an alert. The one place a plan is defined."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum


class Plan(StrEnum):
    FREE = "free"
    STARTER = "starter"
    PRO = "pro"


class Metric(StrEnum):
    """What is metered per org and period (and what a limit can be on)."""

    AI_ANSWERS = "ai_answers"  # bot messages stored
    CONVERSATIONS = "conversations"  # conversations started
    TOKENS_IN = "tokens_in"  # LLM prompt tokens (the offline bot uses none)
    TOKENS_OUT = "tokens_out"
    SEATS = "seats"  # staff users now
    KB_DOCUMENTS = "kb_documents"  # knowledge-base documents now
    CONCURRENT_CONVERSATIONS = "concurrent_conversations"  # open (not closed) now


class Status(StrEnum):
    """A subscription's state, as Stripe names it (Omise's map onto these)."""

    NONE = "none"  # never subscribed
    INCOMPLETE = "incomplete"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class Limits:
    ai_answers: int  # per period
    seats: int
    kb_documents: int
    concurrent_conversations: int

    def as_json(self) -> dict[str, int]:
        return {Metric.AI_ANSWERS: self.ai_answers, Metric.SEATS: self.seats,
                Metric.KB_DOCUMENTS: self.kb_documents,
                Metric.CONCURRENT_CONVERSATIONS: self.concurrent_conversations}


@dataclass(frozen=True, slots=True)
class PlanSpec:
    plan: Plan
    usd_cents: int  # a month
    thb_satang: int
    limits: Limits

    def price(self, currency: str) -> int:
        return self.thb_satang if currency.lower() == "thb" else self.usd_cents


PLANS: Mapping[Plan, PlanSpec] = {
    Plan.FREE: PlanSpec(Plan.FREE, 0, 0, Limits(ai_answers=100, seats=2, kb_documents=20,
                                                 concurrent_conversations=5)),
    Plan.STARTER: PlanSpec(Plan.STARTER, 2_900, 99_000, Limits(
        ai_answers=2_000, seats=5, kb_documents=200, concurrent_conversations=50)),
    Plan.PRO: PlanSpec(Plan.PRO, 9_900, 349_000, Limits(
        ai_answers=20_000, seats=25, kb_documents=2_000, concurrent_conversations=500)),
}
PAID = (Plan.STARTER, Plan.PRO)
# the metrics a plan limits (the others are only metered)
LIMITED = (Metric.AI_ANSWERS, Metric.SEATS, Metric.KB_DOCUMENTS,
           Metric.CONCURRENT_CONVERSATIONS)
# what an alert is mailed at, in percent of a limit
ALERT_PERCENTS = (80, 100)


def spec(plan: Plan | str) -> PlanSpec:
    return PLANS[Plan(plan)]


def effective_plan(plan: Plan | str, status: Status | str, grace_until: datetime | None,
                   now: datetime) -> Plan:
    """The plan whose limits apply. A paid plan holds while the subscription is active or
    trialing, and through a failed payment's grace period; after that, and once
    cancelled, the org is on free. Nothing is deleted by the change: only limits move."""
    plan, status = Plan(plan), Status(status)
    if plan is Plan.FREE:
        return plan
    if status in (Status.ACTIVE, Status.TRIALING):
        return plan
    if status in (Status.PAST_DUE, Status.UNPAID) and grace_until is not None \
            and now < grace_until:
        return plan
    return Plan.FREE


def calendar_period(now: datetime) -> tuple[datetime, datetime]:
    """A free org's period: the current calendar month in UTC."""
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def period(now: datetime, start: datetime | None, end: datetime | None
           ) -> tuple[datetime, datetime]:
    """The usage period: the subscription's while `now` is in it, else the month."""
    if start is not None and end is not None and start <= now < end:
        return start, end
    return calendar_period(now)


def alerts_due(used: int, limit: int, already: frozenset[int]) -> tuple[int, ...]:
    """The alert percents `used` has reached that were not mailed yet (highest last)."""
    if limit <= 0:
        return ()
    return tuple(p for p in ALERT_PERCENTS if used * 100 >= p * limit and p not in already)
