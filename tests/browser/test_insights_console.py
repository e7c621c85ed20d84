"""The console's Insights and History pages in Chromium against the real server, after a
scripted day of real conversations (tests/support/scripted_day.py): the figures shown are
the day's, history finds its conversations by tag, agent, status and visitor, a timeline
opens read-only by keyboard; English and Thai; axe-core finds nothing serious; roles shape
which pages are offered. Screenshots go to docs/console/."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.a11y import serious_violations
from tests.browser.drivers import Agent
from tests.browser.shots import SHOTS
from tests.support.api import OrgHandle, signup
from tests.support.scripted_day import VISITOR_EMAIL, play

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]



async def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / name))


async def _thai(new_context: Any) -> Any:
    """A browser whose saved console language is Thai (i18n.js reads it at start)."""
    ctx = await new_context(timezone_id="Asia/Bangkok")
    await ctx.add_init_script("localStorage.setItem('clienta:console-lang', 'th')")
    return ctx


@pytest.fixture(scope="module")
async def day(clienta_server: Any) -> tuple[OrgHandle, Any]:
    org = await signup(clienta_server.url, "Console Day")
    return org, await play(clienta_server.ws_url, org)


async def test_insights_show_the_days_figures_in_english_and_thai(day: tuple,
                                                                  new_context: Any) -> None:
    org, _ = day
    desk = await Agent.log_in(await new_context(timezone_id="UTC"), org.base_url,
                              org.owner_email)
    page = desk.page
    await page.click("#insights-toggle")
    await expect(page.locator("#insights")).to_be_visible()
    await expect(page.locator("#desk-lists")).to_be_hidden()
    await expect(page.locator("#insights-total")).to_have_text("6")
    await expect(page.locator("#insights-botonly")).to_have_text("2")
    await expect(page.locator("#insights-handed")).to_have_text("4")
    await expect(page.locator("#insights-csat")).to_have_text("4.00 (2 ratings)")
    await expect(page.locator("#insights-unanswered tbody tr")).to_have_count(1)
    await expect(page.locator("#insights-unanswered tbody tr td").nth(1)).to_have_text("2")
    await expect(page.locator("#insights-hours .bar")).to_have_count(24)
    await expect(page.locator("#insights-csat-dist .bar[data-value='1']")).to_have_count(2)
    # each chart says what it shows without the picture
    label = await page.locator("#insights-csat-dist .bars").get_attribute("aria-label")
    assert label is not None and "3: 1" in label and "5: 1" in label
    assert await serious_violations(page, "#insights") == []
    await _shot(page, "insights.png")

    await page.click("#insights-toggle")
    await expect(page.locator("#desk-lists")).to_be_visible()

    thai = await Agent.log_in(await _thai(new_context), org.base_url, org.owner_email)
    page = thai.page
    await expect(page.locator("#insights-toggle")).to_have_text("ข้อมูลเชิงลึก")
    await page.click("#insights-toggle")
    await expect(page.locator("#insights-title")).to_have_text("ข้อมูลเชิงลึก")
    await expect(page.locator("#insights-toggle")).to_have_text("บทสนทนา")
    await expect(page.locator("#insights-total")).to_have_text("6")
    await expect(page.locator("#insights-csat")).to_have_text("4.00 (2 คะแนน)")
    assert await serious_violations(page, "#insights") == []
    await _shot(page, "insights-th.png")


async def test_history_finds_and_opens_a_timeline_read_only(day: tuple,
                                                            new_context: Any) -> None:
    org, played = day
    desk = await Agent.log_in(await new_context(), org.base_url, org.owner_email)
    page = desk.page
    rows = page.locator("#history-rows tr")
    await page.click("#history-toggle")
    await expect(page.locator("#history")).to_be_visible()
    await expect(rows).to_have_count(6)
    await page.fill("#history-tag", "refund")
    await page.click("#history-filters button[type=submit]")
    await expect(rows).to_have_count(1)
    await page.fill("#history-tag", "")
    await page.select_option("#history-agent", label="Bee")
    await page.click("#history-filters button[type=submit]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-id", played.answered[1])
    await page.select_option("#history-agent", "")
    await page.select_option("#history-status-filter", "closed")
    await page.click("#history-filters button[type=submit]")
    await expect(rows).to_have_count(2)
    await page.select_option("#history-status-filter", "")
    await page.fill("#history-visitor", VISITOR_EMAIL.lower())
    await page.press("#history-visitor", "Enter")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Anong")
    assert await serious_violations(page, "#history") == []
    await _shot(page, "history.png")

    await page.fill("#history-visitor", "")
    await page.fill("#history-tag", "refund")
    await page.press("#history-tag", "Enter")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-id", played.answered[0])
    await rows.first.locator("button").focus()  # by keyboard
    await page.keyboard.press("Enter")
    timeline = page.locator("#history-timeline")
    await expect(timeline).to_be_visible()
    await expect(page.locator("#history-timeline-title")).to_be_focused()
    await expect(timeline).to_contain_text("Rating: 5 / 5")
    await expect(timeline).to_contain_text("Handoff: queued")
    await expect(timeline.locator(".event.note")).to_contain_text("refund approved")
    # read only: nothing in the timeline can write
    assert await timeline.locator("input, textarea, select, [contenteditable]").count() == 0
    assert await serious_violations(page, "#history") == []
    await _shot(page, "history-timeline.png")
    await page.click("#history-back")
    await expect(page.locator("#history-filters")).to_be_visible()

    thai = await Agent.log_in(await _thai(new_context), org.base_url, org.owner_email)
    page = thai.page
    await page.click("#history-toggle")
    await expect(page.locator("#history-title")).to_have_text("ประวัติการสนทนา")
    await expect(page.locator("#history-filters button[type=submit]")).to_have_text("ค้นหา")
    await expect(page.locator("#history-rows tr")).to_have_count(6)
    await page.locator("#history-rows tr button").first.click()
    await expect(page.locator("#history-back")).to_have_text("กลับไปที่ผลการค้นหา")
    assert await serious_violations(page, "#history") == []
    await _shot(page, "history-th.png")


async def test_agents_and_viewers_get_history_but_not_insights(day: tuple,
                                                               new_context: Any) -> None:
    org, _ = day
    for role in ("agent", "viewer"):
        user = await org.add_user(role)
        desk = await Agent.log_in(await new_context(), org.base_url, user["email"])
        page = desk.page
        await expect(page.locator("#insights-toggle")).to_be_hidden()
        await expect(page.locator("#history-toggle")).to_be_visible()
        await page.click("#history-toggle")
        await expect(page.locator("#history-rows tr")).to_have_count(6)
        await page.locator("#history-rows tr button").first.click()
        await expect(page.locator("#history-timeline")).to_be_visible()
        await desk.page.close()
