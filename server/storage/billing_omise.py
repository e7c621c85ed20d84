"""Omise's tables (migrations/0016): the charges we created (plan and amount asked), the
renewal job's actions per org and period, and an Omise subscription's period as Clienta
keeps it in billing_accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from server.billing.base import Card


@dataclass(frozen=True, slots=True)
class OurCharge:
    charge_id: str
    org_id: UUID
    plan: str
    method: str
    purpose: str
    amount: int
    currency: str
    status: str


async def add_charge(conn: asyncpg.Connection, org_id: UUID, charge_id: str, plan: str,
                     method: str, purpose: str, amount: int, currency: str) -> None:
    await conn.execute(
        "INSERT INTO omise_charges (charge_id, org_id, plan, method, purpose, amount, currency)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        charge_id, org_id, plan, method, purpose, amount, currency)


async def charge(conn: asyncpg.Connection, org_id: UUID, charge_id: str, *,
                 for_update: bool = False) -> OurCharge | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        "SELECT charge_id, org_id, plan, method, purpose, amount, currency, status"
        f" FROM omise_charges WHERE org_id = $1 AND charge_id = $2{lock}", org_id, charge_id)
    return OurCharge(*row.values()) if row else None


async def settle_charge(conn: asyncpg.Connection, org_id: UUID, charge_id: str,
                        status: str) -> None:
    await conn.execute("UPDATE omise_charges SET status = $3, settled_at = now()"
                       " WHERE org_id = $1 AND charge_id = $2", org_id, charge_id, status)


async def org_of_charge(conn: asyncpg.Connection, charge_id: str) -> UUID | None:
    """Across orgs (a SECURITY DEFINER function): whose charge a webhook names, if ours."""
    return await conn.fetchval("SELECT clienta_omise_charge_org($1)", charge_id)


async def renewals_due(conn: asyncpg.Connection, until: datetime, limit: int) -> list[UUID]:
    """In a system job: orgs whose Omise period ends before `until`."""
    rows = await conn.fetch("SELECT org_id FROM clienta_omise_renewals_due($1, $2)",
                            until, limit)
    return [r["org_id"] for r in rows]


async def renewal_actions(conn: asyncpg.Connection, org_id: UUID,
                          period_end: datetime) -> frozenset[str]:
    rows = await conn.fetch("SELECT action FROM omise_renewals WHERE org_id = $1"
                            " AND period_end = $2", org_id, period_end)
    return frozenset(r["action"] for r in rows)


async def claim_renewal(conn: asyncpg.Connection, org_id: UUID, period_end: datetime,
                        action: str, *, charge_id: str | None = None,
                        plan: str | None = None) -> bool:
    """True the first time this action is taken for this period (the primary key makes it
    once across processes and retries)."""
    done = await conn.fetchval(
        "INSERT INTO omise_renewals (org_id, period_end, action, charge_id, plan)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
        org_id, period_end, action, charge_id, plan)
    return bool(done)


async def renewal_charge(conn: asyncpg.Connection, org_id: UUID,
                         period_end: datetime) -> str | None:
    """The renewal charge placed for this period, while the API has not settled it."""
    return await conn.fetchval(
        "SELECT r.charge_id FROM omise_renewals r JOIN omise_charges c USING (charge_id)"
        " WHERE r.org_id = $1 AND r.period_end = $2 AND r.action = 'charge'"
        " AND c.status = 'pending'", org_id, period_end)


async def start_period(conn: asyncpg.Connection, org_id: UUID, customer_id: str | None,
                       plan: str, start: datetime, end: datetime, card: Card | None) -> None:
    """A paid period of an Omise subscription (Clienta keeps it; Omise has none)."""
    await conn.execute(
        """UPDATE billing_accounts SET provider = 'omise',
               customer_id = coalesce($2, customer_id),
               subscription_id = coalesce($2, customer_id, subscription_id, 'omise'),
               plan = $3, next_plan = NULL, status = 'active', period_start = $4,
               period_end = $5, grace_until = NULL, cancel_at_period_end = false,
               card_brand = coalesce($6, card_brand), card_last4 = coalesce($7, card_last4),
               card_exp_month = coalesce($8, card_exp_month),
               card_exp_year = coalesce($9, card_exp_year), updated_at = now()
           WHERE org_id = $1""",
        org_id, customer_id, plan, start, end, card.brand if card else None,
        card.last4 if card else None, card.exp_month if card else None,
        card.exp_year if card else None)


async def set_card(conn: asyncpg.Connection, org_id: UUID, customer_id: str,
                   card: Card) -> None:
    await conn.execute(
        "UPDATE billing_accounts SET customer_id = $2, card_brand = $3, card_last4 = $4,"
        " card_exp_month = $5, card_exp_year = $6, updated_at = now() WHERE org_id = $1",
        org_id, customer_id, card.brand, card.last4, card.exp_month, card.exp_year)


async def set_next_plan(conn: asyncpg.Connection, org_id: UUID, plan: str | None) -> None:
    await conn.execute("UPDATE billing_accounts SET next_plan = $2, cancel_at_period_end ="
                       " false, updated_at = now() WHERE org_id = $1", org_id, plan)


async def next_plan(conn: asyncpg.Connection, org_id: UUID) -> str | None:
    return await conn.fetchval("SELECT next_plan FROM billing_accounts WHERE org_id = $1",
                               org_id)


async def cancel_at_end(conn: asyncpg.Connection, org_id: UUID) -> None:
    await conn.execute("UPDATE billing_accounts SET cancel_at_period_end = true,"
                       " next_plan = NULL, updated_at = now() WHERE org_id = $1", org_id)


async def end(conn: asyncpg.Connection, org_id: UUID) -> None:
    """Cancelled at the end of the period, or unpaid past the grace: free from now."""
    await conn.execute("UPDATE billing_accounts SET status = 'canceled', grace_until = NULL,"
                       " next_plan = NULL, updated_at = now() WHERE org_id = $1", org_id)


async def lapse(conn: asyncpg.Connection, org_id: UUID, grace: timedelta,
                now: datetime) -> datetime:
    """Unpaid at the period's end: past due, the grace period starts (once)."""
    return await conn.fetchval(
        "UPDATE billing_accounts SET status = 'past_due',"
        " grace_until = coalesce(grace_until, $2), updated_at = now()"
        " WHERE org_id = $1 RETURNING grace_until", org_id, now + grace)
