"""Live agents end to end: real server processes sharing Postgres and Redis."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from server.domain.system_text import TEXTS
from tests.fakes import FakeOpenAI
from tests.support.api import OrgHandle, signup
from tests.support.wsclient import agent, stored_visitor, visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def queued_visitor(url: str, org: OrgHandle):
    client, welcome = await visitor(url, org.site_key)
    await client.send({"t": "handoff"})
    await client.expect("mode", mode="queued")
    return client, welcome


async def test_handoff_claim_chat_typing_and_private_notes_across_processes(make_server) -> None:
    one, two = make_server(), make_server()
    org = await signup(one.url)
    ploy = await org.add_user("agent", "Ploy")
    desk, hello = await agent(two.ws_url, ploy["token"])
    assert hello["user"]["name"] == "Ploy" and hello["queue"] == []
    guest, welcome = await visitor(one.ws_url, org.site_key)
    conv = welcome["conversation_id"]
    await guest.send({"t": "msg", "id": "v1", "text": "I want to speak to a human"})
    await guest.expect("mode", mode="queued")
    queued = await desk.expect("queue", op="add")
    assert queued["conversation"]["id"] == conv
    await desk.send({"t": "join", "conversation_id": conv})
    joined = await desk.expect("joined", conversation_id=conv)
    assert joined["mode"] == "queued" and joined["visitor"]["id"]
    assert (await desk.expect("msg", id="v1"))["text"] == "I want to speak to a human"
    await desk.send({"t": "claim", "conversation_id": conv})
    mode = await guest.expect("mode", mode="agent")
    assert mode["agent"]["name"] == "Ploy"
    await desk.send({"t": "msg", "conversation_id": conv, "id": "a1", "text": "Hi, Ploy here"})
    await desk.expect("ack", id="a1")
    got = await guest.expect("msg", id="a1")
    assert got["author"] == {"role": "agent", "name": "Ploy", "id": ploy["user_id"]}
    await guest.send({"t": "msg", "id": "v2", "text": "thanks!"})
    await desk.expect("msg", id="v2")
    await guest.send({"t": "typing", "on": True})
    assert (await desk.expect("typing"))["author"]["role"] == "visitor"
    await desk.send({"t": "typing", "conversation_id": conv, "on": True})
    assert (await guest.expect("typing"))["author"]["name"] == "Ploy"
    await desk.send({"t": "note", "conversation_id": conv, "id": "n1",
                     "text": "SECRET: refund approved internally"})
    await desk.expect("ack", id="n1")
    assert (await desk.expect("note", id="n1"))["author"]["role"] == "agent"
    await guest.send({"t": "ping"})
    await guest.expect("pong")
    await guest.drain(0.3)
    assert not any("SECRET" in str(f) for f in guest.frames)
    # nor in a resume from zero, on the other process
    seq = next(f["seq"] for f in guest.of_type("ack") if f["id"] == "v2")
    again, _ = await visitor(two.ws_url, org.site_key, visitor_token=welcome["visitor_token"],
                             conversation_id=conv, last_seq=0)
    await again.expect("msg", id="v2")
    await again.drain(0.3)
    assert not any("SECRET" in str(f) for f in again.frames)
    assert not again.of_type("note")
    assert seq > 0
    for c in (desk, guest, again):
        await c.close()


async def test_sigkill_of_the_visitors_process_loses_nothing(make_server) -> None:
    one, two = make_server(), make_server()
    org = await signup(one.url)
    ploy = await org.add_user("agent", "Ploy")
    guest, welcome = await queued_visitor(one.ws_url, org)
    conv = welcome["conversation_id"]
    desk, _ = await agent(two.ws_url, ploy["token"])
    await desk.send({"t": "claim", "conversation_id": conv})
    await guest.expect("mode", mode="agent")
    await guest.send({"t": "msg", "id": "v1", "text": "before the crash"})
    last = (await guest.expect("ack", id="v1"))["seq"]
    one.kill()
    assert await guest.wait_closed() is not None or guest.close_code is None
    for i in range(3):
        await desk.send({"t": "msg", "conversation_id": conv, "id": f"a{i}", "text": f"r{i}"})
        await desk.expect("ack", id=f"a{i}")
    back, again = await visitor(two.ws_url, org.site_key, visitor_token=welcome["visitor_token"],
                                conversation_id=conv, last_seq=last)
    assert again["mode"] == "agent"
    missed = [await back.expect("msg", id=f"a{i}") for i in range(3)]
    assert [m["seq"] for m in missed] == [last + 1, last + 2, last + 3]
    await back.send({"t": "msg", "id": "v2", "text": "after the crash"})
    await desk.expect("msg", id="v2")
    view, _ = await agent(two.ws_url, ploy["token"])
    await view.send({"t": "join", "conversation_id": conv, "last_seq": 0})
    await view.expect("joined")
    ids = [(await view.expect("msg", id=i))["id"] for i in ("v1", "a0", "a1", "a2", "v2")]
    assert ids == ["v1", "a0", "a1", "a2", "v2"]
    for c in (desk, back, view):
        await c.close()


async def test_claim_race_has_one_winner(clienta_server, org) -> None:
    a, b = await org.add_user("agent", "A"), await org.add_user("agent", "B")
    guest, welcome = await queued_visitor(clienta_server.ws_url, org)
    conv = welcome["conversation_id"]
    desk_a, _ = await agent(clienta_server.ws_url, a["token"])
    desk_b, _ = await agent(clienta_server.ws_url, b["token"])
    await asyncio.gather(desk_a.send({"t": "claim", "conversation_id": conv}),
                         desk_b.send({"t": "claim", "conversation_id": conv}))
    mode = await guest.expect("mode", mode="agent")
    loser = desk_b if mode["agent"]["name"] == "A" else desk_a
    err = await loser.expect("error", code="conflict")
    assert "another agent" in err["message"]
    # the loser cannot reply in a conversation another agent holds
    await loser.send({"t": "msg", "conversation_id": conv, "id": "sneak", "text": "hi"})
    assert (await loser.expect("error", ref="sneak"))["code"] == "forbidden"
    await guest.drain(0.3)
    assert len(guest.of_type("mode")) == 2  # queued, then exactly one agent
    assert not [f for f in guest.of_type("msg") if f.get("id") == "sneak"]
    for c in (guest, desk_a, desk_b):
        await c.close()


async def test_viewer_reads_but_cannot_act(clienta_server, org) -> None:
    viewer = await org.add_user("viewer", "Vee")
    guest, welcome = await queued_visitor(clienta_server.ws_url, org)
    conv = welcome["conversation_id"]
    look, _ = await agent(clienta_server.ws_url, viewer["token"])
    await look.send({"t": "join", "conversation_id": conv})
    await look.expect("joined")
    for frame in ({"t": "msg", "id": "x", "text": "hi"}, {"t": "claim"}, {"t": "close"},
                  {"t": "note", "id": "y", "text": "n"}):
        await look.send({**frame, "conversation_id": conv})
        assert (await look.expect("error"))["code"] == "forbidden"
    await guest.drain(0.3)
    assert [f["mode"] for f in guest.of_type("mode")] == ["queued"]
    await look.close()
    await guest.close()



async def test_viewer_typing_and_read_are_forbidden(clienta_server, org) -> None:
    """A viewer's typing reached the visitor as an agent's and its read was a database write
    (issue 16): both are refused, and the visitor's first typing and read frames are those
    of the agent who sent them after the viewer."""
    viewer, ploy = await org.add_user("viewer", "Vee"), await org.add_user("agent", "Ploy")
    guest, welcome = await queued_visitor(clienta_server.ws_url, org)
    conv = welcome["conversation_id"]
    look, _ = await agent(clienta_server.ws_url, viewer["token"])
    desk, _ = await agent(clienta_server.ws_url, ploy["token"])
    await look.send({"t": "join", "conversation_id": conv})
    await look.expect("joined")
    await look.send({"t": "typing", "conversation_id": conv, "on": True})
    err = await look.expect("error")
    assert err["code"] == "forbidden" and err["ref"] == conv
    await look.send({"t": "read", "conversation_id": conv, "seq": 2})
    assert (await look.expect("error"))["code"] == "forbidden"
    await desk.send({"t": "typing", "conversation_id": conv, "on": True})
    typing = await guest.expect("typing")
    assert typing["author"]["name"] == "Ploy"
    await desk.send({"t": "read", "conversation_id": conv, "seq": 1})
    assert (await guest.expect("read"))["seq"] == 1
    assert len(guest.of_type("typing")) == 1 and len(guest.of_type("read")) == 1
    for c in (look, desk, guest):
        await c.close()

async def test_agent_of_another_org_cannot_join(clienta_server, org) -> None:
    guest, welcome = await queued_visitor(clienta_server.ws_url, org)
    other = await signup(clienta_server.url, "Other")
    spy = await other.add_user("agent", "Spy")
    desk, hello = await agent(clienta_server.ws_url, spy["token"])
    assert all(c["id"] != welcome["conversation_id"] for c in hello["queue"])
    await desk.send({"t": "join", "conversation_id": welcome["conversation_id"]})
    err = await desk.expect("error")
    assert err["code"] == "not_found" and err["message"] == "conversation not found"
    await desk.send({"t": "claim", "conversation_id": welcome["conversation_id"]})
    assert (await desk.expect("error"))["code"] == "not_found"
    await desk.drain(0.3)
    assert not desk.of_type("msg") and not desk.of_type("joined")
    async with httpx.AsyncClient(base_url=clienta_server.url) as http:
        r = await http.get(f"/v1/conversations/{welcome['conversation_id']}/messages",
                           headers=other.headers())
        assert r.status_code == 404
    await desk.close()
    await guest.close()


async def test_claim_cancels_the_bot_mid_stream(make_server) -> None:
    text = " ".join(f"word{i}" for i in range(200))
    async with FakeOpenAI(reply=text, tps=40) as fake:
        server = make_server({"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url})
        org = await signup(server.url)
        await org.add_document("Refunds", "Refunds are paid within five business days.")
        ploy = await org.add_user("agent", "Ploy")
        guest, welcome = await stored_visitor(server.ws_url, org.site_key)
        conv = welcome["conversation_id"]
        desk, _ = await agent(server.ws_url, ploy["token"])
        await desk.send({"t": "join", "conversation_id": conv})
        await desk.expect("joined")
        await guest.send({"t": "msg", "id": "q", "text": "When are refunds paid?"})
        start = await guest.expect("bot.start", timeout=15)
        await guest.expect("bot.delta")
        await desk.send({"t": "claim", "conversation_id": conv})
        for client in (guest, desk):
            await client.expect("mode", mode="agent")
        await asyncio.sleep(1.0)  # the stream would have gone on at 40 tokens/s
        for client in (guest, desk):
            await client.drain(0.2)
            after = client.frames[client.frames.index(client.of_type("mode")[-1]) + 1:]
            assert not [f for f in after if f.get("t", "").startswith("bot.")
                        or (f.get("t") == "msg" and f["author"]["role"] == "bot")], after
            partial = [f for f in client.of_type("msg") if f.get("stream_id") ==
                       start["stream_id"]]
            assert len(partial) == 1 and partial[0]["interrupted"] is True
            assert text.startswith(partial[0]["text"]) and partial[0]["text"] != text
        await guest.close()
        await desk.close()


@pytest.mark.parametrize(("text", "env"), [
    ("talk to a human please", {}),
    ("ขอคุยกับพนักงานหน่อยค่ะ", {}),
    ("What is the airspeed of an unladen swallow?", {}),  # nothing grounded
])
async def test_handoff_triggers_notify_visitor_and_agents(clienta_server, org, text: str,
                                                          env: dict) -> None:
    ploy = await org.add_user("agent", "Ploy")
    desk, _ = await agent(clienta_server.ws_url, ploy["token"])
    guest, welcome = await visitor(clienta_server.ws_url, org.site_key)
    await guest.send({"t": "msg", "id": "q", "text": text})
    await guest.expect("mode", mode="queued", timeout=15)
    system = [f for f in await guest.drain(0.3) + guest.frames if f.get("t") == "msg"
              and f["author"]["role"] == "system"]
    assert system
    queued = await desk.expect("queue", op="add")
    assert queued["conversation"]["id"] == welcome["conversation_id"]
    await guest.close()
    await desk.close()


async def test_a_thai_visitor_is_answered_in_thai(clienta_server, org) -> None:
    guest, _ = await visitor(clienta_server.ws_url, org.site_key, locale="th")
    await guest.send({"t": "msg", "id": "q", "text": "ขอคุยกับพนักงานหน่อยค่ะ"})
    await guest.expect("mode", mode="queued")
    texts = [f["text"] for f in await guest.drain(0.5) + guest.frames
             if f.get("t") == "msg" and f["author"]["role"] == "system"]
    assert "คุณขอคุยกับพนักงาน เจ้าหน้าที่จะเข้ามาในไม่ช้า" in texts
    assert any(t.startswith("ขณะนี้ไม่มีเจ้าหน้าที่ออนไลน์") for t in texts)
    await guest.close()


async def test_repeated_unresolved_turns_hand_off(make_server) -> None:
    server = make_server({"CLIENTA_MAX_UNRESOLVED_TURNS": "2"})
    org = await signup(server.url)
    await org.add_document("Shipping", "We ship within Thailand in 1-3 business days.")
    guest, _ = await visitor(server.ws_url, org.site_key)
    await guest.send({"t": "msg", "id": "q1", "text": "How many business days to ship within "
                                                      "Thailand?"})
    answer = await guest.expect("msg", timeout=15)
    while answer["author"]["role"] != "bot":
        answer = await guest.expect("msg", timeout=15)
    await guest.send({"t": "msg", "id": "u1", "text": "that did not help"})
    await guest.send({"t": "msg", "id": "u2", "text": "that still doesn't help"})
    mode = await guest.expect("mode", mode="queued", timeout=15)
    assert mode["conversation_id"]
    await guest.close()


async def test_nobody_online_asks_for_email_and_stores_it(clienta_server, org) -> None:
    guest, welcome = await visitor(clienta_server.ws_url, org.site_key)
    await guest.send({"t": "handoff"})
    mode = await guest.expect("mode", mode="queued")
    assert mode["agents_online"] is False
    ask = await guest.expect("msg", ask_email=True)
    assert ask["author"]["role"] == "system"
    await guest.send({"t": "email", "email": "nok@example.com"})
    await guest.expect("msg", followup_email=True)
    async with httpx.AsyncClient(base_url=org.base_url) as http:
        r = await http.get(f"/v1/conversations/{welcome['conversation_id']}",
                           headers=org.headers())
    assert r.json()["followup_email"] == "nok@example.com"
    await guest.close()


async def test_presence_expires_when_the_agents_process_dies(make_server) -> None:
    env = {"CLIENTA_PRESENCE_TTL": "1.5"}
    one, two = make_server(env), make_server(env)
    org = await signup(one.url)
    ploy = await org.add_user("agent", "Ploy")
    desk, _ = await agent(two.ws_url, ploy["token"])
    guest, _ = await visitor(one.ws_url, org.site_key)
    await guest.send({"t": "handoff"})
    assert (await guest.expect("mode", mode="queued"))["agents_online"] is True
    assert desk.ws is not None
    two.kill()
    await asyncio.sleep(2.0)  # one presence TTL: the dead process stopped refreshing
    late, _ = await visitor(one.ws_url, org.site_key)
    await late.send({"t": "handoff"})
    assert (await late.expect("mode", mode="queued"))["agents_online"] is False
    await guest.close()
    await late.close()


async def test_auto_assignment_goes_to_the_least_loaded_agent(clienta_server, org) -> None:
    async with httpx.AsyncClient(base_url=org.base_url) as http:
        r = await http.patch("/v1/org", headers=org.headers(),
                             json={"assignment": "auto", "agent_capacity": 2})
        assert r.json()["assignment"] == "auto"
    busy, free = await org.add_user("agent", "Busy"), await org.add_user("agent", "Free")
    desk_busy, _ = await agent(clienta_server.ws_url, busy["token"])
    first, _ = await visitor(clienta_server.ws_url, org.site_key)
    # Busy is alone: gets the first conversation automatically
    await first.send({"t": "handoff"})
    assert (await first.expect("mode", mode="agent"))["agent"]["name"] == "Busy"
    await desk_busy.expect("assigned")
    desk_free, _ = await agent(clienta_server.ws_url, free["token"])
    second, _ = await visitor(clienta_server.ws_url, org.site_key)
    await second.send({"t": "handoff"})
    assert (await second.expect("mode", mode="agent"))["agent"]["name"] == "Free"
    assert (await desk_free.expect("assigned"))["conversation"]["mode"] == "agent"
    for c in (first, second, desk_busy, desk_free):
        await c.close()


async def test_long_wait_offers_the_bot_without_a_loop(make_server) -> None:
    server = make_server({"CLIENTA_QUEUE_WAIT": "1"})
    org = await signup(server.url)
    guest, _ = await visitor(server.ws_url, org.site_key)
    await guest.send({"t": "handoff"})
    await guest.expect("mode", mode="queued")
    offer = await guest.expect("msg", offer_wait_choice=True, timeout=10)
    assert offer["author"]["role"] == "system"
    await guest.send({"t": "wait", "choice": "bot"})
    await guest.expect("mode", mode="bot")
    # an ungrounded question now gets an honest answer, not another trip to the queue
    await guest.send({"t": "msg", "id": "q", "text": "What is the airspeed of a swallow?"})
    answer = await guest.expect("msg", no_answer=True, timeout=10)
    assert answer["author"]["role"] == "bot"
    await guest.drain(0.5)
    assert [f["mode"] for f in guest.of_type("mode")] == ["queued", "bot"]
    await guest.close()



async def test_the_bots_no_answer_is_in_the_visitors_language(make_server) -> None:
    """Thai visitors got the bot's English 'not in our help content' (issue 16)."""
    server = make_server({"CLIENTA_QUEUE_WAIT": "1"})
    org = await signup(server.url)
    guest, _ = await visitor(server.ws_url, org.site_key, locale="th")
    await guest.send({"t": "handoff"})
    await guest.expect("msg", offer_wait_choice=True, timeout=10)
    await guest.send({"t": "wait", "choice": "bot"})
    await guest.expect("mode", mode="bot")
    await guest.send({"t": "msg", "id": "q", "text": "What is the airspeed of a swallow?"})
    answer = await guest.expect("msg", no_answer=True, timeout=10)
    assert answer["text"] == TEXTS["th"]["no_answer_stay"]
    await guest.close()

