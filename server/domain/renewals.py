"""Renewing a subscription we keep ourselves (Omise): what the renewal job does for one org
at a given moment, and the monthly period. Pure: tested as a table."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class RenewalAction(StrEnum):
    NOTHING = "nothing"
    NOTICE = "notice"  # PromptPay: mail the owner a link to pay the next period (once)
    CHARGE = "charge"  # the saved card: charge it for the next period (once)
    ROLL = "roll"  # paid ahead (or just charged): the next period starts
    LAPSE = "lapse"  # unpaid at the end: past due, the grace period starts, owners mailed
    END = "end"  # cancelled at period end, or the grace is over: the org is on free


@dataclass(frozen=True, slots=True)
class Subscription:
    period_end: datetime
    cancel_at_period_end: bool
    has_card: bool
    grace_until: datetime | None
    done: frozenset[str]  # the actions already taken for this period_end


def add_month(at: datetime) -> datetime:
    """The same day and time next month, or its last day (31 Jan -> 28/29 Feb)."""
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return at.replace(year=year, month=month,
                      day=min(at.day, calendar.monthrange(year, month)[1]))


def decide(sub: Subscription, now: datetime, notice: timedelta) -> RenewalAction:
    done = sub.done
    if now < sub.period_end:
        if (not sub.has_card and not sub.cancel_at_period_end and now >= sub.period_end - notice
                and not done & {RenewalAction.NOTICE, RenewalAction.ROLL}):
            return RenewalAction.NOTICE
        return RenewalAction.NOTHING
    if RenewalAction.ROLL in done:
        return RenewalAction.ROLL  # paid ahead for the period that starts now
    if sub.cancel_at_period_end:
        return RenewalAction.END
    if sub.grace_until is not None and now >= sub.grace_until:
        return RenewalAction.END
    if sub.has_card and RenewalAction.CHARGE not in done:
        return RenewalAction.CHARGE
    if RenewalAction.CHARGE not in done and RenewalAction.LAPSE not in done:
        return RenewalAction.LAPSE
    # a card charge placed (settled by its webhook or a poll), or the grace running
    return RenewalAction.NOTHING
