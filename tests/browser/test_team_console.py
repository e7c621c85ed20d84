"""The console's Team page and the pages mailed links open, against the real server: an
owner invites, the invitee accepts from the mailed link and lands in the console, the
owner re-roles and removes them (their console is signed out at once), revokes and resends
invites; an unverified owner sees the banner; a reset link sets a new password."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.drivers import Agent
from tests.support.api import PASSWORD, OrgHandle
from tests.support.mailbox import link_token, wait_for_mail

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


def mailbox(server_env: dict[str, str]) -> Path:
    return Path(server_env["CLIENTA_HOME"]) / "mail"


async def test_invite_accept_rerole_and_remove_from_the_team_page(
        org: OrgHandle, server_env: dict[str, str], new_context: Any) -> None:
    box = mailbox(server_env)
    owner = await Agent.log_in(await new_context(), org.base_url, org.owner_email)
    page = owner.page
    await expect(page.locator("#verify-banner")).to_be_visible()  # not confirmed yet
    verify = link_token(await wait_for_mail(box, org.owner_email, "Confirm"), "verify")
    link_page = await (await new_context()).new_page()
    await link_page.goto(f"{org.base_url}/console#verify={verify}")
    await expect(link_page.locator("#link-title")).to_have_text("All set")
    assert "verify=" not in link_page.url  # the token left the address bar

    await page.click("#team-toggle")
    await expect(page.locator("#team")).to_be_visible()
    await expect(page.locator("#desk-lists")).to_be_hidden()
    await expect(page.locator("#team-members tr")).to_have_count(1)
    address = f"newbie-{uuid.uuid4().hex[:8]}@test.clienta"
    await page.fill("#invite-email", address)
    await page.select_option("#invite-role", "agent")
    await page.click("#invite-form button[type=submit]")
    invites = page.locator("#team-invites tr")
    await expect(invites).to_have_count(1)
    await expect(invites.first).to_contain_text(address)
    # revoked, then invited again
    await invites.first.locator("button.revoke").click()
    await expect(invites).to_have_count(0)
    await page.fill("#invite-email", address)
    await page.click("#invite-form button[type=submit]")
    await expect(invites).to_have_count(1)
    await invites.first.locator("button.resend").click()
    await expect(page.locator("#team-status")).to_have_text("Invitation sent again.")
    token = link_token(await wait_for_mail(box, address, count=3), "invite")

    newbie = await (await new_context()).new_page()
    await newbie.goto(f"{org.base_url}/console#invite={token}")
    await expect(newbie.locator("#link-title")).to_contain_text("Join ")
    await newbie.fill("#link-name", "Newbie")
    await newbie.fill("#link-password", PASSWORD)
    await newbie.click("#link-form button[type=submit]")
    await expect(newbie.locator("#app")).to_be_visible()
    await expect(newbie.locator("#conn")).to_have_text("")
    await expect(newbie.locator("#team-toggle")).to_be_hidden()  # an agent

    await page.click("#team-toggle")  # back to conversations, and the Team page again
    await page.click("#team-toggle")
    members = page.locator("#team-members tr")
    await expect(members).to_have_count(2)
    await expect(invites).to_have_count(0)
    row = members.filter(has_text=address)
    await row.locator("select").select_option("admin")
    await expect(page.locator("#team-status")).to_have_text("Role changed.")
    # applied to the newcomer's open console: the admin's buttons appear
    await expect(newbie.locator("#team-toggle")).to_be_visible()
    await row.locator("button.remove").click()
    await expect(row.locator("button.remove")).to_have_text("Click again to remove")
    await row.locator("button.remove").click()
    await expect(members).to_have_count(1)
    # their console is signed out at once (socket closed 4001)
    await expect(newbie.locator("#login-view")).to_be_visible()
    await expect(newbie.locator("#login-error")).to_contain_text("session has ended")
    assert owner.rec.dialogs == []


async def test_a_reset_link_sets_a_new_password(org: OrgHandle, server_env: dict[str, str],
                                                new_context: Any) -> None:
    box = mailbox(server_env)
    async with httpx.AsyncClient(base_url=org.base_url) as http:
        r = await http.post("/v1/password/forgot", json={"email": org.owner_email})
        assert r.status_code == 202
    token = link_token(await wait_for_mail(box, org.owner_email, "Reset"), "reset")
    page = await (await new_context()).new_page()
    await page.goto(f"{org.base_url}/console#reset={token}")
    await page.fill("#link-password", "short")
    await page.click("#link-form button[type=submit]")
    await expect(page.locator("#link-message")).to_contain_text("at least 10")
    await page.fill("#link-password", "a-brand-new-passphrase")
    await page.click("#link-form button[type=submit]")
    await expect(page.locator("#link-title")).to_have_text("All set")
    await page.click("#link-login")
    await page.fill("#login-email", org.owner_email)
    await page.fill("#login-password", "a-brand-new-passphrase")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#app")).to_be_visible()
