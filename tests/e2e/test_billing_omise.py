"""Billing with Omise end to end: a real server whose official `omise` SDK talks to a fake
Omise on 127.0.0.1. PromptPay: the QR returned, the plan active only once the API says the
charge is paid (a webhook body claiming it is not believed), duplicate deliveries applied
once, the page's poll settling it too. Cards from a vault token (no card number anywhere in
the database after it), a declined card mailed in the owner's language, renewals by the
saved card and by a PromptPay notice, cancel at the period's end."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from server.storage.db import Database
from tests.e2e.test_billing_stripe import billing, kinds_mailed, text_anywhere
from tests.fakes.omise_server import (
    DECLINED_CARD,
    PUBLIC_KEY,
    QR_SVG,
    SECRET_KEY,
    FakeOmise,
    create_token,
    deliver,
)
from tests.support.api import OrgHandle, signup
from tests.support.mailbox import text_of, wait_for_mail

pytestmark = pytest.mark.asyncio(loop_scope="session")

CARD = "4242424242424242"


def omise_env(fake: FakeOmise, **extra: str) -> dict[str, str]:
    return {"OMISE_SECRET_KEY": SECRET_KEY, "OMISE_PUBLIC_KEY": PUBLIC_KEY,
            "OMISE_API_BASE": fake.origin, "OMISE_VAULT_BASE": fake.origin, **extra}


async def checkout(org: OrgHandle, **body: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as http:
        return await http.post("/v1/billing/checkout", headers=org.headers(),
                               json={"plan": "starter", "provider": "omise", **body})


async def poll(org: OrgHandle, charge_id: str) -> dict:
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as http:
        r = await http.get(f"/v1/billing/charges/{charge_id}", headers=org.headers())
    assert r.status_code == 200, r.text
    return r.json()


async def until(check, what: str, deadline_s: float = 20.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        value = await check()
        if value:
            return value
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def test_promptpay_is_granted_only_when_the_api_says_paid_and_only_once(
        make_server, db: Database, server_env: dict[str, str]) -> None:
    async with FakeOmise() as fake:
        server = make_server(omise_env(fake))
        org = await signup(server.url, "Bangkok Noodles")
        hook = server.url + "/v1/webhooks/omise"
        before = await billing(org)
        assert {"name": "omise", "methods": ["card", "promptpay"], "public_key": PUBLIC_KEY,
                "js_url": "https://cdn.omise.co/omise.js"} in before["providers"]

        r = await checkout(org, method="promptpay")
        assert r.status_code == 201, r.text
        charge_id, qr = r.json()["charge_id"], r.json()["qr_svg"]
        assert qr == QR_SVG and charge_id.startswith("chrg_test_")
        # the amount is the plan's THB price, whatever the client might send
        [made] = fake.charges()
        assert (made["amount"], made["currency"]) == (99_000, "thb")
        assert made["source"]["type"] == "promptpay"

        # a forged "paid" event: the body says successful, the API says pending
        forged = fake.event(charge_id)
        forged["data"].update(status="successful", paid=True)
        r = await deliver(hook, forged)
        assert r.status_code == 200 and r.json()["outcome"] == "pending", r.text
        assert (await billing(org))["plan"] == "free"
        assert (await poll(org, charge_id))["paid"] is False
        # a body naming a charge that is not ours is not even looked up
        stranger = fake.event(charge_id)
        stranger["data"]["id"] = "chrg_test_not_ours"
        calls = len(fake.requests)
        assert (await deliver(hook, stranger)).json()["outcome"] == "ignored"
        assert len(fake.requests) == calls
        # garbage is refused
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(hook, content=b"{not json")
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_signature"

        # the owner pays in their bank's app; Omise delivers charge.complete, twice at once
        event = fake.pay(charge_id)
        burst = await asyncio.gather(*(deliver(hook, event) for _ in range(4)))
        assert sorted(r.json()["outcome"] for r in burst) == ["applied"] + ["replay"] * 3
        assert (await deliver(hook, event)).json()["outcome"] == "replay"
        after = await billing(org)
        assert (after["plan"], after["status"], after["provider"]) == ("starter", "active",
                                                                       "omise")
        assert after["limits"]["ai_answers"] == 2000 and after["card"] is None
        assert (await poll(org, charge_id)) == {"charge_id": charge_id, "status": "successful",
                                                "plan": "starter", "paid": True}
        async with db.pool.acquire() as conn:
            applied = await conn.fetchval(
                "SELECT count(*) FROM billing_events WHERE org_id = $1 AND provider = 'omise'",
                uuid.UUID(org.org_id))
        assert applied == 1
        assert sorted(await kinds_mailed(db, org.org_id)) == ["plan_changed", "receipt"]
        # the receipt, in the owner's language (English here; Thai: the Stripe test)
        receipt = await wait_for_mail(Path(server_env["CLIENTA_HOME"]) / "mail",
                                      org.owner_email, "Receipt for Bangkok Noodles: 990.00 THB")
        assert "we received 990.00 THB" in text_of(receipt)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            r = await http.get("/v1/billing/invoices", headers=org.headers())
            [invoice] = r.json()["items"]
            assert (invoice["amount"], invoice["currency"], invoice["status"]) == (
                99_000, "thb", "paid")
            # another org cannot poll this charge
            other = await signup(server.url, "Someone Else")
            r = await http.get(f"/v1/billing/charges/{charge_id}", headers=other.headers())
            assert r.status_code == 404


async def test_a_body_that_disagrees_with_the_api_is_ignored(make_server, db: Database) -> None:
    async with FakeOmise() as fake:
        server = make_server(omise_env(fake))
        org = await signup(server.url, "Chiang Mai Tours")
        charge_id = (await checkout(org, method="promptpay")).json()["charge_id"]
        # Omise's own record of the charge is changed behind our back: another amount
        fake.pay(charge_id)
        fake.objects[charge_id]["amount"] = 2_000
        r = await deliver(server.url + "/v1/webhooks/omise", fake.event(charge_id))
        assert r.json()["outcome"] == "ignored"
        assert (await billing(org))["plan"] == "free"
        # an expired QR grants nothing and mails nobody
        second = (await checkout(org, method="promptpay")).json()["charge_id"]
        r = await deliver(server.url + "/v1/webhooks/omise", fake.expire(second))
        assert r.json()["outcome"] == "applied"
        assert (await billing(org))["plan"] == "free"
        assert await kinds_mailed(db, org.org_id) == []


async def test_card_token_flow_renewal_and_no_card_number_stored(
        make_server, db: Database) -> None:
    async with FakeOmise() as fake:
        server = make_server(omise_env(fake, CLIENTA_OMISE_RENEWAL_SWEEP="0.3"))
        org = await signup(server.url, "Phuket Dive Shop")
        token = await create_token(fake, CARD, exp=(9, 2031))
        r = await checkout(org, method="card", token=token)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "successful"
        after = await billing(org)
        assert (after["plan"], after["status"]) == ("starter", "active")
        assert after["card"] == {"brand": "visa", "last4": "4242", "exp_month": 9,
                                 "exp_year": 2031}
        [first] = fake.charges()
        assert first["customer"] and first["amount"] == 99_000

        # a plan change waits for the next period (no proration with Omise)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            r = await http.post("/v1/billing/plan", headers=org.headers(), json={"plan": "pro"})
        assert r.status_code == 200 and r.json()["plan"] == "starter"
        assert r.json()["next_plan"] == "pro"

        # the period ends: the renewal job charges the saved card for the next plan, once
        async with db.pool.acquire() as conn:
            await conn.execute("UPDATE billing_accounts SET period_end = now() - interval"
                               " '1 minute' WHERE org_id = $1", uuid.UUID(org.org_id))

        async def renewed() -> dict | None:
            state = await billing(org)
            return state if state["plan"] == "pro" else None

        state = await until(renewed, "the renewal charge")
        assert state["status"] == "active" and state["next_plan"] is None
        charges = fake.charges()
        assert len(charges) == 2 and charges[1]["amount"] == 349_000
        assert charges[1]["customer"] == first["customer"]
        assert charges[1]["metadata"]["purpose"] == "renewal"

        # the policy: a card's number never reaches our database
        assert await text_anywhere(db, CARD) == []


async def test_a_declined_card_is_mailed_in_thai_and_grants_nothing(
        make_server, db: Database, server_env: dict[str, str]) -> None:
    async with FakeOmise() as fake:
        server = make_server(omise_env(fake))
        org = await signup(server.url, "Ayutthaya Crafts")
        async with db.pool.acquire() as conn:
            await conn.execute("UPDATE users SET locale = 'th' WHERE org_id = $1",
                               uuid.UUID(org.org_id))
        token = await create_token(fake, DECLINED_CARD)
        r = await checkout(org, method="card", token=token)
        assert r.status_code == 201 and r.json()["status"] == "failed", r.text
        assert (await billing(org))["plan"] == "free"
        assert "charge_failed" in await kinds_mailed(db, org.org_id)
        # in the owner's language (users.locale), from the offline mailer's .eml files
        mail = await wait_for_mail(Path(server_env["CLIENTA_HOME"]) / "mail", org.owner_email,
                                   "การชำระเงินของ Ayutthaya Crafts ไม่สำเร็จ")
        assert "990.00 THB" in text_of(mail)
        assert await text_anywhere(db, DECLINED_CARD) == []


async def test_promptpay_renewal_is_mailed_then_lapses_into_grace(
        make_server, db: Database) -> None:
    async with FakeOmise() as fake:
        server = make_server(omise_env(fake, CLIENTA_OMISE_RENEWAL_SWEEP="0.3"))
        org = await signup(server.url, "Krabi Kayaks")
        charge_id = (await checkout(org, method="promptpay")).json()["charge_id"]
        fake.pay(charge_id)
        assert (await poll(org, charge_id))["paid"] is True  # the poll settles it too
        org_id = uuid.UUID(org.org_id)
        async with db.pool.acquire() as conn:
            await conn.execute("UPDATE billing_accounts SET period_end = now() + interval"
                               " '1 day' WHERE org_id = $1", org_id)

        async def mailed(kind: str):
            async def check() -> bool:
                return kind in await kinds_mailed(db, org.org_id)
            return check

        await until(await mailed("renewal_due"), "the renewal notice")
        async with db.pool.acquire() as conn:
            await conn.execute("UPDATE billing_accounts SET period_end = now() - interval"
                               " '1 minute' WHERE org_id = $1", org_id)
        await until(await mailed("payment_failed"), "the lapse")
        state = await billing(org)
        # still on the paid plan through the grace period
        assert (state["plan"], state["status"]) == ("starter", "past_due")
        assert state["grace_until"]
        kinds = await kinds_mailed(db, org.org_id)
        assert kinds.count("renewal_due") == 1 and kinds.count("payment_failed") == 1

        # paying the new QR during the grace continues the subscription
        renewal = (await checkout(org, method="promptpay")).json()["charge_id"]
        r = await deliver(server.url + "/v1/webhooks/omise", fake.pay(renewal))
        assert r.json()["outcome"] == "applied"
        state = await billing(org)
        assert (state["plan"], state["status"], state["grace_until"]) == ("starter", "active",
                                                                          None)
        # cancelled at the end of the period: free when it ends
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            r = await http.post("/v1/billing/cancel", headers=org.headers())
        assert r.status_code == 200 and r.json()["cancel_at_period_end"] is True
        async with db.pool.acquire() as conn:
            await conn.execute("UPDATE billing_accounts SET period_end = now() - interval"
                               " '1 minute' WHERE org_id = $1", org_id)

        async def on_free() -> bool:
            return (await billing(org))["plan"] == "free"

        await until(on_free, "the end of the cancelled period")
