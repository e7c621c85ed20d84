"""Hostile frames against a real server: each is answered with `error bad_frame` and the
session goes on; a burst of questions leaves no unhandled exception in the server's log."""

from __future__ import annotations

import msgpack
import pytest

from server.embedded import EmbeddedRedis
from tests.support.api import signup
from tests.support.wsclient import JSON, MSGPACK, agent, stored_visitor, visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")

DEEP = 30_000  # as deep as fits in a frame (64 KiB: larger ones close with 1009)
CONV = "6f1c7d3e-8a5b-4c2d-9e0f-1a2b3c4d5e6f"

# raw JSON text: a lone surrogate can only be written as an escape, and json.dumps would
# refuse neither, but spelling them out keeps the bytes on the wire obvious
JSON_POISON = {
    "nested-array": '{"t":"msg","id":"n1","text":"hi","x":' + "[" * DEEP + "]" * DEEP + "}",
    "nested-object": '{"t":' * (DEEP // 3) + '"msg"' + "}" * (DEEP // 3),
    "nul-text": '{"t":"msg","id":"p1","text":"a\\u0000b"}',
    "surrogate-text": '{"t":"msg","id":"p2","text":"a\\ud800b"}',
    "low-surrogate-text": '{"t":"msg","id":"p3","text":"\\udfffb"}',
    "nul-id": '{"t":"msg","id":"p\\u0000","text":"hi"}',
    "surrogate-id": '{"t":"msg","id":"p\\ud83d","text":"hi"}',
    "nul-email": '{"t":"email","email":"a\\u0000@b.co"}',
    "surrogate-email": '{"t":"email","email":"a\\udc00@b.co"}',
    "nul-name": '{"t":"identify","name":"N\\u0000k"}',
    "surrogate-name": '{"t":"identify","name":"N\\ud800k"}',
    "nul-locale": '{"t":"hello","locale":"t\\u0000h"}',
    "surrogate-comment": '{"t":"csat","score":5,"comment":"\\ud800"}',
    "nul-choice": '{"t":"wait","choice":"k\\u0000"}',
    "huge-seq": '{"t":"read","seq":' + "9" * 30 + "}",
    "bigint-seq": '{"t":"read","seq":9223372036854775808}',
    "huge-score": '{"t":"csat","score":' + "9" * 40 + "}",
}
MSGPACK_POISON = {
    # a nested value inside a valid frame map: its fourth entry is nested DEEP arrays deep
    "nested-array": (b"\x84\xa1t\xa3msg\xa2id\xa2n1\xa4text\xa2hi\xa1x"
                     + b"\x91" * DEEP + b"\xc0"),
    "nested-map": b"\x81\xa1t" * (DEEP // 2) + b"\xc0",
    "nul-text": msgpack.packb({"t": "msg", "id": "p1", "text": "a\x00b"}),
    "nul-id": msgpack.packb({"t": "msg", "id": "p\x00", "text": "hi"}),
    "surrogate-bytes": b"\x83\xa1t\xa3msg\xa2id\xa2p2\xa4text\xa3\xed\xa0\x80",
    "nul-email": msgpack.packb({"t": "email", "email": "a\x00@b.co"}),
    "huge-seq": msgpack.packb({"t": "read", "seq": 2**64 - 1}),
}


async def _poisoned_frames_are_bad_frames(server, org, codec: str,
                                          poison: dict[str, str | bytes]) -> None:
    client, _ = await stored_visitor(server.ws_url, org.site_key, codec)
    for i, (name, data) in enumerate(poison.items()):
        await client.send_raw(data)
        error = await client.expect("error")
        assert error["code"] == "bad_frame", (name, error)
        # the session goes on: a normal message is stored and acked
        await client.send({"t": "msg", "id": f"ok-{i}", "text": f"still here {i}"})
        await client.expect("ack", id=f"ok-{i}")
        if i % 8 == 7:  # a fresh socket before the bad-frame budget (10) closes this one
            await client.close()
            client, _ = await stored_visitor(server.ws_url, org.site_key, codec)
    await client.close()
    server.assert_no_unhandled()


async def test_poisoned_json_frames_get_bad_frame_and_the_socket_stays(clienta_server,
                                                                       org) -> None:
    await _poisoned_frames_are_bad_frames(clienta_server, org, JSON, JSON_POISON)


async def test_poisoned_msgpack_frames_get_bad_frame_and_the_socket_stays(clienta_server,
                                                                          org) -> None:
    await _poisoned_frames_are_bad_frames(clienta_server, org, MSGPACK, MSGPACK_POISON)


async def test_a_burst_of_questions_leaves_no_unhandled_exception(clienta_server,
                                                                  org) -> None:
    await org.add_document("Refunds", "Refunds are paid back to the original card within "
                           "five business days after the returned item arrives.")
    client, _ = await visitor(clienta_server.ws_url, org.site_key)
    for i in range(20):  # the rate limit's burst: every one is taken
        await client.send({"t": "msg", "id": f"q{i}",
                           "text": f"When are refunds paid back to my card? ({i})"})
    for i in range(20):
        await client.expect("ack", id=f"q{i}")
    # every question but the last is cut by the next; the last one is answered
    answer = await client.expect("msg", author={"role": "bot"}, timeout=30)
    while answer.get("interrupted"):
        answer = await client.expect("msg", author={"role": "bot"}, timeout=30)
    await client.send({"t": "ping"})
    await client.expect("pong")
    await client.close()
    clienta_server.assert_no_unhandled()


async def test_a_frame_that_fails_on_a_dependency_keeps_the_session(make_server) -> None:
    # an agent's `away` writes its presence to Redis: with Redis gone, that one frame is
    # answered `unavailable` and the socket stays (it used to close with 1012, and a
    # client told to reconnect at once would resend the same frame)
    redis = EmbeddedRedis()
    redis.start()
    try:
        server = make_server({"REDIS_URL": redis.url})
        org = await signup(server.url)
        desk, _ = await agent(server.ws_url, org.owner_token)
        redis.stop()
        await desk.send({"t": "away", "on": True})
        assert (await desk.expect("error"))["code"] == "unavailable"
        await desk.send({"t": "ping"})
        await desk.expect("pong")
        assert desk.close_code is None
        await desk.close()
    finally:
        redis.stop()
