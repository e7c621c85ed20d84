"""Billing use cases: what the billing page shows, checkout, the customer portal, plan
changes and cancellation, and provider webhooks (verified, applied once each under a
UNIQUE event id in the same transaction as their effect, state re-read from the API)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from server.billing.base import (
    BillingError,
    CheckoutRequest,
    EventKind,
    InvoiceRecord,
    Method,
    PaymentProvider,
    Payments,
    SubscriptionState,
    WebhookEvent,
)
from server.domain import plans
from server.domain.audit import Actor, AuditAction, Target, TargetKind
from server.domain.plans import Plan, Status
from server.mail import templates
from server.services.accounts import Principal
from server.services.audit import AuditLog
from server.services.billing_charges import ChargeBilling
from server.services.metering import Clock, Meter, MeterPolicy, queue_mail, utc_now
from server.storage import accounts as accounts_store
from server.storage import billing as store
from server.storage.db import Database

log = logging.getLogger("clienta.billing")

INVOICE_PAGE = 100


@dataclass(frozen=True, slots=True)
class Applied:
    """What a webhook delivery did: `applied`, `replay` (seen before) or `ignored`."""

    outcome: str


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:,.2f} {currency.upper()}"


class BillingService:
    def __init__(self, db: Database, payments: Payments, meter: Meter, audit: AuditLog,
                 policy: MeterPolicy, clock: Clock = utc_now,
                 charges: ChargeBilling | None = None) -> None:
        self.db = db
        # a provider without subscriptions of its own (Omise): Clienta keeps the period
        self.charges = charges
        self.payments = payments
        self.meter = meter
        self.audit = audit
        self.policy = policy
        self.clock = clock

    @property
    def billing_url(self) -> str:
        return f"{self.policy.public_url}/console#billing"

    # ---- the billing page -----------------------------------------------------------

    async def overview(self, org_id: UUID) -> dict[str, Any]:
        now = self.clock()
        standing = await self.meter.standing(org_id)
        async with self.db.unit_of_work(org_id) as conn:
            account = await store.account(conn, org_id)
        usage = {k.value: v for k, v in standing.usage.items()}
        limits = standing.limits.as_json()
        banner = [m for m, limit in limits.items() if limit and usage.get(m, 0) * 100 >= 80 * limit]
        card = None
        if account is not None and account.card_last4:
            card = {"brand": account.card_brand, "last4": account.card_last4,
                    "exp_month": account.card_exp_month, "exp_year": account.card_exp_year}
        in_grace = account is not None and account.grace_until is not None \
            and account.status in (Status.PAST_DUE, Status.UNPAID) and now < account.grace_until
        return {
            "plan": standing.plan.value,
            "subscribed_plan": account.plan.value if account else Plan.FREE.value,
            "status": account.status.value if account else Status.NONE.value,
            "period_start": standing.period_start.isoformat(),
            "period_end": standing.period_end.isoformat(),
            "cancel_at_period_end": bool(account and account.cancel_at_period_end),
            "grace_until": account.grace_until.isoformat()
            if in_grace and account and account.grace_until else None,
            "provider": account.provider if account and account.subscription_id else None,
            "card": card, "usage": usage, "limits": limits, "near_limits": banner,
            "configured": self.payments.configured, "providers": self.payments.listing(),
            "next_plan": await self.charges.next_plan(org_id)
            if self.charges is not None and account and account.provider == self.charges.name
            else None,
            "plans": [{"plan": s.plan.value, "usd_cents": s.usd_cents,
                       "thb_satang": s.thb_satang, "limits": s.limits.as_json()}
                      for s in plans.PLANS.values()],
        }

    async def invoices(self, org_id: UUID) -> dict[str, Any]:
        async with self.db.unit_of_work(org_id) as conn:
            rows = await store.invoices(conn, org_id, INVOICE_PAGE)
        return {"items": [{"amount": r["amount"], "currency": r["currency"],
                           "status": r["status"], "issued_at": r["issued_at"].isoformat(),
                           "url": r["url"]} for r in rows], "next_cursor": None}

    # ---- owners' actions ------------------------------------------------------------

    async def checkout(self, actor: Principal, plan: str, provider: str, method: str,
                       address: str | None = None, token: str | None = None) -> dict[str, Any]:
        if plan not in tuple(plans.PAID):
            raise BillingError(f"plan must be one of {', '.join(plans.PAID)}")
        if method not in tuple(Method):
            raise BillingError(f"method must be one of {', '.join(Method)}")
        payments = self.payments.get(provider)
        if Method(method) not in payments.methods:
            raise BillingError(f"{provider} does not take {method}")
        if self.charges is not None and provider == self.charges.name:
            return await self.charges.checkout(actor, Plan(plan), Method(method), token, address)
        async with self.db.unit_of_work(actor.org_id) as conn:
            account = await store.account(conn, actor.org_id)
            org = await accounts_store.org_by_id(conn, actor.org_id)
        if account is not None and account.subscription_id and account.status in (
                Status.ACTIVE, Status.TRIALING, Status.PAST_DUE):
            raise BillingError("this organisation already has a subscription: change its "
                               "plan instead (POST /v1/billing/plan)")
        customer = account.customer_id if account and account.provider == provider else None
        made = await payments.checkout(CheckoutRequest(
            org_id=actor.org_id, org_name=org.name if org else "", customer_id=customer,
            plan=Plan(plan), method=Method(method),
            success_url=f"{self.billing_url}?checkout=done",
            cancel_url=f"{self.billing_url}?checkout=cancelled"))
        async with self.db.unit_of_work(actor.org_id) as conn:
            # the customer is ours from now on: its webhooks find this org by it
            await store.set_customer(conn, actor.org_id, provider, made.customer_id)
            await self.audit.record(conn, actor.org_id, Actor.user(actor.user_id, address),
                                    AuditAction.BILLING_CHECKOUT_STARTED,
                                    Target(TargetKind.ORG, actor.org_id),
                                    {"plan": plan, "provider": provider})
        return made.as_json()

    async def portal(self, actor: Principal) -> dict[str, str]:
        account = await self._account(actor.org_id)
        if account is None or not account.customer_id:
            raise BillingError("there is no subscription to manage yet: choose a plan first")
        payments = self.payments.get(account.provider)
        return {"url": await payments.portal(account.customer_id, self.billing_url)}

    async def change_plan(self, actor: Principal, plan: str,
                          address: str | None = None) -> dict[str, Any]:
        if plan not in tuple(plans.PAID):
            raise BillingError(f"plan must be one of {', '.join(plans.PAID)}; to go back to "
                               "free, cancel at the end of the period")
        account, payments = await self._subscribed(actor.org_id)
        if self.charges is not None and account.provider == self.charges.name:
            await self.charges.change_plan(actor.org_id, Plan(plan))  # from the next period
            return await self.overview(actor.org_id)
        state = await payments.change_plan(account.subscription_id or "", Plan(plan))
        await self._apply(payments.name, actor.org_id, state,
                          Actor.user(actor.user_id, address))
        return await self.overview(actor.org_id)

    async def cancel(self, actor: Principal, address: str | None = None) -> dict[str, Any]:
        account, payments = await self._subscribed(actor.org_id)
        who = Actor.user(actor.user_id, address)
        if self.charges is not None and account.provider == self.charges.name:
            await self.charges.cancel(actor.org_id)
        else:
            state = await payments.cancel_at_period_end(account.subscription_id or "")
            await self._apply(payments.name, actor.org_id, state, who)
        await self.audit.record_alone(actor.org_id, who, AuditAction.BILLING_CANCEL_REQUESTED,
                                      Target(TargetKind.ORG, actor.org_id),
                                      {"provider": payments.name})
        return await self.overview(actor.org_id)

    async def _account(self, org_id: UUID) -> store.Account | None:
        async with self.db.unit_of_work(org_id) as conn:
            return await store.account(conn, org_id)

    async def _subscribed(self, org_id: UUID) -> tuple[store.Account, PaymentProvider]:
        account = await self._account(org_id)
        if account is None or not account.subscription_id or account.status in (
                Status.CANCELED, Status.NONE):
            raise BillingError("there is no subscription: choose a plan first")
        return account, self.payments.get(account.provider)

    # ---- webhooks -------------------------------------------------------------------

    async def webhook(self, provider: str, body: bytes, headers: Any) -> Applied:
        """Verify, find the org, apply once. Raises WebhookRejected (400) for a forged or
        stale body, ProviderUnavailable (503: the provider retries) when the API re-read
        fails."""
        payments = self.payments.get(provider)
        event = payments.verify_webhook(body, headers)
        if event.kind is EventKind.IGNORED:
            return Applied("ignored")
        if event.kind is EventKind.CHARGE and self.charges is not None:
            return Applied(await self.charges.webhook(event))  # re-read from the API, once
        org_id = await self._org_of(event)
        if org_id is None:
            # not a customer of ours (another product on the same Stripe account)
            log.info("billing event for no org", extra={"event_type": event.type})
            return Applied("ignored")
        async with self.db.unit_of_work(org_id) as conn:
            if await store.seen(conn, provider, event.id):
                return Applied("replay")  # skip the API re-read too
        applied = await self._apply_event(payments, org_id, event)
        self.meter.forget(org_id)
        return Applied("applied" if applied else "replay")

    async def _org_of(self, event: WebhookEvent) -> UUID | None:
        if event.customer_id:
            async with self.db.unscoped() as conn:
                found = await store.org_by_customer(conn, event.provider, event.customer_id)
            if found is not None:
                return found
        # a checkout's first events may come before our customer row commits: the org id
        # we put in the object's metadata, if that org exists
        if event.org_hint is not None:
            async with self.db.unit_of_work(event.org_hint) as conn:
                if await accounts_store.org_by_id(conn, event.org_hint) is not None:
                    return event.org_hint
        return None

    async def _apply_event(self, payments: PaymentProvider, org_id: UUID,
                           event: WebhookEvent) -> bool:
        who = Actor.system(f"{payments.name} webhook")
        async with self.db.unit_of_work(org_id) as conn:
            # the row lock orders this org's deliveries; the re-read below happens under it,
            # so an older state can never be written after a newer one
            await store.lock_account(conn, org_id, payments.name)
            if not await store.record_event(conn, payments.name, event.id, org_id, event.type):
                return False
            if event.kind in (EventKind.CHECKOUT_COMPLETED, EventKind.SUBSCRIPTION):
                if event.subscription_id:
                    state = await payments.subscription(event.subscription_id)
                    await self._apply_in(conn, org_id, state, who)
            elif event.kind in (EventKind.INVOICE_PAID, EventKind.INVOICE_FAILED):
                invoice = await payments.invoice(event.object_id or "")
                await self._invoice_in(conn, payments, org_id, invoice, event.kind, who)
        return True

    async def _apply(self, provider: str, org_id: UUID, state: SubscriptionState,
                     who: Actor) -> None:
        async with self.db.unit_of_work(org_id) as conn:
            await store.lock_account(conn, org_id, provider)
            await self._apply_in(conn, org_id, state, who)
        self.meter.forget(org_id)

    async def _apply_in(self, conn: asyncpg.Connection, org_id: UUID, state: SubscriptionState,
                        who: Actor) -> None:
        now = self.clock()
        before = await store.account(conn, org_id)
        await store.apply_subscription(conn, org_id, state, self.policy.grace, now)
        after = await store.account(conn, org_id)
        assert after is not None
        old = plans.effective_plan(before.plan, before.status, before.grace_until, now) \
            if before else Plan.FREE
        new = plans.effective_plan(after.plan, after.status, after.grace_until, now)
        if old is new:
            return
        await self.audit.record(conn, org_id, who, AuditAction.BILLING_PLAN_CHANGED,
                                Target(TargetKind.ORG, org_id),
                                {"plan": new.value, "from_plan": old.value})
        org = await accounts_store.org_by_id(conn, org_id)
        for email, locale in await store.owners(conn, org_id):
            rendered = templates.plan_changed(locale, org_name=org.name if org else "",
                                              old=old.value, new=new.value,
                                              billing_url=self.billing_url)
            await queue_mail(conn, self.db.keys, org_id, templates.MailKind.PLAN_CHANGED,
                             email, locale, rendered)
        self.meter.outbox.wake()

    async def _invoice_in(self, conn: asyncpg.Connection, payments: PaymentProvider,
                          org_id: UUID, invoice: InvoiceRecord, kind: EventKind,
                          who: Actor) -> None:
        await store.upsert_invoice(conn, org_id, invoice)
        account = await store.account(conn, org_id)
        plan = account.plan.value if account else Plan.FREE.value
        org = await accounts_store.org_by_id(conn, org_id)
        name = org.name if org else ""
        if kind is EventKind.INVOICE_FAILED:
            until: datetime = await store.start_grace(conn, org_id,
                                                      self.clock() + self.policy.grace)
            await self.audit.record(conn, org_id, who, AuditAction.BILLING_PAYMENT_FAILED,
                                    Target(TargetKind.ORG, org_id),
                                    {"provider": payments.name})
        for email, locale in await store.owners(conn, org_id):
            if kind is EventKind.INVOICE_FAILED:
                rendered = templates.payment_failed(
                    locale, org_name=name, plan=plan, until=until.date().isoformat(),
                    billing_url=self.billing_url)
                mail_kind = templates.MailKind.PAYMENT_FAILED
            else:
                rendered = templates.receipt(
                    locale, org_name=name, plan=plan,
                    amount=_money(invoice.amount, invoice.currency),
                    date=invoice.issued_at.date().isoformat(),
                    url=invoice.url or self.billing_url)
                mail_kind = templates.MailKind.RECEIPT
            await queue_mail(conn, self.db.keys, org_id, mail_kind, email, locale, rendered)
        self.meter.outbox.wake()
