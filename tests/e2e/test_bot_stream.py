"""The bot through the OpenAI provider against a fake OpenAI server on 127.0.0.1 speaking
the real SSE `chat.completion.chunk` wire format, inside a real server process."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fakes import FakeOpenAI
from tests.support.api import signup
from tests.support.wsclient import visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")

REFUNDS = ("Refunds are paid back to the original card within five business days after "
           "the returned item arrives at our warehouse.")
QUESTION = "How many business days until refunds are paid back to the original card?"
REPLY = ("Refunds reach your original card within five business days after we receive "
         "the returned item at our warehouse, and we email you when it is done.")


async def start(make_server, fake: FakeOpenAI, **env: str):
    server = make_server({"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url,
                          "CLIENTA_LLM_FIRST_TOKEN_TIMEOUT": "2", "CLIENTA_LLM_TIMEOUT": "10",
                          **env})
    org = await signup(server.url)
    await org.add_document("Refunds", REFUNDS, url="https://shop.example/refunds")
    return server, org


async def stored_messages(org, conversation_id: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=org.base_url) as http:
        r = await http.get(f"/v1/conversations/{conversation_id}/messages",
                           headers=org.headers())
        return r.json()["messages"]


async def test_streamed_answer_is_coalesced_and_stored_as_one_msg(make_server) -> None:
    async with FakeOpenAI(reply=REPLY, tps=300) as fake:
        server, org = await start(make_server, fake)
        client, welcome = await visitor(server.ws_url, org.site_key)
        await client.send({"t": "msg", "id": "q1", "text": QUESTION})
        start_frame = await client.expect("bot.start")
        final = await client.expect("msg", stream_id=start_frame["stream_id"], timeout=20)
        deltas = [f for f in client.frames if f.get("t") == "bot.delta"]
        assert "".join(d["text"] for d in deltas) == REPLY == final["text"]
        offsets = [d["offset"] for d in deltas]
        assert offsets == sorted(offsets) and offsets[0] == 0
        tokens = len(fake.streams[-1].chunks)
        assert 1 < len(deltas) < tokens  # coalesced: fewer frames than tokens
        assert final["author"]["role"] == "bot"
        assert final["sources"][0]["title"] == "Refunds"
        assert final["sources"][0]["url"] == "https://shop.example/refunds"
        body = fake.chat_requests[-1]
        assert body["stream"] is True and body["store"] is False and body["model"] == "gpt-4o"
        assert any("five business days" in m["content"] for m in body["messages"]
                   if m["role"] == "system")
        record = await stored_messages(org, welcome["conversation_id"])
        assert [m["text"] for m in record if m["author"]["role"] == "bot"] == [REPLY]
        await client.close()


@pytest.mark.parametrize("mode", ["cut", "hang", "error"])
async def test_llm_failure_hands_off_to_a_person(make_server, mode: str) -> None:
    async with FakeOpenAI(reply=REPLY, tps=200, mode=mode, cut_after=3, hang_s=30) as fake:
        # local embeddings: only the chat model fails, so this is the chat failure path
        server, org = await start(make_server, fake, CLIENTA_EMBED_MODEL="offline")
        client, welcome = await visitor(server.ws_url, org.site_key)
        await client.send({"t": "msg", "id": "q1", "text": QUESTION})
        await client.expect("mode", mode="queued", timeout=20)
        system = await client.expect("msg", timeout=5)
        while system["author"]["role"] != "system":
            system = await client.expect("msg", timeout=5)
        assert "trouble" in system["text"]
        record = await stored_messages(org, welcome["conversation_id"])
        bot = [m for m in record if m["author"]["role"] == "bot"]
        # a cut stream is never stored as a whole answer
        assert all(m.get("interrupted") for m in bot)
        assert REPLY not in [m["text"] for m in bot]
        log = server.tail(200)
        assert "bot stream failed" in log
        assert "How many business days until refunds" not in log  # no message text in logs
        await client.close()


async def test_resume_mid_stream_gets_a_snapshot(make_server) -> None:
    async with FakeOpenAI(reply=REPLY, tps=15) as fake:
        server, org = await start(make_server, fake)
        client, welcome = await visitor(server.ws_url, org.site_key)
        await client.send({"t": "msg", "id": "q1", "text": QUESTION})
        start_frame = await client.expect("bot.start")
        await client.expect("bot.delta")
        seq = next(f["seq"] for f in client.of_type("ack") if f["id"] == "q1")
        await client.close()
        await asyncio.sleep(0.3)  # let the stream move on while nobody watches
        back, _ = await visitor(server.ws_url, org.site_key,
                                visitor_token=welcome["visitor_token"],
                                conversation_id=welcome["conversation_id"], last_seq=seq)
        snap = await back.expect("bot.snapshot")
        assert snap["stream_id"] == start_frame["stream_id"]
        assert snap["text"] and REPLY.startswith(snap["text"])
        final = await back.expect("msg", stream_id=start_frame["stream_id"], timeout=20)
        assert final["text"] == REPLY
        await back.close()


async def test_visitor_message_mid_stream_cancels_and_answers_the_new_one(make_server) -> None:
    async with FakeOpenAI(reply=REPLY, tps=15) as fake:
        server, org = await start(make_server, fake)
        client, _ = await visitor(server.ws_url, org.site_key)
        await client.send({"t": "msg", "id": "q1", "text": QUESTION})
        first = await client.expect("bot.start")
        await client.expect("bot.delta")
        fake.configure(tps=500)
        await client.send({"t": "msg", "id": "q2", "text": "And refunds to a card?"})
        interrupted = await client.expect("msg", stream_id=first["stream_id"], timeout=10)
        assert interrupted.get("interrupted") is True
        assert REPLY.startswith(interrupted["text"]) and interrupted["text"] != REPLY
        second = await client.expect("bot.start")
        assert second["stream_id"] != first["stream_id"]
        final = await client.expect("msg", stream_id=second["stream_id"], timeout=20)
        assert final["text"] == REPLY
        # the new answer saw the whole conversation as context
        users = [m["content"] for m in fake.chat_requests[-1]["messages"] if m["role"] == "user"]
        joined = " ".join(users)
        assert "until refunds are paid back" in joined and "And refunds to a card?" in joined
        await client.close()


async def resume_and_expect_answer(server, org, welcome: dict, seq: int):
    """The visitor comes back on `server` after question `seq`; the bot's reply follows."""
    back, _ = await visitor(server.ws_url, org.site_key,
                            visitor_token=welcome["visitor_token"],
                            conversation_id=welcome["conversation_id"], last_seq=seq)
    final = await back.expect("msg", timeout=20)
    while final["author"]["role"] != "bot":
        final = await back.expect("msg", timeout=20)
    assert final["text"] == REPLY and final["seq"] == seq + 1
    return back


