"""The console's Privacy page in Chromium against the real server: an owner finds a real
visitor by the address they gave (any case), downloads their data as JSON and CSV, corrects
their name, restricts them and erases them; the requests register takes a request received
by email (due in 30 days) and completes it; the account's owner exports the org and ends the
account (a wrong name refused, the right one 202). A coming material policy change shows a
banner to every role until dismissed. English and Thai; axe-core finds nothing serious;
agents are not offered the page. Screenshots go to docs/console/."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from server.storage.db import Database
from tests.browser.a11y import serious_violations
from tests.browser.drivers import Agent
from tests.browser.shots import SHOTS
from tests.support.api import OrgHandle, signup
from tests.support.wsclient import visitor

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]



async def _read(download: Any) -> bytes:
    path = await download.path()
    return await asyncio.to_thread(Path(path).read_bytes)


async def _save(page: Any, selector: str) -> bytes:
    async with page.expect_download() as started:
        await page.click(selector)
    return await _read(await started.value)


async def _chatting(org: OrgHandle, mark: str) -> None:
    """A real visitor who wrote and gave their name and address."""
    client, _ = await visitor(org.base_url.replace("http", "ws", 1), org.site_key)
    await client.send({"t": "msg", "id": "q1", "text": f"{mark} is my parcel late?"})
    await client.expect("ack")
    await client.send({"t": "identify", "name": f"Anong {mark}",
                       "email": f"anong.{mark}@example.com"})
    await client.send({"t": "ping"})
    await client.expect("pong")  # frames are handled in order: identify is done
    await client.close()


async def test_an_owner_finds_exports_corrects_restricts_and_erases_a_visitor(
        org: OrgHandle, new_context: Any) -> None:
    mark = uuid.uuid4().hex[:8]
    await _chatting(org, mark)
    desk = await Agent.log_in(await new_context(), org.base_url, org.owner_email)
    page = desk.page
    await page.click("#privacy-toggle")
    await expect(page.locator("#privacy")).to_be_visible()
    await expect(page.locator("#desk-lists")).to_be_hidden()
    await page.fill("#privacy-lookup", f"ANONG.{mark}@Example.com")
    await page.press("#privacy-lookup", "Enter")
    rows = page.locator("#privacy-visitors tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(f"Anong {mark}")
    await rows.first.locator("button").focus()  # by keyboard
    await page.keyboard.press("Enter")
    await expect(page.locator("#privacy-visitor-title")).to_be_focused()

    data = json.loads(await _save(page, "#privacy-export-json"))
    texts = [m["text"] for c in data["conversations"] for m in c["messages"]]
    assert any(mark in t for t in texts)
    with zipfile.ZipFile(io.BytesIO(await _save(page, "#privacy-export-csv"))) as archive:
        assert mark in archive.read("messages.csv").decode("utf-8-sig")

    await page.fill("#privacy-name", f"Anong K. {mark}")
    await page.click("#privacy-rectify button[type=submit]")
    await expect(rows.first).to_contain_text(f"Anong K. {mark}")
    await page.fill("#privacy-objection", "no bots please")
    await page.click("#privacy-restrict")
    await expect(rows.first).to_contain_text("restricted")
    await expect(page.locator("#privacy-restrict")).to_have_text("Lift the restriction")
    assert await serious_violations(page, "#privacy") == []

    # the requests register holds what was just done, each done at once
    await page.select_option("#privacy-status", "done")
    done = page.locator("#privacy-requests tbody tr")
    await expect(done.filter(has_text="rectification")).to_have_count(1)
    await expect(done.filter(has_text="objection")).to_have_count(1)
    await page.screenshot(path=str(SHOTS / "privacy.png"), full_page=True)

    await page.click("#privacy-erase")
    await expect(page.locator("#privacy-erase")).to_have_text("Click again to confirm")
    await page.click("#privacy-erase")
    await expect(rows.first).to_contain_text("erased")
    await expect(rows.first).not_to_contain_text(mark)  # the name is gone
    await expect(page.locator("#privacy-export-json")).to_be_disabled()
    assert desk.rec.errors == []


async def test_requests_received_by_email_are_entered_and_completed(
        org: OrgHandle, new_context: Any) -> None:
    desk = await Agent.log_in(await new_context(), org.base_url, org.owner_email)
    page = desk.page
    await page.click("#privacy-toggle")
    await expect(page.locator("#privacy-requests-status")).to_have_text("No requests.")
    sent = (datetime.now(UTC) - timedelta(days=3)).date()
    await page.select_option("#privacy-kind", "erasure")
    await page.fill("#privacy-subject-email", "writer@example.com")
    await page.fill("#privacy-received", sent.isoformat())
    await page.check("#privacy-verified")
    await page.click("#privacy-add button[type=submit]")
    due = (sent + timedelta(days=30)).isoformat()
    await expect(page.locator("#privacy-requests-status")).to_have_text(
        f"Request added: due {due}.")
    row = page.locator("#privacy-requests tbody tr", has_text="writer@example.com")
    await expect(row).to_contain_text("erasure")
    await expect(row.locator("td").nth(4)).to_have_text("26")  # days left
    await row.locator("button").click()
    await expect(page.locator("#privacy-requests tbody tr")).to_have_count(0)  # open only
    await page.select_option("#privacy-status", "done")
    await expect(page.locator("#privacy-requests tbody tr", has_text="writer@example.com")
                 ).to_contain_text("done")


async def test_owner_exports_and_terminates_the_account_in_thai(clienta_server: Any,
                                                                new_context: Any) -> None:
    org = await signup(clienta_server.url, f"Closing {uuid.uuid4().hex[:6]}")
    ctx = await new_context()
    await ctx.add_init_script("localStorage.setItem('clienta:console-lang', 'th')")
    desk = await Agent.log_in(ctx, org.base_url, org.owner_email)
    page = desk.page
    await page.click("#privacy-toggle")
    await expect(page.locator("#privacy-title")).to_have_text("ความเป็นส่วนตัว")
    await expect(page.locator("#privacy-account")).to_be_visible()
    exported = json.loads(await _save(page, "#privacy-org-json"))
    assert org.owner_email in json.dumps(exported)
    mine = json.loads(await _save(page, "#privacy-me-json"))
    assert mine["user"]["email"] == org.owner_email
    assert await serious_violations(page, "#privacy") == []
    await page.screenshot(path=str(SHOTS / "privacy-th.png"), full_page=True)

    await page.fill("#privacy-terminate-name", "not the name")
    await page.click("#privacy-terminate button[type=submit]")
    await expect(page.locator("#privacy-account-status")).to_contain_text("ข้อผิดพลาด")
    await page.fill("#privacy-terminate-name", exported["org"]["name"])
    async with page.expect_response(lambda r: r.url.endswith("/v1/org/terminate")) as answer:
        await page.click("#privacy-terminate button[type=submit]")
    assert (await answer.value).status == 202
    # the service stopped: the console's socket is closed and it returns to the login
    await expect(page.locator("#login-view")).to_be_visible()


async def test_admins_lack_the_account_agents_the_page_and_everyone_sees_the_banner(
        org: OrgHandle, new_context: Any, db: Database) -> None:
    version = f"test-{uuid.uuid4().hex[:8]}"
    effective = (datetime.now(UTC) + timedelta(days=40)).date()
    async with db.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO policy_versions (version, effective_on, material, summary,"
            " published_at) VALUES ($1, $2, true, 'Backups move to Singapore.', now())",
            version, effective)
    try:
        admin = await org.add_user("admin")
        desk = await Agent.log_in(await new_context(), org.base_url, admin["email"])
        await desk.page.click("#privacy-toggle")
        await expect(desk.page.locator("#privacy-find")).to_be_visible()
        await expect(desk.page.locator("#privacy-account")).to_be_hidden()

        agent = await org.add_user("agent")
        ctx = await new_context()
        desk = await Agent.log_in(ctx, org.base_url, agent["email"])
        page = desk.page
        await expect(page.locator("#privacy-toggle")).to_be_hidden()
        banner = page.locator("#policy-banner")
        await expect(banner).to_contain_text(effective.isoformat())
        await expect(banner).to_contain_text("Backups move to Singapore.")
        assert await serious_violations(page, "#policy-banner") == []
        await page.click("#policy-dismiss")
        await expect(banner).to_be_hidden()
        again = await Agent.log_in(ctx, org.base_url, agent["email"])  # same browser
        # once the policy was read (data-checked names the version found), still hidden
        await expect(again.page.locator(f"#policy-banner[data-checked='{version}']")
                     ).to_be_attached()
        await expect(again.page.locator("#policy-banner")).to_be_hidden()
    finally:
        async with db.pool.acquire() as conn:
            await conn.execute("DELETE FROM policy_versions WHERE version = $1", version)