async def test_close_then_csat_and_read_receipts(clienta_server, org) -> None:
    ploy = await org.add_user("agent", "Ploy")
    guest, welcome = await queued_visitor(clienta_server.ws_url, org)
    conv = welcome["conversation_id"]
    desk, _ = await agent(clienta_server.ws_url, ploy["token"])
    await guest.send({"t": "csat", "score": 5})
    assert (await guest.expect("error"))["code"] == "forbidden"  # not closed yet
    await desk.send({"t": "claim", "conversation_id": conv})
    await guest.expect("mode", mode="agent")
    await desk.send({"t": "read", "conversation_id": conv, "seq": 2})
    assert (await guest.expect("read"))["seq"] == 2
    await guest.send({"t": "read", "seq": 3})
    assert (await desk.expect("read", author={"role": "visitor"}))["seq"] == 3
    await desk.send({"t": "close", "conversation_id": conv})
    await guest.expect("mode", mode="closed")
    await guest.send({"t": "csat", "score": 4, "comment": "quick"})
    await guest.send({"t": "ping"})
    await guest.expect("pong")
    async with httpx.AsyncClient(base_url=org.base_url) as http:
        r = await http.get(f"/v1/conversations/{conv}", headers=org.headers())
    assert r.json()["csat"] == {"score": 4, "comment": "quick"}
    await guest.close()
    await desk.close()


