"""Billing with Stripe end to end: a real server whose official `stripe` SDK talks to a fake
Stripe on 127.0.0.1, webhooks signed as Stripe signs them. A full test-card flow (and no
card number anywhere in the database after it), forged and stale signatures, replays and
concurrent duplicate deliveries, events out of order, a failed payment's grace period
ending on the free plan, plan change and cancellation at period end."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest

from server.storage.db import Database
from tests.fakes.stripe_server import API_KEY, PRICES, WEBHOOK_SECRET, FakeStripe, WebhookSender
from tests.support.api import OrgHandle, signup
from tests.support.mailbox import text_of, wait_for_mail

pytestmark = pytest.mark.asyncio(loop_scope="session")

CARD = "4242424242424242"


def stripe_env(fake: FakeStripe, **extra: str) -> dict[str, str]:
    return {"STRIPE_SECRET_KEY": API_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_PRICE_STARTER": PRICES["starter"], "STRIPE_PRICE_PRO": PRICES["pro"],
            "STRIPE_API_BASE": fake.origin, **extra}


async def billing(org: OrgHandle) -> dict:
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as http:
        r = await http.get("/v1/billing", headers=org.headers())
        assert r.status_code == 200, r.text
        return r.json()


async def checkout(org: OrgHandle, plan: str = "starter") -> str:
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as http:
        r = await http.post("/v1/billing/checkout", headers=org.headers(),
                            json={"plan": plan, "provider": "stripe", "method": "card"})
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith("https://checkout.stripe.test/c/pay/")
    return url.rsplit("/", 1)[1]


async def kinds_mailed(db: Database, org_id: str) -> list[str]:
    async with db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT kind FROM mail_outbox WHERE org_id = $1"
                                " ORDER BY created_at", uuid.UUID(org_id))
    return [r["kind"] for r in rows if r["kind"] != "email_verify"]  # sign-up's own


async def text_anywhere(db: Database, needle: str) -> list[str]:
    """Every (table.column) of the database whose text, json or bytes holds `needle`."""
    found = []
    async with db.pool.acquire() as conn:
        columns = await conn.fetch(
            "SELECT c.table_schema, c.table_name, c.column_name, c.data_type"
            " FROM information_schema.columns c JOIN information_schema.tables t"
            " USING (table_schema, table_name)"
            " WHERE t.table_type = 'BASE TABLE'"
            " AND c.table_schema NOT IN ('pg_catalog', 'information_schema')"
            " AND c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea',"
            " 'ARRAY')")
        for col in columns:
            ident = f'"{col["table_schema"]}"."{col["table_name"]}"'
            cast = (f"encode(\"{col['column_name']}\", 'escape')"
                    if col["data_type"] == "bytea" else f"\"{col['column_name']}\"::text")
            hit = await conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {ident} WHERE strpos({cast}, $1) > 0)", needle)
            if hit:
                found.append(f"{col['table_name']}.{col['column_name']}")
    return found


async def test_a_card_checkout_is_applied_once_and_no_card_number_is_stored(
        make_server, db: Database, server_env: dict[str, str]) -> None:
    async with FakeStripe() as fake:
        server = make_server(stripe_env(fake))
        org = await signup(server.url, "Paying Co")
        async with db.pool.acquire() as conn:  # the owner reads Thai: so does their mail
            await conn.execute("UPDATE users SET locale = 'th' WHERE org_id = $1",
                               uuid.UUID(org.org_id))
        before = await billing(org)
        assert before["plan"] == "free" and before["configured"] is True
        assert before["providers"] == [{"name": "stripe", "methods": ["card"]}]
        assert before["limits"]["ai_answers"] == 100

        session_id = await checkout(org)
        # the customer pays on Stripe's page, with a test card we never see
        events = fake.pay_checkout(session_id, card_number=CARD, exp=(8, 2031))
        sender = WebhookSender(server.url + "/v1/webhooks/stripe")
        for event in events:
            r = await sender.send(event)
            assert r.status_code == 200 and r.json()["outcome"] == "applied", server.tail()
        after = await billing(org)
        assert (after["plan"], after["status"]) == ("starter", "active")
        assert after["card"] == {"brand": "visa", "last4": "4242", "exp_month": 8,
                                 "exp_year": 2031}
        assert after["limits"]["ai_answers"] == 2000 and after["period_end"]

        # Stripe delivers at least once: every event again, then one five times at once
        for event in events:
            r = await sender.send(event)
            assert r.status_code == 200 and r.json()["outcome"] == "replay"
        burst = await asyncio.gather(*(sender.send(events[2]) for _ in range(5)))
        assert {r.json()["outcome"] for r in burst} == {"replay"}
        async with db.pool.acquire() as conn:
            applied = await conn.fetchval(
                "SELECT count(*) FROM billing_events WHERE org_id = $1",
                uuid.UUID(org.org_id))
            changes = await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE org_id = $1"
                " AND action = 'billing.plan_changed'", uuid.UUID(org.org_id))
        assert applied == len(events) and changes == 1
        assert sorted(await kinds_mailed(db, org.org_id)) == ["plan_changed", "receipt"]
        # the paid invoice's receipt, once, in the owner's language, with the invoice link
        box = Path(server_env["CLIENTA_HOME"]) / "mail"
        receipt = await wait_for_mail(box, org.owner_email, "ใบเสร็จของ Paying Co: 29.00 USD")
        assert "https://invoice.stripe.test/" in text_of(receipt)
        assert "ขอบคุณ" in text_of(receipt)

        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            r = await http.get("/v1/billing/invoices", headers=org.headers())
            [invoice] = r.json()["items"]
            assert (invoice["amount"], invoice["currency"], invoice["status"]) == (
                2900, "usd", "paid")
            assert invoice["url"].startswith("https://invoice.stripe.test/")
            r = await http.post("/v1/billing/portal", headers=org.headers())
            assert r.status_code == 200
            assert r.json()["url"].startswith("https://billing.stripe.test/p/session/cus_")
            # a second checkout while subscribed is refused: change the plan instead
            r = await http.post("/v1/billing/checkout", headers=org.headers(),
                                json={"plan": "pro", "provider": "stripe"})
            assert r.status_code == 400
            r = await http.post("/v1/billing/plan", headers=org.headers(), json={"plan": "pro"})
            assert r.status_code == 200 and r.json()["plan"] == "pro"
            r = await http.post("/v1/billing/cancel", headers=org.headers())
            assert r.status_code == 200
            assert r.json()["cancel_at_period_end"] is True and r.json()["plan"] == "pro"
        update = [p for m, path, p in fake.requests
                  if m == "POST" and path.startswith("/v1/subscriptions/")]
        assert update[0]["proration_behavior"] == "create_prorations"

        # the policy: a card's number and CVC never reach our database
        assert await text_anywhere(db, CARD) == []
        for name in ("cvc", "cvv", "card_number"):
            assert [c for c in await text_anywhere(db, f'"{name}"')] == []
    server.stop()
    log = server.log_path.read_text(errors="replace")
    assert CARD not in log and WEBHOOK_SECRET not in log and API_KEY not in log


async def test_forged_or_stale_signatures_are_refused_and_apply_nothing(make_server) -> None:
    async with FakeStripe() as fake:
        server = make_server(stripe_env(fake))
        org = await signup(server.url, "Forged Co")
        events = fake.pay_checkout(await checkout(org))
        sender = WebhookSender(server.url + "/v1/webhooks/stripe")
        forged = await sender.send(events[1], secret="whsec_someone_else")
        stale = await sender.send(events[1], t=1_600_000_000)  # far past the tolerance
        async with httpx.AsyncClient(timeout=30) as http:
            payload = json.dumps(events[1]).encode()
            from tests.fakes.stripe_server import sign

            header = sign(payload)
            tampered = await http.post(sender.url, content=payload.replace(b"active", b"activf"),
                                       headers={"Stripe-Signature": header})
            unsigned = await http.post(sender.url, content=payload)
        for r in (forged, stale, tampered, unsigned):
            assert r.status_code == 400, r.text
            assert r.json()["error"]["code"] == "bad_signature"
        assert (await billing(org))["plan"] == "free"
        # the genuine delivery still applies: nothing was recorded for the forged ones
        r = await sender.send(events[1])
        assert r.json()["outcome"] == "applied"
        assert (await billing(org))["plan"] == "starter"


async def test_events_out_of_order_and_a_failed_payment_end_on_free(
        make_server, db: Database, server_env: dict[str, str]) -> None:
    async with FakeStripe() as fake:
        # a grace period of about a second: then the org is on free
        server = make_server(stripe_env(fake, CLIENTA_BILLING_GRACE_DAYS="0.000015"))
        org = await signup(server.url, "Late Co")
        paid = fake.pay_checkout(await checkout(org))
        sender = WebhookSender(server.url + "/v1/webhooks/stripe")
        stale_active = fake.event("customer.subscription.updated",
                                  paid[1]["data"]["object"])
        sub_id = paid[1]["data"]["object"]["id"]
        failed = fake.fail_payment(sub_id)
        # delivered newest first: the subscription is re-read from Stripe each time, so
        # whichever order, the state stored is Stripe's current one
        for event in reversed(failed + paid):
            assert (await sender.send(event)).status_code == 200
        state = await billing(org)
        assert state["status"] == "past_due" and state["subscribed_plan"] == "starter"
        assert "payment_failed" in await kinds_mailed(db, org.org_id)
        failed_mail = await wait_for_mail(Path(server_env["CLIENTA_HOME"]) / "mail",
                                          org.owner_email, "Payment failed for Late Co")
        assert "update the card" in text_of(failed_mail)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while (state := await billing(org))["plan"] != "free":
            assert loop.time() < deadline, state
            await asyncio.sleep(0.1)
        assert state["limits"]["ai_answers"] == 100

        # Stripe gives up and cancels; an older "active" snapshot arriving after that
        # changes nothing: its subscription is read again and is canceled
        for event in [*fake.cancel_now(sub_id), stale_active]:
            r = await sender.send(event)
            assert r.status_code == 200 and r.json()["outcome"] == "applied"
        state = await billing(org)
        assert (state["plan"], state["status"]) == ("free", "canceled")
        async with db.pool.acquire() as conn:  # nothing of the org was deleted
            assert await conn.fetchval("SELECT count(*) FROM users WHERE org_id = $1",
                                       uuid.UUID(org.org_id)) == 1


async def test_stripe_down_answers_503_and_the_retry_applies(make_server) -> None:
    async with FakeStripe() as fake:
        server = make_server(stripe_env(fake))
        org = await signup(server.url, "Retry Co")
        events = fake.pay_checkout(await checkout(org))
        sender = WebhookSender(server.url + "/v1/webhooks/stripe")
        fake.fail_next = 10  # more than the SDK's retries
        r = await sender.send(events[1])
        assert r.status_code == 503 and r.json()["error"]["code"] == "provider_unavailable"
        fake.fail_next = 0
        r = await sender.send(events[1])  # Stripe's retry: applied now, not a replay
        assert r.status_code == 200 and r.json()["outcome"] == "applied"
        assert (await billing(org))["plan"] == "starter"
