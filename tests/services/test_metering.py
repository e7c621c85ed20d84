"""The meter against the real database as the serving role (row-level security holds it):
seats over the plan are refused (members and pending invitations both hold one), usage
counts agree with SQL over the stored rows, LLM tokens are recorded once per stream, and
the effective plan follows the subscription's state with its grace period."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.billing.base import Card, SubscriptionState
from server.domain.passwords import PasswordPolicy
from server.domain.plans import PLANS, Metric, Plan, Status
from server.mail.files import FileMailer
from server.services.accounts import AccountService
from server.services.mail_outbox import MailOutbox
from server.services.metering import Meter, MeterPolicy
from server.storage import billing as store
from server.storage.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")
PASSWORD = "correct-horse-battery"


async def _org(db: Database, tmp_path: Path) -> tuple[uuid.UUID, Meter]:
    outbox = MailOutbox(db, FileMailer(tmp_path))
    accounts = AccountService(db, 3600, PasswordPolicy(), outbox)
    out = await accounts.signup("Metered", f"o-{uuid.uuid4().hex[:8]}@example.com",
                                PASSWORD, "")
    policy = MeterPolicy(refresh_s=60, max_orgs=100, grace=timedelta(days=3),
                         public_url="http://127.0.0.1:8000")
    return uuid.UUID(out["org_id"]), Meter(db, outbox, policy)


async def test_seats_over_the_plan_are_refused(app_db: Database, tmp_path: Path) -> None:
    org_id, meter = await _org(app_db, tmp_path)
    limit = PLANS[Plan.FREE].limits.seats
    assert await meter.can_add_seat(org_id) and await meter.seat_limit(org_id) == limit
    async with app_db.unit_of_work(org_id) as conn:
        for n in range(limit - 1):  # the owner holds the first seat
            await conn.execute(
                "INSERT INTO users (id, org_id, email, role, password_hash)"
                " VALUES ($1, $2, $3, 'agent', 'x')", uuid.uuid4(), org_id,
                f"a{n}-{uuid.uuid4().hex[:6]}@example.com")
        refusal = await meter.seat_refusal(conn, org_id)
    assert refusal is not None and f"{limit} seats" in refusal
    assert not await meter.can_add_seat(org_id)


async def test_tokens_are_recorded_once_per_stream_and_usage_matches_sql(
        app_db: Database, tmp_path: Path) -> None:
    org_id, meter = await _org(app_db, tmp_path)
    assert await meter.allows_answer(org_id)
    for _ in range(3):  # a retried record of the same stream
        await meter.answered(org_id, "stream-1", 120, 30)
    await meter.answered(org_id, "stream-2", 80, 20)
    await meter.answered(org_id, "stream-offline", 0, 0)  # the offline bot: nothing
    standing = await meter.standing(org_id)
    assert (standing.usage[Metric.TOKENS_IN], standing.usage[Metric.TOKENS_OUT]) == (200, 50)
    async with app_db.unit_of_work(org_id) as conn:
        rows = await conn.fetchval("SELECT count(*) FROM usage_tokens WHERE org_id = $1",
                                   org_id)
        seats = await conn.fetchval("SELECT count(*) FROM users WHERE org_id = $1", org_id)
    assert rows == 2 and standing.usage[Metric.SEATS] == seats == 1


async def test_the_plan_follows_the_subscription_and_its_grace(app_db: Database,
                                                               tmp_path: Path) -> None:
    org_id, meter = await _org(app_db, tmp_path)
    now = datetime.now(UTC)

    def state(status: Status) -> SubscriptionState:
        return SubscriptionState("stripe", f"cus_{uuid.uuid4().hex[:8]}", "sub_1", Plan.PRO,
                                 status, now, now + timedelta(days=30), False,
                                 Card("visa", "4242", 12, 2030))

    async with app_db.unit_of_work(org_id) as conn:
        await store.lock_account(conn, org_id, "stripe")
        await store.apply_subscription(conn, org_id, state(Status.ACTIVE), timedelta(days=3),
                                       now)
    assert (await meter.standing(org_id)).plan is Plan.PRO
    async with app_db.unit_of_work(org_id) as conn:
        await store.apply_subscription(conn, org_id, state(Status.PAST_DUE),
                                       timedelta(days=3), now)
        grace = (await store.account(conn, org_id)).grace_until  # type: ignore[union-attr]
        # a later delivery keeps the grace period already running
        await store.apply_subscription(conn, org_id, state(Status.PAST_DUE),
                                       timedelta(days=3), now + timedelta(days=1))
        assert (await store.account(conn, org_id)).grace_until == grace  # type: ignore[union-attr]
    assert (await meter.standing(org_id)).plan is Plan.PRO  # within the grace
    meter.clock = lambda: now + timedelta(days=4)
    assert (await meter.standing(org_id)).plan is Plan.FREE  # after it
    async with app_db.unit_of_work(org_id) as conn:
        await store.apply_subscription(conn, org_id, state(Status.ACTIVE), timedelta(days=3),
                                       now)
        assert (await store.account(conn, org_id)).grace_until is None  # type: ignore[union-attr]
    assert (await meter.standing(org_id)).plan is Plan.PRO