async def test_an_answer_cut_off_in_retrieval_leaves_no_stream_behind_and_is_answered(
        make_server) -> None:
    # the process stops while the question's embedding is still out (before bot.start):
    # the answer is dropped, and nothing may claim a stream is running for it
    async with FakeOpenAI(reply=REPLY, tps=300, hang_s=30) as fake:
        first, org = await start(make_server, fake)
        asked = len(fake.embedding_requests)
        fake.configure(mode="hang")
        client, welcome = await visitor(first.ws_url, org.site_key)
        await client.send({"t": "msg", "id": "q1", "text": QUESTION})
        seq = (await client.expect("ack", id="q1"))["seq"]
        while len(fake.embedding_requests) == asked:  # noqa: ASYNC110  # the fake's log
            await asyncio.sleep(0.01)
        await asyncio.to_thread(first.stop)
        fake.configure(mode="normal")
        second = make_server({"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url})
        back = await resume_and_expect_answer(second, org, welcome, seq)
        # the stream cut off in retrieval was never offered as a live one to resume
        assert [f["t"] for f in back.frames if f["t"].startswith("bot.")][:1] == ["bot.start"]
        await back.close()
        await client.close()


async def test_a_question_whose_answer_a_restart_cut_off_is_answered_on_resume(
        make_server) -> None:
    # the process that stored (and acked) the question stops before the model answered
    async with FakeOpenAI(reply=REPLY, tps=300, hang_s=30) as fake:
        first, org = await start(make_server, fake, CLIENTA_LLM_FIRST_TOKEN_TIMEOUT="30")
        fake.configure(mode="hang")  # the document is indexed; now the model stalls
        client, welcome = await visitor(first.ws_url, org.site_key)
        await client.send({"t": "msg", "id": "q1", "text": QUESTION})
        await client.expect("bot.start")
        seq = (await client.expect("ack", id="q1"))["seq"]
        await asyncio.to_thread(first.stop)
        fake.configure(mode="normal")
        second = make_server({"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url})
        async with httpx.AsyncClient(base_url=second.url) as http:
            path = f"/v1/conversations/{welcome['conversation_id']}/messages"
            record = (await http.get(path, headers=org.headers())).json()["messages"]
        assert record[-1]["author"]["role"] == "visitor"  # stored and acked, never answered
        # nothing is resent (the question was acked): coming back is enough
        back = await resume_and_expect_answer(second, org, welcome, seq)
        # the widget's resend of what it saw acked late is only acked: stored once
        await back.send({"t": "msg", "id": "q1", "text": QUESTION})
        assert (await back.expect("ack", id="q1"))["seq"] == seq
        assert len(fake.chat_requests) == 2  # the cut-off one and the answer
        await back.close()
        await client.close()
