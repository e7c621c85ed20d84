"""The console's PromptPay flow against a real server whose `omise` SDK talks to a fake
Omise: the owner picks a plan, the QR Omise made is shown, the payer pays in their bank's
app (the fake marks the charge paid; no webhook is sent) and the page, polling the charge,
shows the paid plan."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.drivers import Agent
from tests.e2e.test_billing_omise import omise_env
from tests.fakes.omise_server import FakeOmise
from tests.support.api import signup

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_promptpay_qr_then_the_page_updates_when_paid(make_server,
                                                            new_context: Any) -> None:
    async with FakeOmise() as fake:
        server = make_server(omise_env(fake))
        org = await signup(server.url, "Hua Hin Cafe")
        desk = await Agent.log_in(await new_context(), org.base_url, org.owner_email)
        page = desk.page
        await page.click("#billing-toggle")
        await expect(page.locator("#billing-plan")).to_contain_text("Plan: free")
        await page.click("button[data-promptpay=starter]")
        qr = page.locator("#billing-qr")
        await expect(qr).to_be_visible()
        assert (await qr.get_attribute("src") or "").startswith("data:image/svg+xml;base64,")
        await expect(page.locator("#billing-status")).to_contain_text("Waiting")
        [charge] = fake.charges()
        fake.pay(charge["id"])
        await expect(page.locator("#billing-plan")).to_contain_text("Plan: starter",
                                                                    timeout=15_000)
        await expect(page.locator("#billing-status")).to_contain_text("Paid")
        await expect(qr).to_have_count(0)
        await expect(page.locator("button[data-promptpay=pro]")).to_contain_text(
            "Pay next month of pro")
