"""Billing's tables (migrations/0015): an org's subscription as its provider last said, the
provider events applied (once each), invoices, LLM tokens per answer, usage alerts sent;
and the meter's counts over stored events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from server.billing.base import InvoiceRecord, SubscriptionState
from server.domain.plans import Metric, Plan, Status


@dataclass(frozen=True, slots=True)
class Account:
    org_id: UUID
    provider: str
    customer_id: str | None
    subscription_id: str | None
    plan: Plan
    status: Status
    period_start: datetime | None
    period_end: datetime | None
    cancel_at_period_end: bool
    grace_until: datetime | None
    card_brand: str | None
    card_last4: str | None
    card_exp_month: int | None
    card_exp_year: int | None


_COLS = ("org_id, provider, customer_id, subscription_id, plan, status, period_start,"
         " period_end, cancel_at_period_end, grace_until, card_brand, card_last4,"
         " card_exp_month, card_exp_year")


def _account(row: asyncpg.Record) -> Account:
    return Account(row["org_id"], row["provider"], row["customer_id"], row["subscription_id"],
                   Plan(row["plan"]), Status(row["status"]), row["period_start"],
                   row["period_end"], row["cancel_at_period_end"], row["grace_until"],
                   row["card_brand"], row["card_last4"], row["card_exp_month"],
                   row["card_exp_year"])


async def account(conn: asyncpg.Connection, org_id: UUID, *,
                  for_update: bool = False) -> Account | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLS} FROM billing_accounts WHERE org_id = $1{lock}",
                              org_id)
    return _account(row) if row else None


async def lock_account(conn: asyncpg.Connection, org_id: UUID, provider: str) -> Account:
    """The org's account row, made if missing, locked until the transaction ends: one
    provider event of an org is applied at a time, in whatever order they arrive."""
    await conn.execute("INSERT INTO billing_accounts (org_id, provider) VALUES ($1, $2)"
                       " ON CONFLICT (org_id) DO NOTHING", org_id, provider)
    found = await account(conn, org_id, for_update=True)
    assert found is not None
    return found


async def set_customer(conn: asyncpg.Connection, org_id: UUID, provider: str,
                       customer_id: str) -> None:
    await conn.execute(
        "INSERT INTO billing_accounts (org_id, provider, customer_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (org_id) DO UPDATE SET provider = $2, customer_id = $3,"
        " updated_at = now()", org_id, provider, customer_id)


async def org_by_customer(conn: asyncpg.Connection, provider: str,
                          customer_id: str) -> UUID | None:
    """Across orgs (a SECURITY DEFINER function): whose customer a webhook names."""
    return await conn.fetchval("SELECT clienta_billing_org($1, $2)", provider, customer_id)


async def apply_subscription(conn: asyncpg.Connection, org_id: UUID, state: SubscriptionState,
                             grace: timedelta, now: datetime) -> None:
    """Store the subscription as the provider says it is now. A payment problem starts the
    grace period once (kept while it lasts); a healthy status clears it."""
    troubled = state.status in (Status.PAST_DUE, Status.UNPAID)
    card = state.card
    await conn.execute(
        """UPDATE billing_accounts SET provider = $2, customer_id = $3, subscription_id = $4,
               plan = coalesce($5, plan), status = $6, period_start = $7, period_end = $8,
               cancel_at_period_end = $9,
               grace_until = CASE WHEN $10 THEN coalesce(grace_until, $11) ELSE NULL END,
               card_brand = coalesce($12, card_brand), card_last4 = coalesce($13, card_last4),
               card_exp_month = coalesce($14, card_exp_month),
               card_exp_year = coalesce($15, card_exp_year), updated_at = now()
           WHERE org_id = $1""",
        org_id, state.provider, state.customer_id, state.subscription_id,
        state.plan.value if state.plan else None, state.status.value, state.period_start,
        state.period_end, state.cancel_at_period_end, troubled, now + grace,
        card.brand if card else None, card.last4 if card else None,
        card.exp_month if card else None, card.exp_year if card else None)


async def start_grace(conn: asyncpg.Connection, org_id: UUID, until: datetime) -> datetime:
    """A failed payment: the grace period starts now unless one already runs."""
    return await conn.fetchval(
        "UPDATE billing_accounts SET grace_until = coalesce(grace_until, $2),"
        " status = CASE WHEN status = 'active' THEN 'past_due' ELSE status END,"
        " updated_at = now() WHERE org_id = $1 RETURNING grace_until", org_id, until)


async def seen(conn: asyncpg.Connection, provider: str, event_id: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM billing_events WHERE provider = $1 AND event_id = $2)",
        provider, event_id))


async def record_event(conn: asyncpg.Connection, provider: str, event_id: str, org_id: UUID,
                       type_: str) -> bool:
    """True if this event is new; False if it was applied before (the UNIQUE key holds
    across orgs and concurrent deliveries: the second insert waits, then does nothing)."""
    done = await conn.fetchval(
        "INSERT INTO billing_events (provider, event_id, org_id, type) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING true", provider, event_id, org_id, type_[:100])
    return bool(done)


async def upsert_invoice(conn: asyncpg.Connection, org_id: UUID, inv: InvoiceRecord) -> None:
    await conn.execute(
        """INSERT INTO billing_invoices (provider, invoice_id, org_id, amount, currency, status,
                                         issued_at, url)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (provider, invoice_id) DO UPDATE SET amount = $4, currency = $5,
               status = $6, url = $8""",
        inv.provider, inv.invoice_id, org_id, inv.amount, inv.currency, inv.status,
        inv.issued_at, inv.url)


async def invoices(conn: asyncpg.Connection, org_id: UUID,
                   limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT amount, currency, status, issued_at, url FROM billing_invoices"
        " WHERE org_id = $1 ORDER BY issued_at DESC, invoice_id LIMIT $2", org_id, limit)


async def record_tokens(conn: asyncpg.Connection, org_id: UUID, stream_id: str,
                        tokens_in: int, tokens_out: int) -> bool:
    done = await conn.fetchval(
        "INSERT INTO usage_tokens (org_id, stream_id, tokens_in, tokens_out)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
        org_id, stream_id, tokens_in, tokens_out)
    return bool(done)


async def usage(conn: asyncpg.Connection, org_id: UUID, start: datetime,
                end: datetime) -> dict[Metric, int]:
    """Every meter in one statement, each counted over what is stored: a message appended
    twice is one row (events' keys), so a retry is never counted twice."""
    row = await conn.fetchrow(
        """SELECT
             (SELECT count(*) FROM events WHERE org_id = $1 AND author_role = 'bot'
                AND kind = 'msg' AND created_at >= $2 AND created_at < $3) AS ai_answers,
             (SELECT count(*) FROM conversations WHERE org_id = $1
                AND created_at >= $2 AND created_at < $3) AS conversations,
             (SELECT coalesce(sum(tokens_in), 0) FROM usage_tokens WHERE org_id = $1
                AND created_at >= $2 AND created_at < $3) AS tokens_in,
             (SELECT coalesce(sum(tokens_out), 0) FROM usage_tokens WHERE org_id = $1
                AND created_at >= $2 AND created_at < $3) AS tokens_out,
             (SELECT count(*) FROM users WHERE org_id = $1) AS seats,
             (SELECT count(*) FROM kb_documents WHERE org_id = $1) AS kb_documents,
             (SELECT count(*) FROM conversations WHERE org_id = $1
                AND mode <> 'closed') AS concurrent_conversations""",
        org_id, start, end)
    assert row is not None  # a SELECT of subqueries alone returns one row
    return {Metric(k): int(v) for k, v in row.items()}


async def seats(conn: asyncpg.Connection, org_id: UUID) -> int:
    """Members now plus invitations still pending: each pending invite holds a seat."""
    return int(await conn.fetchval(
        "SELECT (SELECT count(*) FROM users WHERE org_id = $1)"
        " + (SELECT count(*) FROM invites WHERE org_id = $1 AND accepted_at IS NULL"
        "    AND revoked_at IS NULL AND expires_at > now())", org_id))


async def lock_limit(conn: asyncpg.Connection, org_id: UUID, metric: str) -> None:
    """Serialises one org's checks of one limit until the transaction ends, so two
    concurrent additions cannot both see room for one."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('clienta.limit.' || $2),"
                       " hashtext($1::uuid::text))", org_id, metric)


async def kb_documents(conn: asyncpg.Connection, org_id: UUID) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM kb_documents WHERE org_id = $1",
                                   org_id))


async def mark_alert(conn: asyncpg.Connection, org_id: UUID, period_start: datetime,
                     metric: str, percent: int) -> bool:
    """True the first time this alert is marked for the period (then mail it)."""
    done = await conn.fetchval(
        "INSERT INTO usage_alerts (org_id, period_start, metric, percent)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
        org_id, period_start, metric, percent)
    return bool(done)


async def owners(conn: asyncpg.Connection, org_id: UUID) -> list[tuple[str, str]]:
    """(email, locale) of each owner: who gets billing mail."""
    rows = await conn.fetch("SELECT email, locale FROM users WHERE org_id = $1"
                            " AND role = 'owner' ORDER BY created_at", org_id)
    return [(r["email"], r["locale"]) for r in rows]