async def test_transfer_release_and_away(clienta_server, org) -> None:
    a, b = await org.add_user("agent", "Anan"), await org.add_user("agent", "Bee")
    guest, welcome = await queued_visitor(clienta_server.ws_url, org)
    conv = welcome["conversation_id"]
    desk_a, _ = await agent(clienta_server.ws_url, a["token"])
    desk_b, _ = await agent(clienta_server.ws_url, b["token"])
    await desk_a.send({"t": "claim", "conversation_id": conv})
    assert (await guest.expect("mode", mode="agent"))["agent"]["name"] == "Anan"
    await desk_a.send({"t": "transfer", "conversation_id": conv, "user_id": b["user_id"]})
    moved = await guest.expect("mode", mode="agent")
    assert moved["agent"] == {"id": b["user_id"], "name": "Bee"}
    assert (await desk_b.expect("assigned"))["conversation"]["assignee_id"] == b["user_id"]
    note = await guest.expect("msg", author={"role": "system"}, text="Anan transferred you to Bee.")
    assert note["seq"] > 0
    # the old holder can no longer reply; the new one can
    await desk_a.send({"t": "msg", "conversation_id": conv, "id": "a-late", "text": "hi"})
    assert (await desk_a.expect("error", ref="a-late"))["code"] == "forbidden"
    await desk_b.send({"t": "msg", "conversation_id": conv, "id": "b1", "text": "Bee here"})
    await guest.expect("msg", id="b1")
    # release hands the conversation back to the bot
    await desk_b.send({"t": "release", "conversation_id": conv})
    await guest.expect("mode", mode="bot")
    # an agent marked away does not count as online
    for desk in (desk_a, desk_b):
        await desk.send({"t": "away", "on": True})
        await desk.send({"t": "ping"})  # frames of one socket are handled in order
        await desk.expect("pong")
    late, _ = await visitor(clienta_server.ws_url, org.site_key)
    await late.send({"t": "handoff"})
    assert (await late.expect("mode", mode="queued"))["agents_online"] is False
    for c in (guest, late, desk_a, desk_b):
        await c.close()
