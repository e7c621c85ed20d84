"""The console's audit log page against the real server: owners and admins see it, pages
load more by cursor, filters narrow, and agents are never offered it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from server.domain.audit import Actor, AuditAction
from server.services.audit import AuditLog
from server.storage.db import Database
from tests.browser.drivers import Agent
from tests.support.api import OrgHandle

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_admins_page_filter_and_load_more(org: OrgHandle, db: Database,
                                                new_context: Any) -> None:
    admin = await org.add_user("admin")
    log = AuditLog(db)
    for _ in range(55):  # more than the console's first page of 50
        await log.record_alone(uuid.UUID(org.org_id), Actor.system("backup"),
                               AuditAction.BACKUP_CREATED)
    desk = await Agent.log_in(await new_context(), org.base_url, admin["email"])
    page = desk.page
    rows = page.locator("#audit-rows tr")
    options = await page.locator("#audit-action option").evaluate_all(
        "os => os.map(o => o.value)")
    # the list itself mirrors AuditAction (tests/domain/test_audit.py checks it)
    assert options[0] == "" and "auth.sign_in" in options and len(options) > 10

    await page.click("#audit-toggle")
    await expect(page.locator("#audit")).to_be_visible()
    await expect(page.locator("#desk-lists")).to_be_hidden()
    await expect(rows).to_have_count(50)
    await page.click("#audit-more")
    async with httpx.AsyncClient(base_url=org.base_url) as http:
        r = await http.get("/v1/audit", headers=org.headers(), params={"limit": 200})
    total = len(r.json()["items"])
    assert total > 55
    await expect(rows).to_have_count(total)
    await expect(page.locator("#audit-more")).to_be_hidden()

    await page.select_option("#audit-action", "auth.sign_in")
    await page.fill("#audit-actor", admin["user_id"])
    await page.click("#audit-filters button[type=submit]")
    await expect(rows).to_have_count(2)  # add_user's login and the console's
    await expect(rows.first).to_contain_text(admin["user_id"])
    await expect(rows.first).to_contain_text("127.0.0.0")

    await page.click("#audit-toggle")  # back to the conversations
    await expect(page.locator("#desk-lists")).to_be_visible()
    await expect(page.locator("#audit")).to_be_hidden()


async def test_agents_are_not_offered_the_audit_log(org: OrgHandle, new_context: Any) -> None:
    agent = await org.add_user("agent")
    desk = await Agent.log_in(await new_context(), org.base_url, agent["email"])
    await expect(desk.page.locator("#audit-toggle")).to_be_hidden()
