"""Billing by charges (Omise): PromptPay and card checkouts for a plan's THB price, each
charge settled once from what the provider's API says (webhook or the page's poll; a body is
never believed), the period Clienta keeps, plan changes at the next period, and the renewal
job (docs/billing.md "Omise")."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from server.billing.base import BillingError, InvoiceRecord, Method, WebhookEvent
from server.billing.charges import ChargeOrder, ChargeProvider, ChargeRecord, ChargeStatus
from server.domain import plans
from server.domain.audit import Actor, AuditAction, Target, TargetKind
from server.domain.plans import Plan, Status
from server.domain.renewals import RenewalAction, Subscription, add_month, decide
from server.mail import charge_templates, templates
from server.services.accounts import Principal
from server.services.audit import AuditLog
from server.services.metering import Clock, Meter, queue_mail, utc_now
from server.storage import accounts as accounts_store
from server.storage import billing as store
from server.storage import billing_omise as omise_store
from server.storage.db import Database, SystemJob

log = logging.getLogger("clienta.billing")

CURRENCY = "thb"
RENEWAL_BATCH = 100
SUBSCRIBED = (Status.ACTIVE, Status.PAST_DUE)
FINAL = frozenset(s.value for s in ChargeStatus if s.final)


class ChargeNotFound(BillingError):
    status = 404
    code = "not_found"


@dataclass(frozen=True, slots=True)
class ChargePolicy:
    public_url: str
    grace: timedelta  # an unpaid renewal keeps the paid plan this long
    notice: timedelta  # PromptPay: the renewal link is mailed this long before the end
    sweep_s: float  # how often the renewal job looks


def _baht(satang: int) -> str:
    return f"{satang / 100:,.2f} THB"


class ChargeBilling:
    def __init__(self, db: Database, provider: ChargeProvider, meter: Meter, audit: AuditLog,
                 policy: ChargePolicy, clock: Clock = utc_now) -> None:
        self.db = db
        self.provider = provider
        self.meter = meter
        self.audit = audit
        self.policy = policy
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.provider.name

    @property
    def billing_url(self) -> str:
        return f"{self.policy.public_url}/console#billing"

    # ---- owners' actions ------------------------------------------------------------

    async def checkout(self, actor: Principal, plan: Plan, method: Method, token: str | None,
                       address: str | None = None) -> dict[str, Any]:
        """A charge for one month of `plan` at its THB price: a QR to scan, or the card
        (a new Omise.js token, else the saved one) charged now. Paying while subscribed
        pays the next period ahead."""
        async with self.db.unit_of_work(actor.org_id) as conn:
            account = await store.account(conn, actor.org_id)
            org = await accounts_store.org_by_id(conn, actor.org_id)
        ours = account is not None and account.provider == self.name
        if account is not None and not ours and account.subscription_id \
                and account.status in (Status.ACTIVE, Status.TRIALING, Status.PAST_DUE):
            raise BillingError("this organisation pays with another provider: cancel that "
                               "subscription first")
        customer = account.customer_id if ours and account else None
        if method is Method.CARD and not token and not (customer and account
                                                        and account.card_last4):
            raise BillingError("a card payment needs token (from Omise.js)")
        renewal = ours and account is not None and account.status in SUBSCRIBED
        amount = plans.spec(plan).thb_satang
        placed = await self.provider.place(ChargeOrder(
            org_id=actor.org_id, org_name=org.name if org else "", plan=plan.value,
            amount=amount, currency=CURRENCY, method=method,
            purpose="renewal" if renewal else "subscribe", customer_id=customer,
            card_token=token, return_uri=f"{self.billing_url}?checkout=done"))
        charge = placed.charge
        async with self.db.unit_of_work(actor.org_id) as conn:
            await store.lock_account(conn, actor.org_id, self.name)
            if placed.customer_id:
                await store.set_customer(conn, actor.org_id, self.name, placed.customer_id)
                if charge.card is not None:
                    await omise_store.set_card(conn, actor.org_id, placed.customer_id,
                                               charge.card)
            await omise_store.add_charge(conn, actor.org_id, charge.charge_id, plan.value,
                                         method.value, "renewal" if renewal else "subscribe",
                                         amount, CURRENCY)
            await self.audit.record(conn, actor.org_id, Actor.user(actor.user_id, address),
                                    AuditAction.BILLING_CHECKOUT_STARTED,
                                    Target(TargetKind.ORG, actor.org_id),
                                    {"plan": plan.value, "provider": self.name})
        answer: dict[str, Any] = {"charge_id": charge.charge_id, "status": charge.status.value}
        if method is Method.PROMPTPAY:
            answer["qr_svg"] = await self.provider.qr_svg(charge)
        elif charge.status is ChargeStatus.PENDING and charge.authorize_uri:
            answer["url"] = charge.authorize_uri  # 3-D Secure, then back to the page
        if charge.status.final:
            answer["status"] = (await self.settle(actor.org_id, charge.charge_id,
                                                  Actor.user(actor.user_id, address)))
        return answer

    async def charge_status(self, org_id: UUID, charge_id: str) -> dict[str, Any]:
        """The billing page's poll: a pending charge of this org is re-read from the API
        (and settled once if it has finished); another org's is not found."""
        async with self.db.unit_of_work(org_id) as conn:
            ours = await omise_store.charge(conn, org_id, charge_id)
        if ours is None:
            raise ChargeNotFound("no such charge")
        status = ours.status
        if status == ChargeStatus.PENDING:
            status = await self.settle(org_id, charge_id, Actor.system("omise poll"))
        return {"charge_id": charge_id, "status": status, "plan": ours.plan,
                "paid": status == ChargeStatus.SUCCESSFUL}

    async def change_plan(self, org_id: UUID, plan: Plan) -> None:
        """From the next period (Omise charges a month at a time: no proration)."""
        async with self.db.unit_of_work(org_id) as conn:
            account = await store.lock_account(conn, org_id, self.name)
            await omise_store.set_next_plan(conn, org_id,
                                            None if plan is account.plan else plan.value)

    async def next_plan(self, org_id: UUID) -> str | None:
        async with self.db.unit_of_work(org_id) as conn:
            return await omise_store.next_plan(conn, org_id)

    async def cancel(self, org_id: UUID) -> None:
        async with self.db.unit_of_work(org_id) as conn:
            await store.lock_account(conn, org_id, self.name)
            await omise_store.cancel_at_end(conn, org_id)
        self.meter.forget(org_id)

    # ---- settling a charge: the API's word, once --------------------------------------

    async def webhook(self, event: WebhookEvent) -> str:
        charge_id = event.object_id or ""
        async with self.db.unscoped() as conn:
            org_id = await omise_store.org_of_charge(conn, charge_id)
        if org_id is None:
            return "ignored"  # not a charge we made: not even worth an API call
        async with self.db.unit_of_work(org_id) as conn:
            if await store.seen(conn, self.name, charge_id):
                return "replay"
        outcome = await self.settle(org_id, charge_id, Actor.system("omise webhook"))
        # pending: nothing to apply yet (the next event, or the page's poll, settles it)
        return "applied" if outcome in FINAL else outcome

    async def settle(self, org_id: UUID, charge_id: str, who: Actor) -> str:
        """Re-read the charge from Omise; if it has finished, apply it once (its id under
        billing_events' UNIQUE key, in the transaction of its effect). Answers the charge's
        status, `replay` when it was applied before, or `ignored` when the API's charge
        does not match the one we asked for."""
        record = await self.provider.charge(charge_id)
        if not record.status.final:
            return record.status.value
        now = self.clock()
        async with self.db.unit_of_work(org_id) as conn:
            account = await store.lock_account(conn, org_id, self.name)
            ours = await omise_store.charge(conn, org_id, charge_id, for_update=True)
            if ours is None:
                return "ignored"
            if (record.amount, record.currency) != (ours.amount, ours.currency) \
                    or record.org_hint not in (None, org_id):
                log.warning("omise charge disagrees with ours", extra={"charge": charge_id})
                return "ignored"
            if not await store.record_event(conn, self.name, charge_id, org_id,
                                            f"charge.{record.status.value}"):
                return "replay"
            await omise_store.settle_charge(conn, org_id, charge_id, record.status.value)
            if record.status is ChargeStatus.SUCCESSFUL:
                await self._paid(conn, org_id, account, ours.plan, record, now, who)
            else:
                await self._failed(conn, org_id, ours.plan, ours.purpose, record, now, who)
        self.meter.forget(org_id)
        self.meter.outbox.wake()
        return record.status.value

    async def _paid(self, conn: asyncpg.Connection, org_id: UUID, account: store.Account,
                    plan: str, record: ChargeRecord, now: datetime, who: Actor) -> None:
        before = plans.effective_plan(account.plan, account.status, account.grace_until, now)
        await store.upsert_invoice(conn, org_id, InvoiceRecord(
            self.name, record.charge_id, record.customer_id, None, record.amount,
            record.currency, "paid", now, None))
        end = account.period_end
        running = account.provider == self.name and account.status in SUBSCRIBED \
            and end is not None
        if running and end is not None and end > now:
            # paid ahead: the next period starts when this one ends (the renewal job)
            await omise_store.claim_renewal(conn, org_id, end, RenewalAction.ROLL,
                                            charge_id=record.charge_id, plan=plan)
            await omise_store.set_next_plan(conn, org_id, plan)
        else:
            # a late renewal continues the period it pays for; anything else starts now
            start = end if running and end is not None and now - end < self.policy.grace \
                else now
            await omise_store.start_period(conn, org_id, record.customer_id, plan, start,
                                           add_month(start), record.card)
        await self._plan_moved(conn, org_id, before, now, who)
        await self._mail(conn, org_id, templates.MailKind.RECEIPT, lambda locale, org: (
            templates.receipt(locale, org_name=org, plan=plan, amount=_baht(record.amount),
                              date=now.date().isoformat(), url=self.billing_url)))

    async def _failed(self, conn: asyncpg.Connection, org_id: UUID, plan: str, purpose: str,
                      record: ChargeRecord, now: datetime, who: Actor) -> None:
        await self.audit.record(conn, org_id, who, AuditAction.BILLING_PAYMENT_FAILED,
                                Target(TargetKind.ORG, org_id), {"provider": self.name})
        if purpose == "renewal":
            until = await omise_store.lapse(conn, org_id, self.policy.grace, now)
            await self._mail(conn, org_id, templates.MailKind.PAYMENT_FAILED,
                             lambda locale, org: templates.payment_failed(
                                 locale, org_name=org, plan=plan,
                                 until=until.date().isoformat(), billing_url=self.billing_url))
        elif record.status is not ChargeStatus.EXPIRED:  # an unscanned QR is no failure
            await self._mail(conn, org_id, templates.MailKind.CHARGE_FAILED,
                             lambda locale, org: charge_templates.charge_failed(
                                 locale, org_name=org, plan=plan,
                                 amount=_baht(record.amount), billing_url=self.billing_url))

    async def _plan_moved(self, conn: asyncpg.Connection, org_id: UUID, before: Plan,
                          now: datetime, who: Actor) -> None:
        after = await store.account(conn, org_id)
        assert after is not None
        new = plans.effective_plan(after.plan, after.status, after.grace_until, now)
        if new is before:
            return
        await self.audit.record(conn, org_id, who, AuditAction.BILLING_PLAN_CHANGED,
                                Target(TargetKind.ORG, org_id),
                                {"plan": new.value, "from_plan": before.value})
        await self._mail(conn, org_id, templates.MailKind.PLAN_CHANGED, lambda locale, org: (
            templates.plan_changed(locale, org_name=org, old=before.value, new=new.value,
                                   billing_url=self.billing_url)))

    async def _mail(self, conn: asyncpg.Connection, org_id: UUID, kind: str,
                    render: Any) -> None:
        """To every owner, each in their own language (users.locale)."""
        org = await accounts_store.org_by_id(conn, org_id)
        for email, locale in await store.owners(conn, org_id):
            await queue_mail(conn, self.db.keys, org_id, kind, email, locale,
                             render(locale, org.name if org else ""))

    # ---- the renewal job ------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._every(), name="omise-renewals")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(self.policy.sweep_s)
            try:
                await self.renew()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("omise renewal sweep failed")

    async def renew(self) -> int:
        """One pass over every org whose Omise period ends soon (every process runs it:
        each action's claim row, under the org's account lock, makes it once)."""
        now = self.clock()
        async with self.db.system(SystemJob.BILLING_RENEWALS) as conn:
            due = await omise_store.renewals_due(conn, now + self.policy.notice,
                                                 RENEWAL_BATCH)
        acted = 0
        for org_id in due:
            try:
                acted += await self._renew_one(org_id, now)
            except BillingError:
                pass  # the provider is down: the next sweep tries again
        return acted

    async def _renew_one(self, org_id: UUID, now: datetime) -> int:
        who = Actor.system("omise renewal")
        settle: str | None = None
        async with self.db.unit_of_work(org_id) as conn:
            account = await store.lock_account(conn, org_id, self.name)
            end = account.period_end
            if account.provider != self.name or account.status not in SUBSCRIBED \
                    or end is None:
                return 0
            done = await omise_store.renewal_actions(conn, org_id, end)
            action = decide(Subscription(end, account.cancel_at_period_end,
                                         bool(account.card_last4 and account.customer_id),
                                         account.grace_until, done), now, self.policy.notice)
            plan = await omise_store.next_plan(conn, org_id) or account.plan.value
            before = plans.effective_plan(account.plan, account.status, account.grace_until,
                                          now)
            if action is RenewalAction.NOTHING:
                settle = await omise_store.renewal_charge(conn, org_id, end)
            elif action is RenewalAction.NOTICE:
                await omise_store.claim_renewal(conn, org_id, end, action)
                await self._mail(conn, org_id, templates.MailKind.RENEWAL_DUE,
                                 lambda locale, org: charge_templates.renewal_due(
                                     locale, org_name=org, plan=plan,
                                     amount=_baht(plans.spec(plan).thb_satang),
                                     date=end.date().isoformat(), billing_url=self.billing_url))
            elif action is RenewalAction.ROLL:
                await omise_store.start_period(conn, org_id, None, plan, end, add_month(end),
                                               None)
                await self._plan_moved(conn, org_id, before, now, who)
            elif action is RenewalAction.END:
                await omise_store.end(conn, org_id)
                await self._plan_moved(conn, org_id, before, now, who)
            elif action is RenewalAction.LAPSE:
                await omise_store.claim_renewal(conn, org_id, end, action)
                until = await omise_store.lapse(conn, org_id, self.policy.grace, now)
                await self.audit.record(conn, org_id, who, AuditAction.BILLING_PAYMENT_FAILED,
                                        Target(TargetKind.ORG, org_id), {"provider": self.name})
                await self._mail(conn, org_id, templates.MailKind.PAYMENT_FAILED,
                                 lambda locale, org: templates.payment_failed(
                                     locale, org_name=org, plan=plan,
                                     until=until.date().isoformat(),
                                     billing_url=self.billing_url))
            elif action is RenewalAction.CHARGE:
                # under the account's row lock: the claim and the charge commit together,
                # and an API failure rolls the claim back for the next sweep
                org = await accounts_store.org_by_id(conn, org_id)
                amount = plans.spec(plan).thb_satang
                placed = await self.provider.place(ChargeOrder(
                    org_id=org_id, org_name=org.name if org else "", plan=plan,
                    amount=amount, currency=CURRENCY, method=Method.CARD, purpose="renewal",
                    customer_id=account.customer_id))
                await omise_store.add_charge(conn, org_id, placed.charge.charge_id, plan,
                                             Method.CARD.value, "renewal", amount, CURRENCY)
                await omise_store.claim_renewal(conn, org_id, end, action,
                                                charge_id=placed.charge.charge_id, plan=plan)
                settle = placed.charge.charge_id
        if action is not RenewalAction.NOTHING:
            self.meter.forget(org_id)
            self.meter.outbox.wake()
        if settle is not None:  # the charge's outcome, from the API (once, as a webhook)
            await self.settle(org_id, settle, who)
        return int(action is not RenewalAction.NOTHING)
