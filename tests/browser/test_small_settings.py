"""Three small screens in Chromium against the real server: the widget's "Email me a
transcript" (issue 19 point 5: the frame sent, the confirmation shown, the mail written),
the Settings page's Notifications and Privacy parts (saved, read back after a reload; a
required notice then comes before the widget's first message) and My notifications for
every user. English and Thai; axe-core finds nothing serious."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.a11y import serious_violations
from tests.browser.drivers import Agent, Visitor
from tests.browser.shots import SHOTS
from tests.support.api import PASSWORD, OrgHandle
from tests.support.mailbox import text_of, wait_for_mail

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]



async def _get(org: OrgHandle, path: str, token: str | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as http:
        r = await http.get(path, headers=org.headers(token))
        r.raise_for_status()
        return r.json()


def _menu(v: Visitor, text: str) -> Any:
    return v.page.locator("clienta-widget .priv button", has_text=text)


async def test_a_visitor_gets_the_transcript_by_email(org: OrgHandle, new_context: Any,
                                                      server_env: dict[str, str]) -> None:
    mark = "Parcel-" + uuid.uuid4().hex[:8]
    address = f"visitor-{uuid.uuid4().hex[:8]}@test.clienta"
    v = await Visitor.arrive(await new_context(), org.base_url, org.site_key)
    await v.open()
    await v.say(f"{mark} where is my order?")
    await expect(v.bubbles("visitor").locator(".meta")).to_have_count(0)  # stored
    await v.page.locator("clienta-widget button[aria-label='Privacy']").click()
    to = v.page.locator("clienta-widget .priv input[name=to]")
    await expect(to).to_have_value("")  # no address known: the visitor is asked for one
    await to.fill(address)
    await _menu(v, "Email me a transcript").click()
    await expect(v.log).to_contain_text("Transcript sent.")
    assert v.rec.of("transcript", received=False) == [{"t": "transcript", "email": address}]
    assert v.rec.of("transcript") == [{"t": "transcript", "sent": True}]
    assert await serious_violations(v.page, "clienta-widget") == []
    mail = await wait_for_mail(Path(server_env["CLIENTA_HOME"]) / "mail", address,
                               "Your conversation", timeout=30)
    assert mark in text_of(mail)
    assert v.rec.errors == []


async def test_org_notifications_and_privacy_saved_and_the_notice_reaches_the_widget(
        org: OrgHandle, new_context: Any) -> None:
    inbox = f"inbox-{uuid.uuid4().hex[:8]}@test.clienta"
    owner = await Agent.log_in(await new_context(), org.base_url, org.owner_email)
    page = owner.page
    await page.click("#settings-toggle")
    notifications = page.locator("#settings-notifications")
    privacy = page.locator("#settings-privacy")
    await expect(notifications).to_be_visible()
    await expect(page.locator("#waiting-alert")).not_to_have_value("")  # loaded
    await page.fill("#inbox-email", "not an address")
    await notifications.locator("button[type=submit]").click()
    await expect(notifications.locator("[role=status]")).to_contain_text("Not saved")
    await page.fill("#inbox-email", inbox)
    await page.fill("#waiting-alert", "240")
    await page.locator("#inbox-enabled").set_checked(True)
    await notifications.locator("button[type=submit]").click()
    await expect(notifications.locator("[role=status]")).to_have_text("Saved.")

    text = "We keep your messages to answer you. " + uuid.uuid4().hex[:6]
    await page.locator("#notice-required").check()
    await page.fill("#notice-version", "2025-07")
    await page.fill("#notice-text", text)
    await page.fill("#retention-days", "90")
    await privacy.locator("button[type=submit]").click()
    await expect(privacy.locator("[role=status]")).to_have_text("Saved.")
    assert await serious_violations(page, "#settings-notifications") == []
    assert await serious_violations(page, "#settings-privacy") == []
    await privacy.screenshot(path=str(SHOTS / "settings-privacy.png"))

    assert await _get(org, "/v1/org/notifications") == {
        "inbox_email": inbox, "inbox_enabled": True, "waiting_alert_s": 240}
    assert await _get(org, "/v1/org/privacy") == {
        "notice_required": True, "notice_version": "2025-07", "notice_text": text,
        "closed_retention_days": 90}

    # read back after a reload, in Thai
    await page.reload()
    await page.fill("#login-email", org.owner_email)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#app")).to_be_visible()
    await page.select_option("#lang-app", "th")
    await page.click("#settings-toggle")
    await expect(page.locator("#inbox-email")).to_have_value(inbox)
    await expect(page.locator("#waiting-alert")).to_have_value("240")
    await expect(page.locator("#notice-required")).to_be_checked()
    await expect(page.locator("#notice-text")).to_have_value(text)
    await expect(page.locator("#retention-days")).to_have_value("90")
    await expect(page.locator("#settings-privacy-title")).to_have_text("ความเป็นส่วนตัว")
    await expect(page.locator("#settings-notifications-title")).to_have_text("การแจ้งเตือน")
    assert await serious_violations(page, "#settings-privacy") == []

    # the notice, now required, comes before the widget's first message (Thai widget)
    v = await Visitor.arrive(await new_context(), org.base_url, org.site_key, locale="th")
    await v.open()
    await expect(v.page.locator("clienta-widget .notice")).to_have_text(text)
    await expect(v.input).to_be_disabled()
    await v.page.locator("clienta-widget button[aria-label='ความเป็นส่วนตัว']").click()
    await expect(_menu(v, "ส่งบันทึกแชททางอีเมล")).to_be_visible()
    assert owner.rec.errors == [] and v.rec.errors == []


async def test_my_notifications_for_every_user(org: OrgHandle, new_context: Any) -> None:
    agent = await org.add_user("agent", "Ploy")
    a = await Agent.log_in(await new_context(), org.base_url, agent["email"])
    page = a.page
    await expect(page.locator("#settings-toggle")).to_be_hidden()  # not the org's settings
    await page.click("#prefs-toggle")
    mine = page.locator("#prefs-mine")
    await expect(mine).to_be_visible()
    await expect(page.locator("#pref-offline")).to_be_checked()  # the default: on
    await page.locator("#pref-offline").uncheck()
    await mine.locator("button[type=submit]").click()
    await expect(mine.locator("[role=status]")).to_have_text("Saved.")
    mine_now = await _get(org, "/v1/users/me/notifications", agent["token"])
    assert mine_now["offline_waiting"] is False
    assert await serious_violations(page, "#my-prefs") == []
    await page.select_option("#lang-app", "th")
    await expect(page.locator("#prefs-mine-title")).to_have_text("การแจ้งเตือนของฉัน")
    await expect(page.locator("#prefs-toggle")).to_have_text("บทสนทนา")
    await page.click("#prefs-toggle")  # back to the desk
    await expect(page.locator("#desk-lists")).to_be_visible()
    await page.click("#prefs-toggle")
    await expect(page.locator("#pref-offline")).not_to_be_checked()  # read back
    assert a.rec.errors == []
