"""The visitor websocket against a real server process: the contract's guarantees."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import uuid

import httpx
import pytest

from tests.support.api import signup
from tests.support.wsclient import JSON, MSGPACK, WsClient, stored_visitor, visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")


def raw_ws_connect(port: int, path: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 101 " in head
    return sock


def raw_ws_send(sock: socket.socket, text: str) -> None:
    payload = text.encode()
    mask = os.urandom(4)
    assert len(payload) < 65536
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    length = (bytes([0x80 | len(payload)]) if len(payload) < 126
              else bytes([0x80 | 126]) + len(payload).to_bytes(2, "big"))
    sock.sendall(bytes([0x81]) + length + mask + masked)


def raw_ws_read_until_closed(sock: socket.socket, timeout: float) -> bool:
    """Read everything; True once the server closed or reset the connection."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


async def history(org, conversation_id: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=org.base_url) as client:
        r = await client.get(f"/v1/conversations/{conversation_id}/messages",
                             headers=org.headers())
        r.raise_for_status()
        return r.json()["messages"]


@pytest.mark.parametrize("codec", [JSON, MSGPACK])
async def test_persist_before_ack_and_gap_free_seq(clienta_server, org, codec) -> None:
    client, welcome = await visitor(clienta_server.ws_url, org.site_key, codec)
    assert welcome["mode"] == "bot" and welcome["last_seq"] == 0
    assert welcome["visitor_token"].startswith("v1.")
    await client.send({"t": "msg", "id": "m1", "text": "talk to a human"})
    ack = await client.expect("ack", id="m1")
    # the ack means stored: the record has it already
    stored = await history(org, welcome["conversation_id"])
    assert stored[0]["seq"] == ack["seq"] == 1
    assert stored[0]["text"] == "talk to a human" and stored[0]["author"]["role"] == "visitor"
    await client.expect("mode", mode="queued")
    for i in range(2, 5):
        await client.send({"t": "msg", "id": f"m{i}", "text": f"message {i}"})
        await client.expect("ack", id=f"m{i}")
    seqs = [m["seq"] for m in await history(org, welcome["conversation_id"])]
    assert seqs == list(range(1, len(seqs) + 1))  # one sequence, no gaps
    await client.close()


async def test_opening_the_widget_stores_nothing_until_the_first_message(clienta_server,
                                                                         org) -> None:
    client, welcome = await visitor(clienta_server.ws_url, org.site_key)
    conv = welcome["conversation_id"]
    async with httpx.AsyncClient(base_url=org.base_url, headers=org.headers()) as http:
        assert (await http.get(f"/v1/conversations/{conv}/messages")).status_code == 404
    # a visitor who never wrote comes back: still nothing stored, a fresh id to write to
    await client.close()
    client, again = await visitor(clienta_server.ws_url, org.site_key,
                                  visitor_token=welcome["visitor_token"], conversation_id=conv)
    assert again["last_seq"] == 0 and again["mode"] == "bot"
    conv = again["conversation_id"]
    await client.send({"t": "msg", "id": "m1", "text": "talk to a human"})
    assert (await client.expect("ack", id="m1"))["seq"] == 1
    await client.expect("mode", mode="queued")
    history_seqs = [m["seq"] for m in await history(org, conv)]
    assert history_seqs[0] == 1
    await client.close()
    # from then on the same visitor resumes the same conversation
    back, resumed = await visitor(clienta_server.ws_url, org.site_key,
                                  visitor_token=again["visitor_token"])
    assert resumed["conversation_id"] == conv and resumed["mode"] == "queued"
    await back.close()


async def test_resuming_someone_elses_conversation_shows_nothing_of_it(clienta_server,
                                                                       org) -> None:
    owner, mine = await visitor(clienta_server.ws_url, org.site_key)
    await owner.send({"t": "msg", "id": "m1", "text": "my private order number is 42"})
    await owner.expect("ack", id="m1")
    stranger, theirs = await stored_visitor(clienta_server.ws_url, org.site_key)
    await stranger.close()
    # the stranger's own token, the owner's conversation id: the resume path joins the
    # requested room before it knows the owner, and must let nothing of it through
    spy, welcome = await visitor(clienta_server.ws_url, org.site_key,
                                 visitor_token=theirs["visitor_token"],
                                 conversation_id=mine["conversation_id"], last_seq=0)
    assert welcome["conversation_id"] == theirs["conversation_id"]
    await owner.send({"t": "msg", "id": "m2", "text": "and my address"})
    await owner.expect("ack", id="m2")
    await spy.send({"t": "ping"})
    await spy.expect("pong")
    assert not [f for f in spy.frames if f.get("conversation_id") == mine["conversation_id"]]
    await spy.close()
    await owner.close()


