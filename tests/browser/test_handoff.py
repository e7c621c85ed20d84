"""Handoff in two browsers: a visitor on the customer's site, an agent on /console."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.drivers import XSS, Agent, Visitor
from tests.support.api import OrgHandle, signup

pytestmark = pytest.mark.browser

REFUNDS = "Refund policy. Refunds are paid to the original card within 5 business days."
CANNED = [{"shortcut": "thanks", "text": "Thank you for waiting, I am on it."}]


async def test_agent_claims_and_replies(org: OrgHandle, new_context: Any) -> None:
    await org.add_document("Refund policy", REFUNDS)
    alice = await org.add_user("agent", "Alice Agent")
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as client:
        r = await client.post("/v1/canned", headers=org.headers(alice["token"]), json=CANNED[0])
        assert r.status_code == 201, r.text
    agent = await Agent.log_in(await new_context(), org.base_url, alice["email"])

    v = await Visitor.arrive(await new_context(), org.base_url, org.site_key)
    await v.open()
    await v.say("When are refunds paid to my card?")
    await expect(v.answers()).to_have_count(1, timeout=30_000)
    await v.page.locator("clienta-widget .handoff").click()
    await expect(v.banner).to_contain_text("Waiting for a person")
    await expect(v.page.locator("clienta-widget .email")).to_be_hidden()  # Alice is online

    waiting = agent.conversation("list-queued")
    await expect(waiting).to_have_count(1)
    await waiting.first.click()
    await expect(agent.transcript("visitor").first).to_contain_text(
        "When are refunds paid to my card?"
    )
    await expect(agent.transcript("bot")).to_have_count(1)
    await agent.page.click("#btn-claim")
    await expect(v.banner).to_contain_text("You are chatting with Alice Agent")
    await expect(agent.conversation("list-mine")).to_have_count(1)

    # Typing travels both ways.
    await v.input.press_sequentially("hel", delay=50)
    await expect(agent.page.locator("#their-typing")).to_have_text("Visitor is typing…")
    await v.input.fill("")
    await agent.page.locator("#reply-text").press_sequentially("hi", delay=50)
    await expect(v.page.locator("clienta-widget .typing")).to_contain_text("is typing")
    await agent.page.fill("#reply-text", "")

    # Canned responses: the picker and the /shortcut + Tab expansion.
    await agent.page.select_option("#canned", index=1)
    await expect(agent.page.locator("#reply-text")).to_have_value(CANNED[0]["text"])
    await agent.page.fill("#reply-text", "/thanks")
    await agent.page.press("#reply-text", "Tab")
    await expect(agent.page.locator("#reply-text")).to_have_value(CANNED[0]["text"])

    await agent.reply("Hi, I am Alice. " + XSS)
    from_agent = v.bubbles("agent").last
    await expect(from_agent).to_contain_text("Hi, I am Alice.")
    await expect(from_agent).to_contain_text('<img src=x onerror="window.__xss=1">')
    await expect(from_agent.locator(".who")).to_have_text("Alice Agent")
    await expect(agent.transcript("agent").last).not_to_have_class("e agent pending")

    await agent.reply("Private: customer is polite", note=True)
    await expect(agent.transcript("note").last).to_contain_text("customer is polite")

    await v.say("Thanks Alice " + XSS)
    await expect(agent.transcript("visitor").last).to_contain_text("Thanks Alice <img src=x")

    await agent.page.click("#btn-close")
    await expect(v.banner).to_contain_text("This conversation has ended")
    await v.page.locator("clienta-widget .star").nth(4).click()
    await v.page.locator("clienta-widget .csat .btn").click()
    await expect(v.page.locator("clienta-widget .csat")).to_contain_text("Thank you")
    assert v.rec.of("csat", received=False)[-1]["score"] == 5

    # The note stayed with the agents; no payload ran on either side.
    assert all("customer is polite" not in t for t in await v.texts())
    assert not v.rec.of("note")
    for page in (v.page, agent.page):
        assert await page.evaluate("window.__xss") is None
    assert await agent.page.locator("#transcript").locator("img, script, svg").count() == 0
    assert await v.log.locator("img, script, svg").count() == 0
    assert v.rec.dialogs == [] and agent.rec.dialogs == []
    assert v.rec.errors == [] and agent.rec.errors == []


async def test_no_agent_online_offers_email(org: OrgHandle, new_context: Any) -> None:
    v = await Visitor.arrive(await new_context(), org.base_url, org.site_key)
    await v.open()
    await v.page.locator("clienta-widget .handoff").click()
    await expect(v.banner).to_contain_text("Waiting for a person")
    form = v.page.locator("clienta-widget form.email")
    await expect(form).to_be_visible()
    await form.locator("input").fill("dana@example.com")
    await form.locator("button").click()
    await expect(form).to_contain_text("we will reply to dana@example.com")
    assert v.rec.of("email", received=False) == [{"t": "email", "email": "dana@example.com"}]
    mode = [f for f in v.rec.of("mode") if f.get("mode") == "queued"][-1]
    assert mode["agents_online"] is False


async def test_long_wait_offers_the_bot_again(make_server: Any, new_context: Any) -> None:
    server = await asyncio.to_thread(make_server, {"CLIENTA_QUEUE_WAIT": "1"})
    org = await signup(server.url, "Wait Org")
    v = await Visitor.arrive(await new_context(), org.base_url, org.site_key)
    await v.open()
    await v.page.locator("clienta-widget .handoff").click()
    await expect(v.banner).to_contain_text("Waiting for a person")
    choice = v.page.locator("clienta-widget .wait")
    await expect(choice).to_be_visible(timeout=20_000)
    await choice.get_by_text("Back to the assistant").click()
    await expect(v.banner).to_be_hidden()
    await expect(choice).to_be_hidden()
    await expect(v.page.locator("clienta-widget .handoff")).to_be_visible()
    assert v.rec.of("wait", received=False) == [{"t": "wait", "choice": "bot"}]
