"""Plans as tables: the effective plan by subscription state and grace, the usage period,
and which alerts are due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.domain.plans import (
    PAID,
    PLANS,
    Plan,
    Status,
    alerts_due,
    calendar_period,
    effective_plan,
    period,
)

NOW = datetime(2025, 12, 15, 12, tzinfo=UTC)
LATER, EARLIER = NOW + timedelta(days=1), NOW - timedelta(days=1)


@pytest.mark.parametrize(("plan", "status", "grace", "expected"), [
    (Plan.PRO, Status.ACTIVE, None, Plan.PRO),
    (Plan.STARTER, Status.TRIALING, None, Plan.STARTER),
    (Plan.PRO, Status.PAST_DUE, LATER, Plan.PRO),  # in the grace period
    (Plan.PRO, Status.PAST_DUE, EARLIER, Plan.FREE),  # after it
    (Plan.PRO, Status.UNPAID, None, Plan.FREE),
    (Plan.PRO, Status.CANCELED, LATER, Plan.FREE),
    (Plan.PRO, Status.INCOMPLETE, None, Plan.FREE),
    (Plan.FREE, Status.ACTIVE, None, Plan.FREE),
])
def test_effective_plan(plan: Plan, status: Status, grace: datetime | None,
                        expected: Plan) -> None:
    assert effective_plan(plan, status, grace, NOW) is expected


def test_periods() -> None:
    assert calendar_period(NOW) == (datetime(2025, 12, 1, tzinfo=UTC),
                                    datetime(2026, 1, 1, tzinfo=UTC))
    assert period(NOW, EARLIER, LATER) == (EARLIER, LATER)
    assert period(NOW, EARLIER - timedelta(days=40), EARLIER) == calendar_period(NOW)
    assert period(NOW, None, None) == calendar_period(NOW)


@pytest.mark.parametrize(("used", "limit", "sent", "due"), [
    (79, 100, frozenset(), ()), (80, 100, frozenset(), (80,)), (80, 100, frozenset({80}), ()),
    (100, 100, frozenset({80}), (100,)), (150, 100, frozenset(), (80, 100)),
    (5, 0, frozenset(), ()),
])
def test_alerts_due(used: int, limit: int, sent: frozenset[int], due: tuple[int, ...]) -> None:
    assert alerts_due(used, limit, sent) == due


def test_paid_plans_cost_more_and_allow_more() -> None:
    free = PLANS[Plan.FREE]
    assert free.usd_cents == free.thb_satang == 0
    for plan in PAID:
        spec = PLANS[plan]
        assert spec.price("usd") > 0 and spec.price("THB") > spec.price("usd")
        assert spec.limits.ai_answers > free.limits.ai_answers
        assert spec.limits.seats > free.limits.seats
