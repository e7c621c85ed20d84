"""Reliability as a visitor sees it: a server restart mid-conversation, and a message
typed while the connection is down (and even across a reload) arriving exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.drivers import Visitor
from tests.support.api import OrgHandle, signup

pytestmark = pytest.mark.browser

HOURS = "Opening hours. Our shop is open Monday to Friday from 9:00 to 17:00."
SHIPPING = "Shipping. Orders ship within two working days; delivery takes three days."


async def stored_texts(org: OrgHandle, conversation_id: str) -> list[str]:
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as client:
        r = await client.get(f"/v1/conversations/{conversation_id}/messages", headers=org.headers())
        r.raise_for_status()
        return [m["text"] for m in r.json()["messages"]]


async def test_server_restart_mid_conversation(make_server: Any, new_context: Any) -> None:
    server = await asyncio.to_thread(make_server)
    org = await signup(server.url, "Restart Org")
    await org.add_document("Opening hours", HOURS)
    await org.add_document("Shipping", SHIPPING)
    v = await Visitor.arrive(await new_context(), org.base_url, org.site_key)
    await v.open()
    await v.say("What are your opening hours?")
    await expect(v.answers()).to_have_count(1, timeout=30_000)

    restart = asyncio.create_task(asyncio.to_thread(server.restart))
    await expect(v.status).to_contain_text("Reconnecting", timeout=15_000)
    await restart
    await expect(v.status).to_be_hidden(timeout=30_000)

    await v.say("How long does shipping take?")
    replies = v.page.locator("clienta-widget .log > .m.bot:not(.streaming), .log > .m.system")
    await expect(replies).to_have_count(2, timeout=30_000)
    await expect(v.bubbles("visitor").locator(".meta")).to_have_count(0)

    texts = await v.texts()
    assert len(texts) == 4, texts
    assert len(set(texts)) == 4, texts  # every message once
    seqs = await v.bubbles().evaluate_all("els => els.map(e => e.dataset.seq)")
    assert len(set(seqs)) == len(seqs) and None not in seqs
    assert [int(s) for s in seqs] == sorted(int(s) for s in seqs)
    # The second socket resumed the first conversation from where it was.
    hellos = v.rec.of("hello", received=False)
    assert len(hellos) >= 2 and hellos[-1]["last_seq"] >= 2
    assert len({w["conversation_id"] for w in v.rec.of("welcome")}) == 1


class Network:
    """Routes the page's websocket through Playwright so a test can cut it.

    Online: frames pass through to the real server. Offline: each new socket is
    refused at once, as a dropped network would refuse it.
    """

    def __init__(self) -> None:
        self.online = True
        self.routes: list[Any] = []

    async def install(self, page: Any) -> None:
        await page.route_web_socket("**/v1/ws/visitor**", self._route)

    async def _route(self, ws: Any) -> None:
        if not self.online:
            # 4000: a code the mirrored table does not list, so handled like a drop.
            await ws.close(code=4000, reason="offline")
            return
        ws.connect_to_server()
        self.routes.append(ws)

    async def cut(self) -> None:
        self.online = False
        for ws in self.routes:
            await ws.close(code=4000, reason="network lost")
        self.routes.clear()


async def test_message_typed_offline_arrives_once(org: OrgHandle, new_context: Any) -> None:
    ctx = await new_context()
    v = Visitor(await ctx.new_page(), org.base_url, org.site_key)
    net = Network()
    await net.install(v.page)
    await v.goto()
    await v.open()
    await v.say("First, while online")
    await expect(v.bubbles("visitor").locator(".meta")).to_have_count(0)

    await net.cut()
    await expect(v.status).to_contain_text("Reconnecting")
    text = "Typed while the network was down"
    await v.say(text)
    await expect(v.bubbles("visitor").last.locator(".meta")).to_have_text("Sending…")
    # Waits in the persisted outbox, and survives a reload while still offline.
    assert [o["text"] for o in (await v.stored())["outbox"]] == [text]
    await v.page.reload()
    await expect(v.bubbles("visitor").last).to_contain_text(text)
    await expect(v.bubbles("visitor").last.locator(".meta")).to_have_text("Sending…")

    net.online = True
    await v.page.evaluate("window.dispatchEvent(new Event('online'))")
    await expect(v.bubbles("visitor").last.locator(".meta")).to_have_count(0, timeout=40_000)
    await expect(v.status).to_be_hidden()
    assert (await v.stored())["outbox"] == []
    await asyncio.sleep(1)  # room for a duplicate to show up, if one were coming
    assert (await v.texts()).count(text) == 1
    conversation = (await v.stored())["conv"]
    assert (await stored_texts(org, conversation)).count(text) == 1
    sends = [f for f in v.rec.sent if f.get("t") == "msg" and f.get("text") == text]
    assert len(sends) == 1, sends  # sent once, when back
