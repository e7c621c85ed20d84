"""The agent console against a scripted agent socket: the client side of the agent
protocol, independent of the server's live-agent work (test_handoff.py does it for real).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.drivers import XSS, Recorder
from tests.support.api import OrgHandle

pytestmark = pytest.mark.browser

TOKEN = "tok-secret-123"
ME = {"id": "u1", "name": "Alice Agent", "email": "alice@example.com"}
VISITOR = {"id": "v-1234567890", "name": XSS}
QUEUED = {
    "id": "c1",
    "mode": "queued",
    "visitor": VISITOR,
    "last_seq": 3,
    "updated_at": "2025-01-01T00:00:00Z",
    "preview": "<b>refund?</b>",
}


def msg(seq: int, role: str, text: str, **extra: Any) -> dict[str, Any]:
    author = {"role": role, **({"name": extra.pop("name")} if "name" in extra else {})}
    frame = {"t": "msg", "seq": seq, "conversation_id": "c1", "author": author, "text": text}
    return {**frame, "ts": 1, **extra}


class ScriptedAgentServer:
    """Answers the console's frames the way the contract says the server does."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.sockets: list[Any] = []
        self.seq = 3

    async def route(self, ws: Any) -> None:
        self.sockets.append(ws)
        ws.on_message(lambda raw: self.on_frame(ws, json.loads(raw)))

    def send(self, ws: Any, frame: dict[str, Any]) -> None:
        ws.send(json.dumps(frame))

    def on_frame(self, ws: Any, f: dict[str, Any]) -> None:
        self.frames.append(f)
        t = f["t"]
        if t == "hello":
            assert f["token"] == TOKEN
            welcome = {"t": "welcome", "user": ME, "org_id": "o1", "queue": [QUEUED]}
            self.send(ws, {**welcome, "assigned": []})
        elif t == "join":
            joined = {"t": "joined", "conversation_id": "c1", "mode": "queued"}
            self.send(ws, {**joined, "visitor": VISITOR, "last_seq": self.seq})
            sources = [
                {"title": XSS, "url": "javascript:alert(1)", "chunk_id": "k1"},
                {"title": "Refunds", "url": "https://shop.example/r", "chunk_id": "k2"},
            ]
            history = [
                msg(1, "visitor", "Refund? " + XSS),
                msg(2, "bot", "Refunds take **5 days**.", stream_id="s1", sources=sources),
                msg(3, "system", "Asking a person to help."),
            ]
            for m in history:
                if m["seq"] > f.get("last_seq", 0):
                    self.send(ws, m)
        elif t == "claim":
            agent = {"id": ME["id"], "name": ME["name"]}
            self.send(ws, {"t": "mode", "conversation_id": "c1", "mode": "agent", "agent": agent})
            mine = {**QUEUED, "mode": "agent", "assignee_id": "u1"}
            self.send(ws, {"t": "queue", "op": "update", "conversation": mine})
        elif t in ("msg", "note"):
            self.seq += 1
            self.send(ws, {"t": "ack", "id": f["id"], "seq": self.seq})
            echo = msg(self.seq, "agent", f["text"], name=ME["name"], id=f["id"])
            self.send(ws, {**echo, "t": t})


async def eventually(check: Any) -> None:
    for _ in range(400):  # 20 s
        if check():
            return
        await asyncio.sleep(0.05)
    pytest.fail("condition never became true")


async def open_console(org: OrgHandle, new_context: Any) -> tuple[Any, ScriptedAgentServer]:
    page = await (await new_context()).new_page()
    server = ScriptedAgentServer()

    async def login(route: Any) -> None:
        body = route.request.post_data_json
        if body["password"] == "right":
            session = {"token": TOKEN, "user_id": "u1", "org_id": "o1", "role": "agent"}
            await route.fulfill(json=session)
        else:
            error = {"code": "unauthorized", "message": "no"}
            await route.fulfill(status=401, json={"error": error})

    async def canned(route: Any) -> None:
        assert route.request.headers["authorization"] == f"Bearer {TOKEN}"
        await route.fulfill(json={"canned": [{"id": "1", "shortcut": "hi", "text": "Hello!"}]})

    await page.route("**/v1/login", login)
    await page.route("**/v1/canned", canned)
    await page.route_web_socket("**/v1/ws/agent", server.route)
    await page.goto(org.base_url + "/console")
    return page, server


async def test_console_flow_against_scripted_server(org: OrgHandle, new_context: Any) -> None:
    page, server = await open_console(org, new_context)
    rec = Recorder(page)
    await page.fill("#login-email", "alice@example.com")
    await page.fill("#login-password", "wrong")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#login-error")).to_have_text("Wrong email or password.")

    await page.fill("#login-password", "right")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#me")).to_have_text("Alice Agent")
    waiting = page.locator("#list-queued li button")
    await expect(waiting).to_have_count(1)
    await expect(waiting).to_contain_text("<img src=x")  # the visitor's name, as text
    await waiting.click()
    transcript = page.locator("#transcript > .e")
    await expect(transcript).to_have_count(3)
    await expect(transcript.nth(1).locator("strong")).to_have_text("5 days")
    links = transcript.nth(1).locator(".src a")
    await expect(links).to_have_count(1)
    await expect(links).to_have_attribute("href", "https://shop.example/r")

    await page.click("#btn-claim")
    await expect(page.locator("#list-mine li button")).to_have_count(1)
    await expect(page.locator("#convo-mode")).to_have_text("agent (you)")
    await expect(page.locator("#btn-claim")).to_be_disabled()

    await page.locator("#reply-text").press_sequentially("/hi", delay=20)
    await page.press("#reply-text", "Tab")
    await expect(page.locator("#reply-text")).to_have_value("Hello!")
    await page.press("#reply-text", "Enter")
    await expect(page.locator("#transcript > .e.agent")).to_have_count(1)
    await expect(page.locator("#transcript > .e.pending")).to_have_count(0)
    await page.check("#as-note")
    await page.fill("#reply-text", "internal only")
    await page.press("#reply-text", "Enter")
    await expect(page.locator("#transcript > .e.note")).to_contain_text("internal only")

    sent = {f["t"] for f in server.frames}
    assert {"hello", "join", "claim", "msg", "note", "typing"} <= sent
    reply = next(f for f in server.frames if f["t"] == "msg")
    assert reply["conversation_id"] == "c1" and reply["text"] == "Hello!" and reply["id"]

    # A dropped socket: the console comes back, re-joins from its last seq, no duplicates.
    await server.sockets[-1].close(code=1012)
    await eventually(lambda: len([f for f in server.frames if f["t"] == "hello"]) == 2)
    await eventually(
        lambda: [f for f in server.frames if f["t"] == "join"][-1].get("last_seq") == 5
    )
    await expect(transcript).to_have_count(5)

    # The token lives in memory only.
    assert TOKEN not in page.url
    stored = await page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
    assert TOKEN not in stored and TOKEN not in await page.evaluate("document.cookie")
    assert await page.evaluate("window.__xss") is None
    assert await page.locator("#app").locator("img, script, svg").count() == 0
    assert rec.errors == []

    # The server ends the session: back to the login form.
    await server.sockets[-1].close(code=4001)
    await expect(page.locator("#login-view")).to_be_visible()
    await expect(page.locator("#login-error")).to_contain_text("session has ended")
