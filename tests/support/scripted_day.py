"""A scripted day of support in one org, over real sockets: two conversations the bot
answers alone, two handed to agents who answer and close them (rated 5 and 3, one tagged
"refund"), and two unanswered questions (the same one, worded twice) left in the queue."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from tests.support.api import OrgHandle
from tests.support.wsclient import agent, visitor

SHIPPING = "How many business days to ship within Thailand?"
UNANSWERED = ("Where is my parcel?", "where is my  parcel")
VISITOR_EMAIL = "Anong.Day@Example.com"


@dataclass
class Day:
    bot_only: list[str] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)  # [Ploy's (refund, 5), Bee's (3)]
    unanswered: list[str] = field(default_factory=list)
    agents: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def all(self) -> list[str]:
        return self.bot_only + self.answered + self.unanswered


async def _bot_answers(ws_url: str, org: OrgHandle, name: str, email: str | None) -> str:
    guest, welcome = await visitor(ws_url, org.site_key)
    hello = {"t": "identify", "name": name, **({"email": email} if email else {})}
    await guest.send(hello)
    await guest.send({"t": "msg", "id": "q1", "text": SHIPPING})
    answer = await guest.expect("msg", timeout=15)
    while answer["author"]["role"] != "bot":
        answer = await guest.expect("msg", timeout=15)
    await guest.close()
    return welcome["conversation_id"]


async def _answered(ws_url: str, org: OrgHandle, token: str, score: int, note: str) -> str:
    guest, welcome = await visitor(ws_url, org.site_key)
    conv = welcome["conversation_id"]
    await guest.send({"t": "msg", "id": "v1", "text": "I want to speak to a human"})
    await guest.expect("mode", mode="queued", timeout=15)
    desk, _ = await agent(ws_url, token)
    await desk.send({"t": "claim", "conversation_id": conv})
    await guest.expect("mode", mode="agent")
    await desk.send({"t": "msg", "conversation_id": conv, "id": "a1",
                     "text": "Hello, how can I help?"})
    await desk.expect("ack", id="a1")
    await desk.send({"t": "note", "conversation_id": conv, "id": "n1", "text": note})
    await desk.expect("ack", id="n1")
    await guest.send({"t": "msg", "id": "v2", "text": "All sorted, thanks"})
    await desk.expect("msg", id="v2")
    await desk.send({"t": "close", "conversation_id": conv})
    await guest.expect("mode", mode="closed")
    await guest.send({"t": "csat", "score": score, "comment": "ok"})
    await guest.send({"t": "ping"})
    await guest.expect("pong")
    await guest.close()
    await desk.close()
    return conv


async def _unanswered(ws_url: str, org: OrgHandle, question: str) -> str:
    guest, welcome = await visitor(ws_url, org.site_key)
    await guest.send({"t": "msg", "id": "q1", "text": question})
    await guest.expect("mode", mode="queued", timeout=15)
    await guest.close()
    return welcome["conversation_id"]


async def play(ws_url: str, org: OrgHandle) -> Day:
    day = Day()
    await org.add_document("Shipping", "We ship within Thailand in 1-3 business days.")
    day.agents = {"ploy": await org.add_user("agent", "Ploy"),
                  "bee": await org.add_user("agent", "Bee")}
    day.bot_only.append(await _bot_answers(ws_url, org, "Anong", VISITOR_EMAIL))
    day.bot_only.append(await _bot_answers(ws_url, org, "Bao", None))
    day.answered.append(await _answered(ws_url, org, day.agents["ploy"]["token"], 5,
                                        "refund approved"))
    day.answered.append(await _answered(ws_url, org, day.agents["bee"]["token"], 3,
                                        "explained delivery"))
    for question in UNANSWERED:
        day.unanswered.append(await _unanswered(ws_url, org, question))
    async with httpx.AsyncClient(base_url=org.base_url, headers=org.headers()) as http:
        r = await http.put(f"/v1/conversations/{day.answered[0]}/tags",
                           json={"tags": ["Refund"]})
        r.raise_for_status()
    return day
