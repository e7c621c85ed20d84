"""The renewal job's decision for one Omise subscription, and the monthly period, as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.domain.renewals import RenewalAction as A
from server.domain.renewals import Subscription, add_month, decide

END = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
NOTICE = timedelta(days=3)
BEFORE, SOON, AFTER = END - timedelta(days=10), END - timedelta(days=1), END + timedelta(hours=1)


def sub(card: bool = False, cancel: bool = False, grace: datetime | None = None,
        done: tuple[str, ...] = ()) -> Subscription:
    return Subscription(END, cancel, card, grace, frozenset(done))


@pytest.mark.parametrize(("subscription", "now", "action"), [
    (sub(), BEFORE, A.NOTHING),
    (sub(), SOON, A.NOTICE),  # PromptPay: the link goes out before the end
    (sub(done=("notice",)), SOON, A.NOTHING),  # once
    (sub(done=("roll",)), SOON, A.NOTHING),  # paid ahead: no reminder
    (sub(card=True), SOON, A.NOTHING),  # a card is charged at the end, not reminded
    (sub(cancel=True), SOON, A.NOTHING),
    (sub(card=True), AFTER, A.CHARGE),
    (sub(card=True, done=("charge",)), AFTER, A.NOTHING),  # its outcome settles it
    (sub(), AFTER, A.LAPSE),
    (sub(done=("lapse",)), AFTER, A.NOTHING),  # the grace runs
    (sub(done=("lapse",), grace=AFTER), AFTER + timedelta(days=1), A.END),
    (sub(done=("roll",)), AFTER, A.ROLL),
    (sub(cancel=True, card=True), AFTER, A.END),
    (sub(cancel=True, done=("roll",)), AFTER, A.ROLL),  # paid ahead wins
])
def test_decide(subscription: Subscription, now: datetime, action: A) -> None:
    assert decide(subscription, now, NOTICE) is action


@pytest.mark.parametrize(("start", "end"), [
    (datetime(2025, 1, 15, tzinfo=UTC), datetime(2025, 2, 15, tzinfo=UTC)),
    (datetime(2025, 1, 31, tzinfo=UTC), datetime(2025, 2, 28, tzinfo=UTC)),
    (datetime(2024, 1, 31, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC)),
    (datetime(2025, 12, 31, 23, 59, tzinfo=UTC), datetime(2026, 1, 31, 23, 59, tzinfo=UTC)),
])
def test_add_month(start: datetime, end: datetime) -> None:
    assert add_month(start) == end
