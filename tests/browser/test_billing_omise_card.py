"""The console's Omise card flow against a real server whose `omise` SDK talks to a fake
Omise: the billing page loads Omise.js (here the fake's stand-in, CLIENTA_OMISE_JS_URL),
which the console's CSP allows because a public key is set; the card goes from the browser
to the fake vault only, its one-time token to our server, and the paid plan shows. No
request to our server, and no column of our database, holds the card number."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from server.storage.db import Database
from tests.browser.drivers import Agent
from tests.e2e.test_billing_omise import omise_env
from tests.e2e.test_billing_stripe import text_anywhere
from tests.fakes.omise_server import FakeOmise
from tests.support.api import signup

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

CARD = "4242424242424242"


async def test_a_card_is_tokenized_in_the_browser_and_the_token_pays(
        make_server, new_context: Any, db: Database) -> None:
    async with FakeOmise() as fake:
        server = make_server(omise_env(fake, CLIENTA_OMISE_JS_URL=fake.origin + "/omise.js"))
        async with httpx.AsyncClient(timeout=10) as http:
            csp = (await http.get(server.url + "/console")).headers["content-security-policy"]
        assert f"script-src 'self' {fake.origin}" in csp
        assert f"connect-src 'self' {fake.origin}" in csp
        org = await signup(server.url, "Pattaya Bikes")
        context = await new_context()
        sent: list[tuple[str, str]] = []  # every request the page makes, with its body
        context.on("request", lambda r: sent.append((r.url, r.post_data or "")))
        violations: list[str] = []
        desk = await Agent.log_in(context, org.base_url, org.owner_email)
        page = desk.page
        page.on("console", lambda m: violations.append(m.text)
                if "Content Security Policy" in m.text else None)
        await page.click("#billing-toggle")
        await expect(page.locator("#billing-plan")).to_contain_text("Plan: free")
        assert fake.scripts_served == 0  # loaded only when a card is to be paid with
        await page.click("button[data-omise-card=starter]")
        await page.fill("#billing-card-name", "Somchai Prasert")
        await page.fill("#billing-card-number", CARD)
        await page.fill("#billing-card-month", "09")
        await page.fill("#billing-card-year", "2031")
        await page.fill("#billing-card-cvc", "123")
        await page.click("#billing-card-pay")
        await expect(page.locator("#billing-plan")).to_contain_text("Plan: starter",
                                                                    timeout=15_000)
        await expect(page.locator("#billing-status")).to_contain_text("Paid")
        await expect(page.locator("#billing-card-form")).to_be_hidden()
        assert "visa ending 4242" in (await page.locator("#billing").inner_text()).lower()

        assert fake.scripts_served == 1 and not violations, violations
        [charge] = fake.charges()
        assert (charge["amount"], charge["status"]) == (99_000, "successful")
        tokens = [body for m, path, body in fake.requests if path == "/tokens"]
        assert tokens and tokens[0]["card"]["number"] == CARD  # to the vault, from the page
        ours = [(url, body) for url, body in sent if url.startswith(server.url)]
        assert any('"method":"card"' in body.replace(" ", "") for _, body in ours)
        assert not [url for url, body in ours if CARD in body or CARD in url]
        assert await text_anywhere(db, CARD) == []
