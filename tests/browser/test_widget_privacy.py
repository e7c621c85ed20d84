"""The widget's privacy menu and the org's notice in Chromium, on a customer's page of another
origin (so every /v1/visitor/* call is a real cross-origin request with its preflight),
against the real server: the visitor downloads their data (JSON holding their message),
corrects their name, stops AI processing, erases their data (the widget forgets the token
and starts as a new visitor); in Thai the org's notice comes before the first message,
agreeing is recorded and withdrawing brings the notice back. axe-core finds nothing serious;
screenshots go to docs/console/."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from server.embedded import free_port
from tests.browser.a11y import serious_violations
from tests.browser.drivers import Visitor
from tests.browser.shots import SHOTS
from tests.support.api import OrgHandle

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]



@pytest.fixture
def shop(org: OrgHandle) -> Iterator[Callable[[str], str]]:
    """Another origin (a port of its own on 127.0.0.1) serving the customer's page; returns
    the page's address for a locale."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = pages.get(self.path.strip("/"))
            self.send_response(200 if page else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page or b"")

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def url(locale: str) -> str:
        pages[locale] = (
            f'<!doctype html><html lang="{locale}"><head><title>Shop</title></head><body>'
            f'<main><h1>Shop</h1></main><script src="{org.base_url}/widget.js" '
            f'data-site-key="{org.site_key}" data-locale="{locale}" async></script>'
            '</body></html>').encode()
        return f"http://127.0.0.1:{httpd.server_address[1]}/{locale}"

    yield url
    httpd.shutdown()
    httpd.server_close()


async def on_shop(ctx: Any, org: OrgHandle, url: str) -> Visitor:
    page = await ctx.new_page()
    v = Visitor(page, org.base_url, org.site_key)
    await page.goto(url)
    await expect(v.launcher).to_be_visible()
    return v


def menu_button(v: Visitor, text: str) -> Any:
    return v.page.locator("clienta-widget .priv button", has_text=text)


async def download(v: Visitor, text: str) -> dict[str, Any]:
    async with v.page.expect_download() as started:
        await menu_button(v, text).click()
    path = await (await started.value).path()
    return json.loads(await asyncio.to_thread(Path(path).read_text, "utf-8"))


async def visitor_row(org: OrgHandle, visitor_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as http:
        r = await http.get("/v1/visitors", params={"visitor_id": visitor_id},
                           headers=org.headers())
        r.raise_for_status()
        return r.json()["items"][0]


async def test_the_menu_exports_corrects_restricts_and_erases(org: OrgHandle, new_context: Any,
                                                              shop: Callable) -> None:
    mark = "Parcel-" + uuid.uuid4().hex[:8]
    v = await on_shop(await new_context(), org, shop("en"))
    await v.open()
    await v.say(f"{mark} where is my order?")
    await expect(v.bubbles("visitor").locator(".meta")).to_have_count(0)  # stored
    toggle = v.page.locator("clienta-widget button[aria-label='Privacy']")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(menu_button(v, "Download my data")).to_be_focused()
    assert await serious_violations(v.page, "clienta-widget") == []
    await v.page.screenshot(path=str(SHOTS / "widget-privacy.png"))

    data = await download(v, "Download my data")
    texts = [m["text"] for c in data["conversations"] for m in c["messages"]]
    assert any(mark in t for t in texts)
    visitor_id = data["visitor"]["id"]

    await menu_button(v, "Correct my details").click()
    await v.page.locator("clienta-widget .priv input[name=name]").fill(f"Somsri {mark}")
    await menu_button(v, "Save").click()
    await expect(v.log).to_contain_text("Done.")
    assert (await visitor_row(org, visitor_id))["name"] == f"Somsri {mark}"
    assert (await v.stored())["who"]["name"] == f"Somsri {mark}"  # identify resends it

    await menu_button(v, "Stop AI processing").click()
    await expect(v.log).to_contain_text("Only people will answer you now.")
    await expect(menu_button(v, "Stop AI processing")).to_be_hidden()
    assert (await visitor_row(org, visitor_id))["restricted"] is True

    old_token = (await v.stored())["token"]
    await menu_button(v, "Erase my data").click()
    await expect(v.page.locator("clienta-widget .priv p")).to_contain_text("cannot be undone")
    await expect(menu_button(v, "Cancel")).to_be_focused()  # the safe choice first
    await menu_button(v, "Yes, erase").click()
    await expect(v.bubbles("visitor")).to_have_count(0)  # the transcript is gone
    # the widget forgot the token and came back as a new visitor
    await v.page.wait_for_function(
        f"(JSON.parse(localStorage.getItem('clienta:{org.site_key}') || '{{}}').token || "
        f"'{old_token}') !== '{old_token}'")
    assert (await visitor_row(org, visitor_id))["erased_at"] is not None
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as http:
        r = await http.get("/v1/visitor/export",
                           headers={"Authorization": f"Bearer {old_token}"})
        assert r.status_code == 401
    await expect(menu_button(v, "Stop AI processing")).to_be_attached()  # a fresh state
    assert v.rec.errors == []


async def test_the_notice_comes_first_in_thai_and_withdrawing_brings_it_back(
        org: OrgHandle, new_context: Any, shop: Callable) -> None:
    text = "เราเก็บบทสนทนาของคุณเพื่อใช้ตอบคำถามเท่านั้น"
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as http:
        r = await http.patch("/v1/org/privacy", headers=org.headers(), json={
            "notice_required": True, "notice_version": "2025-06", "notice_text": text})
        r.raise_for_status()
    v = await on_shop(await new_context(), org, shop("th"))
    await v.open()
    notice = v.page.locator("clienta-widget .notice")
    await expect(notice).to_have_text(text)
    await expect(v.input).to_be_disabled()  # nothing can be sent before the choice
    assert v.rec.of("msg", received=False) == []
    assert await serious_violations(v.page, "clienta-widget") == []
    await v.page.screenshot(path=str(SHOTS / "widget-notice-th.png"))

    await v.page.locator("clienta-widget .extra button", has_text="ยอมรับ").click()
    await expect(notice).to_be_hidden()
    await expect(v.input).to_be_enabled()
    await expect(v.input).to_be_focused()
    await v.say("สวัสดีค่ะ")
    await expect(v.bubbles("visitor").locator(".meta")).to_have_count(0)

    await v.page.locator("clienta-widget button[aria-label='ความเป็นส่วนตัว']").click()
    data = await download(v, "ดาวน์โหลดข้อมูลของฉัน")
    assert [(c["notice_version"], c["granted"]) for c in data["consents"]] == [
        ("2025-06", True)]
    await menu_button(v, "ถอนความยินยอม").click()
    await expect(notice).to_be_visible()  # asked again before anything more is sent
    await expect(v.input).to_be_disabled()
    await expect(v.log).to_contain_text("เรียบร้อยแล้ว")
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as http:
        r = await http.get(f"/v1/visitors/{data['visitor']['id']}/export",
                           headers=org.headers())
        assert [c["granted"] for c in r.json()["consents"]] == [True, False]
    assert v.rec.errors == []
