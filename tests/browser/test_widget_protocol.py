"""The widget against a scripted visitor socket: close codes from the mirrored table,
refused messages, rate limiting, and a server that knows less than the widget's cache."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.drivers import Visitor
from tests.support.api import OrgHandle

pytestmark = pytest.mark.browser

Script = Callable[[Any, dict[str, Any], int], Any]


class ScriptedVisitorServer:
    """Each new socket is numbered; `script(ws, frame, n)` answers each frame."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.frames: list[tuple[int, dict[str, Any]]] = []
        self.connections = 0
        self.tasks: set[asyncio.Future[Any]] = set()

    async def route(self, ws: Any) -> None:
        self.connections += 1
        n = self.connections
        ws.on_message(lambda raw: self._frame(ws, json.loads(raw), n))

    def _frame(self, ws: Any, f: dict[str, Any], n: int) -> None:
        self.frames.append((n, f))
        result = self.script(ws, f, n)
        if asyncio.iscoroutine(result):
            task = asyncio.ensure_future(result)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)


def send(ws: Any, **frame: Any) -> None:
    ws.send(json.dumps(frame))


def welcome(ws: Any, conv: str = "c1", last_seq: int = 0, token: str = "vt-1") -> None:
    send(ws, t="welcome", visitor_token=token, conversation_id=conv, mode="bot", last_seq=last_seq)


async def scripted(org: OrgHandle, new_context: Any, script: Script) -> tuple[Visitor, Any]:
    server = ScriptedVisitorServer(script)
    v = Visitor(await (await new_context()).new_page(), org.base_url, org.site_key)
    await v.page.route_web_socket("**/v1/ws/visitor**", server.route)
    await v.goto()
    return v, server


async def test_forbidden_stops_and_says_why(org: OrgHandle, new_context: Any) -> None:
    async def script(ws: Any, f: dict[str, Any], n: int) -> None:
        await ws.close(code=4003, reason="origin")

    v, server = await scripted(org, new_context, script)
    await v.launcher.click()
    await expect(v.status).to_have_text("Chat is not enabled for this website.")
    await asyncio.sleep(2)
    assert server.connections == 1  # no retry


async def test_unauthorized_token_starts_fresh_once(org: OrgHandle, new_context: Any) -> None:
    def script(ws: Any, f: dict[str, Any], n: int) -> Any:
        if n == 1:
            welcome(ws, token="vt-old")
            return None
        return ws.close(code=4001)

    v, server = await scripted(org, new_context, script)
    await v.open()
    assert (await v.stored())["token"] == "vt-old"
    await v.page.reload()
    await v.launcher.click()
    await expect(v.status).to_contain_text("not accepted")
    hellos = [f for _, f in server.frames if f["t"] == "hello"]
    tokens = [h.get("visitor_token") for h in hellos]
    # Reload resumes with the old token; refused, it tries once as a new visitor (and
    # once more when the person opens the panel), then stops.
    assert tokens[1] == "vt-old" and set(tokens[2:]) == {None} and len(tokens) <= 4
    await asyncio.sleep(2)
    assert len([f for _, f in server.frames if f["t"] == "hello"]) == len(hellos)
    assert await v.stored() == {}  # the refused identity was forgotten


async def test_refused_and_rate_limited_messages(org: OrgHandle, new_context: Any) -> None:
    attempts: dict[str, int] = {}

    def script(ws: Any, f: dict[str, Any], n: int) -> None:
        if f["t"] == "hello":
            welcome(ws)
        elif f["t"] == "msg":
            attempts[f["text"]] = attempts.get(f["text"], 0) + 1
            if f["text"] == "refuse me":
                send(ws, t="error", code="too_long", message="too long", ref=f["id"])
            elif f["text"] == "slow" and attempts["slow"] == 1:
                send(ws, t="error", code="rate_limited", message="slow down", ref=f["id"])
            else:
                send(ws, t="ack", id=f["id"], seq=len(attempts))

    v, _ = await scripted(org, new_context, script)
    await v.open()
    await v.say("refuse me")
    await expect(v.bubbles("visitor").first.locator(".meta")).to_have_text("Not delivered")
    await expect(v.bubbles("system")).to_contain_text(["That message is too long."])
    await v.say("slow")
    await expect(v.bubbles("system").last).to_contain_text("too fast")
    await expect(v.bubbles("visitor").last.locator(".meta")).to_have_count(0, timeout=10_000)
    assert attempts == {"refuse me": 1, "slow": 2}
    assert (await v.stored())["outbox"] == []


async def test_server_behind_the_cache_is_believed(org: OrgHandle, new_context: Any) -> None:
    def script(ws: Any, f: dict[str, Any], n: int) -> None:
        if f["t"] != "hello":
            return
        if n == 1:
            welcome(ws)
            for seq in (1, 2, 3):
                author = {"role": "bot"}
                send(ws, t="msg", seq=seq, conversation_id="c1", author=author, text=f"old {seq}")
        else:
            # The server lost the tail (restored backup): it knows seq 1 only.
            welcome(ws, last_seq=1)
            if f.get("last_seq") == 0:
                author = {"role": "bot"}
                send(ws, t="msg", seq=1, conversation_id="c1", author=author, text="kept 1")

    v, server = await scripted(org, new_context, script)
    await v.open()
    await expect(v.bubbles()).to_have_count(3)
    await v.page.reload()
    await v.launcher.click()
    await expect(v.bubbles()).to_have_count(1)
    await expect(v.bubbles()).to_have_text(["Assistantkept 1"])
    last = [f.get("last_seq") for _, f in server.frames if f["t"] == "hello"]
    assert last[-2:] == [3, 0]