async def test_same_client_id_stores_one_message(clienta_server, org) -> None:
    client, welcome = await visitor(clienta_server.ws_url, org.site_key)
    await client.send({"t": "handoff"})
    await client.expect("mode", mode="queued")
    await client.send({"t": "msg", "id": "dup-1", "text": "only once"})
    first = await client.expect("ack", id="dup-1")
    await client.send({"t": "msg", "id": "dup-1", "text": "only once"})
    second = await client.expect("ack", id="dup-1")
    assert first["seq"] == second["seq"]
    texts = [m["text"] for m in await history(org, welcome["conversation_id"])]
    assert texts.count("only once") == 1
    await client.close()


async def test_resume_gets_exactly_the_missed_events(clienta_server, org) -> None:
    client, welcome = await visitor(clienta_server.ws_url, org.site_key)
    await client.send({"t": "handoff"})
    await client.expect("mode", mode="queued")
    await client.send({"t": "msg", "id": "a", "text": "first"})
    seen = (await client.expect("ack", id="a"))["seq"]
    await client.close()
    # a second tab of the same visitor writes while the first is away
    token = welcome["visitor_token"]
    other, _ = await visitor(clienta_server.ws_url, org.site_key, visitor_token=token,
                             conversation_id=welcome["conversation_id"], last_seq=seen)
    for i in range(3):
        await other.send({"t": "msg", "id": f"b{i}", "text": f"missed {i}"})
        await other.expect("ack", id=f"b{i}")
    await other.close()
    back, again = await visitor(clienta_server.ws_url, org.site_key, visitor_token=token,
                                conversation_id=welcome["conversation_id"], last_seq=seen)
    assert again["conversation_id"] == welcome["conversation_id"]
    missed = [await back.expect("msg") for _ in range(3)]
    assert [m["text"] for m in missed] == ["missed 0", "missed 1", "missed 2"]
    assert [m["seq"] for m in missed] == list(range(seen + 1, seen + 4))
    extra = [f for f in await back.drain(0.5) if f.get("t") == "msg"]
    assert extra == []  # nothing before last_seq, nothing twice
    await back.close()


async def test_bad_frames_get_errors_and_the_connection_stays(clienta_server, org) -> None:
    client, _ = await visitor(clienta_server.ws_url, org.site_key)
    await client.send_raw("{not json")
    assert (await client.expect("error"))["code"] == "bad_frame"
    await client.send({"t": "msg", "id": "x", "text": "y" * 4001})
    err = await client.expect("error")
    assert err["code"] == "too_long" and err["ref"] == "x"
    await client.send({"t": "teleport"})
    assert (await client.expect("error"))["code"] == "unknown_type"
    await client.send({"t": "ping"})
    await client.expect("pong")
    await client.close()


async def test_repeated_bad_frames_close_with_policy_code(clienta_server, org) -> None:
    client, _ = await visitor(clienta_server.ws_url, org.site_key)
    for _ in range(12):
        await client.send_raw("garbage")
    assert await client.wait_closed() == 4008


async def test_oversize_frame_closes_with_1009(clienta_server, org) -> None:
    client, _ = await visitor(clienta_server.ws_url, org.site_key)
    await client.send_raw(json.dumps({"t": "msg", "id": "big", "text": "z" * 70000}))
    assert await client.wait_closed() == 1009


async def test_flooding_is_rate_limited(clienta_server, org) -> None:
    client, _ = await visitor(clienta_server.ws_url, org.site_key)
    await client.send({"t": "handoff"})
    for i in range(40):
        await client.send({"t": "typing", "on": bool(i % 2)})
    assert (await client.expect("error", code="rate_limited"))["message"]
    await client.close()


async def test_unknown_site_key_and_foreign_token_are_refused(clienta_server, org) -> None:
    bad = await WsClient(f"{clienta_server.ws_url}/v1/ws/visitor?site_key=nope").connect()
    assert await bad.wait_closed() == 4003
    other = await signup(clienta_server.url, "Other")
    client, welcome = await visitor(clienta_server.ws_url, other.site_key)
    await client.close()
    thief = await WsClient(
        f"{clienta_server.ws_url}/v1/ws/visitor?site_key={org.site_key}").connect()
    await thief.send({"t": "hello", "visitor_token": welcome["visitor_token"]})
    assert await thief.wait_closed() == 4001
    assert not thief.of_type("welcome")


async def test_allowed_origins_are_enforced(clienta_server, org) -> None:
    async with httpx.AsyncClient(base_url=org.base_url) as http:
        r = await http.patch("/v1/org", headers=org.headers(),
                             json={"allowed_origins": ["https://shop.example"]})
        assert r.status_code == 200
    url = f"{clienta_server.ws_url}/v1/ws/visitor?site_key={org.site_key}"
    evil = await WsClient(url, origin="https://evil.example").connect()
    assert await evil.wait_closed() == 4003
    good = await WsClient(url, origin="https://shop.example").connect()
    await good.send({"t": "hello"})
    await good.expect("welcome")
    await good.close()


