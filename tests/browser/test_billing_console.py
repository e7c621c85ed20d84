"""The console's billing page against the real server with no payment keys: owners see the
free plan, usage bars against its limits and that billing is not configured; near the
AI-answer limit a banner says so; agents are never offered the page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from server.domain.plans import PLANS, Plan
from server.storage.db import Database
from tests.browser.drivers import Agent
from tests.e2e.test_billing_limits import seed_bot_answers
from tests.support.api import OrgHandle

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_owners_see_plan_usage_and_not_configured(org: OrgHandle, db: Database,
                                                        new_context: Any) -> None:
    limit = PLANS[Plan.FREE].limits.ai_answers
    await seed_bot_answers(db, org.org_id, limit * 9 // 10)
    desk = await Agent.log_in(await new_context(), org.base_url, org.owner_email)
    page = desk.page
    banner = page.locator("#billing-banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("AI answers")
    await page.click("#billing-toggle")
    await expect(page.locator("#billing")).to_be_visible()
    await expect(page.locator("#desk-lists")).to_be_hidden()
    await expect(page.locator("#billing-off")).to_contain_text("not configured")
    await expect(page.locator("#billing-plan")).to_contain_text("Plan: free")
    answers = page.locator(".meter[data-metric=ai_answers]")
    await expect(answers).to_contain_text(f"{limit * 9 // 10} / {limit}")
    assert await answers.locator(".meter-fill.near").count() == 1
    await expect(page.locator(".plans button[data-plan=starter]")).to_be_disabled()
    await page.click("#billing-toggle")
    await expect(page.locator("#desk-lists")).to_be_visible()


async def test_agents_are_not_offered_billing(org: OrgHandle, new_context: Any) -> None:
    agent = await org.add_user("agent")
    desk = await Agent.log_in(await new_context(), org.base_url, agent["email"])
    await expect(desk.page.locator("#billing-toggle")).to_be_hidden()
    await expect(desk.page.locator("#billing-banner")).to_be_hidden()
