"""Page objects for the browser tests: a visitor on /try and an agent on /console.

Playwright's CSS locators pierce open shadow roots, so `clienta-widget .log` reaches
inside the widget the way a person's eyes do.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from playwright.async_api import Page, WebSocket, expect

from tests.support.api import PASSWORD

# Markup that would run script if any path inserted it as HTML. Nothing in the widget
# or console may ever set window.__xss.
XSS = (
    '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    '<svg onload="window.__xss=3"></svg>[x](javascript:window.__xss=4)'
)


class Recorder:
    """Every websocket frame a page sends and receives, decoded."""

    def __init__(self, page: Page) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("websocket", self._socket)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", self._dialog)

    async def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    def _socket(self, ws: WebSocket) -> None:
        ws.on("framesent", lambda p: self._keep(self.sent, p))
        ws.on("framereceived", lambda p: self._keep(self.received, p))

    @staticmethod
    def _keep(into: list[dict[str, Any]], payload: str | bytes) -> None:
        if isinstance(payload, str):
            try:
                into.append(json.loads(payload))
            except ValueError:
                pass

    def of(self, t: str, received: bool = True) -> list[dict[str, Any]]:
        return [f for f in (self.received if received else self.sent) if f.get("t") == t]


class Visitor:
    def __init__(self, page: Page, base_url: str, site_key: str) -> None:
        self.page = page
        self.base_url = base_url
        self.site_key = site_key
        self.rec = Recorder(page)

    @classmethod
    async def arrive(cls, ctx: Any, base_url: str, site_key: str, **params: str) -> Visitor:
        page = await ctx.new_page()
        v = cls(page, base_url, site_key)
        await v.goto(**params)
        return v

    async def goto(self, **params: str) -> None:
        query = urlencode({"site_key": self.site_key, **params})
        await self.page.goto(f"{self.base_url}/try?{query}")
        await expect(self.launcher).to_be_visible()

    @property
    def launcher(self) -> Any:
        return self.page.locator("clienta-widget .launch")

    @property
    def panel(self) -> Any:
        return self.page.locator("clienta-widget .panel")

    @property
    def log(self) -> Any:
        return self.page.locator("clienta-widget .log")

    @property
    def status(self) -> Any:
        return self.page.locator("clienta-widget .status")

    @property
    def banner(self) -> Any:
        return self.page.locator("clienta-widget .banner")

    @property
    def input(self) -> Any:
        return self.page.locator("clienta-widget #clienta-input")

    def bubbles(self, role: str = "") -> Any:
        return self.page.locator("clienta-widget .log > .m" + (f".{role}" if role else ""))

    def answers(self) -> Any:
        """Final bot answers (not the streaming preview)."""
        return self.page.locator("clienta-widget .log > .m.bot:not(.streaming)")

    async def open(self) -> None:
        await self.launcher.click()
        await expect(self.panel).to_be_visible()
        await expect(self.status).to_be_hidden()

    async def say(self, text: str) -> None:
        await self.input.fill(text)
        await self.input.press("Enter")

    async def texts(self) -> list[str]:
        return [t.strip() for t in await self.bubbles().locator(".body").all_inner_texts()]

    async def stored(self) -> dict[str, Any]:
        raw = await self.page.evaluate(f"localStorage.getItem('clienta:{self.site_key}')")
        return json.loads(raw) if raw else {}

    async def xss_fired(self) -> Any:
        return await self.page.evaluate("window.__xss")


class Agent:
    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.rec = Recorder(page)

    @classmethod
    async def log_in(cls, ctx: Any, base_url: str, email: str) -> Agent:
        page = await ctx.new_page()
        a = cls(page, base_url)
        await page.goto(base_url + "/console")
        await page.fill("#login-email", email)
        await page.fill("#login-password", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await expect(page.locator("#app")).to_be_visible()
        await expect(page.locator("#conn")).to_have_text("")
        return a

    def conversation(self, list_id: str, label: str | None = None) -> Any:
        items = self.page.locator(f"#{list_id} li button")
        return items.filter(has_text=label) if label else items

    def transcript(self, kind: str = "") -> Any:
        return self.page.locator("#transcript > .e" + (f".{kind}" if kind else ""))

    async def reply(self, text: str, note: bool = False) -> None:
        box = self.page.locator("#as-note")
        if await box.is_checked() != note:
            await box.click()
        await self.page.fill("#reply-text", text)
        await self.page.press("#reply-text", "Enter")

    async def xss_fired(self) -> Any:
        return await self.page.evaluate("window.__xss")