async def test_two_processes_resume_on_the_other_misses_nothing(make_server) -> None:
    first, second = make_server(), make_server()
    org = await signup(first.url)
    client, welcome = await visitor(first.ws_url, org.site_key)
    await client.send({"t": "handoff"})
    await client.expect("mode", mode="queued")
    await client.send({"t": "msg", "id": "p1", "text": "on process one"})
    seen = (await client.expect("ack", id="p1"))["seq"]
    # a second tab on process two is live in the same room
    tab, _ = await visitor(second.ws_url, org.site_key, visitor_token=welcome["visitor_token"],
                           conversation_id=welcome["conversation_id"], last_seq=seen)
    await client.send({"t": "msg", "id": "p2", "text": "fan-out across processes"})
    assert (await tab.expect("msg", id="p2"))["text"] == "fan-out across processes"
    await client.close()
    await tab.send({"t": "msg", "id": "p3", "text": "while tab one is away"})
    await tab.expect("ack", id="p3")
    await tab.close()
    back, _ = await visitor(second.ws_url, org.site_key, visitor_token=welcome["visitor_token"],
                            conversation_id=welcome["conversation_id"], last_seq=seen)
    got = [await back.expect("msg"), await back.expect("msg")]
    assert [m["id"] for m in got] == ["p2", "p3"]
    await back.close()


def stored_by_visitors(metrics: str) -> float:
    line = next(x for x in metrics.splitlines()
                if x.startswith('clienta_messages_stored_total{author="visitor"}'))
    return float(line.rsplit(" ", 1)[1])


async def test_health_ready_and_metrics(clienta_server, org) -> None:
    async with httpx.AsyncClient(base_url=clienta_server.url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = (await http.get("/readyz")).json()
        assert ready["postgres"] and ready["redis"]
        text = (await http.get("/metrics", headers=clienta_server.metrics_headers)).text
        for name in ("clienta_open_connections", "clienta_frames_in_total",
                     "clienta_messages_stored_total", "clienta_bot_time_to_first_token_seconds",
                     "clienta_bot_stream_duration_seconds", "clienta_redis_listener_reconnects"):
            assert name in text
        # a stored visitor message is counted
        client, _ = await visitor(clienta_server.ws_url, org.site_key)
        await client.send({"t": "handoff"})  # a person's turn: no bot answer to count
        await client.expect("mode", mode="queued")
        await client.send({"t": "msg", "id": "counted", "text": "count me"})
        await client.expect("ack", id="counted")
        after = (await http.get("/metrics", headers=clienta_server.metrics_headers)).text
        assert stored_by_visitors(after) == stored_by_visitors(text) + 1
        await client.close()


async def test_http_errors_have_the_contract_shape(clienta_server) -> None:
    async with httpx.AsyncClient(base_url=clienta_server.url) as http:
        r = await http.post("/v1/login", json={"email": "nobody@x.io", "password": "whatever1"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = await http.post("/v1/signup", content=b"[")
        assert r.status_code == 400 and set(r.json()["error"]) == {"code", "message"}
        r = await http.get(f"/v1/conversations/{uuid.uuid4()}/messages")
        assert r.status_code == 401


async def test_slow_consumer_is_cut_off_and_the_room_keeps_going(make_server) -> None:
    server = make_server({"CLIENTA_OUTBOX_MAX_BYTES": "65536", "CLIENTA_MSG_RATE": "100000",
                          "CLIENTA_MSG_BURST": "100000", "CLIENTA_FRAME_RATE": "100000",
                          "CLIENTA_FRAME_BURST": "100000",
                          "CLIENTA_QUOTA_VISITOR_MESSAGES": "0"})
    org = await signup(server.url)
    fast, welcome = await visitor(server.ws_url, org.site_key)
    await fast.send({"t": "handoff"})
    await fast.expect("mode", mode="queued")
    # a second tab that never reads: a raw socket with a tiny receive window
    slow = raw_ws_connect(server.port, f"/v1/ws/visitor?site_key={org.site_key}")
    raw_ws_send(slow, json.dumps({"t": "hello", "visitor_token": welcome["visitor_token"],
                                  "conversation_id": welcome["conversation_id"]}))
    text = "x" * 3900
    n = 1500
    for i in range(n):
        await fast.send({"t": "msg", "id": f"f{i}", "text": text})
    for i in range(n):
        await fast.expect("ack", id=f"f{i}", timeout=30)
    echoed = {f["id"] for f in fast.of_type("msg") if f.get("id", "").startswith("f")}
    while len(echoed) < n:
        frame = await fast.expect("msg", timeout=30)
        echoed.add(frame.get("id"))
    assert len(echoed) == n  # the reading member got everything
    # the slow one was cut: its close frame (1012, reconnect) is queued behind the data it
    # never read, then the socket is aborted: reading it now ends in a close or a reset
    assert await asyncio.to_thread(raw_ws_read_until_closed, slow, 30.0)
    async with httpx.AsyncClient(base_url=server.url) as http:
        metrics = (await http.get("/metrics", headers=server.metrics_headers)).text
    assert "clienta_slow_consumers_total 1.0" in metrics
    await fast.close()
