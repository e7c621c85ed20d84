"""Limits per visitor, per address and per site key hold across sockets and processes
(counted in the session's one Redis), and one forced re-index runs per organisation."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import websockets

from tests.fakes import FakeOpenAI
from tests.support.api import OrgHandle, signup
from tests.support.wsclient import JSON, WsClient, stored_visitor, visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def outcomes(client: WsClient, ids: list[str], timeout: float = 15.0) -> dict[str, str]:
    """id -> "ack" or the error code it was answered with, once every id is answered."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = {f["id"]: "ack" for f in client.of_type("ack") if f.get("id") in ids}
        got |= {f["ref"]: f["code"] for f in client.of_type("error") if f.get("ref") in ids}
        if len(got) == len(ids) or loop.time() > deadline:
            return got
        await client.drain(0.1)


async def visitor_from(server_ws_url: str, site_key: str, address: str,
                       **hello: Any) -> tuple[WsClient, dict[str, Any]]:
    """A visitor whose socket a trusted proxy says comes from `address`."""
    client = WsClient(f"{server_ws_url}/v1/ws/visitor?site_key={site_key}")
    client.ws = await websockets.connect(client.url, subprotocols=[JSON],
                                         additional_headers={"X-Forwarded-For": address})
    await client.send({"t": "hello", **hello})
    return client, await client.expect("welcome")


async def visitor_messages(org: OrgHandle, conversation_id: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=org.base_url) as http:
        r = await http.get(f"/v1/conversations/{conversation_id}/messages",
                           headers=org.headers())
        r.raise_for_status()
    return [m for m in r.json()["messages"] if m["author"]["role"] == "visitor"]


async def conversation_count(org: OrgHandle) -> int:
    async with httpx.AsyncClient(base_url=org.base_url) as http:
        r = await http.get("/v1/conversations", params={"limit": 200}, headers=org.headers())
        r.raise_for_status()
    return len(r.json()["conversations"])


async def flood(client: WsClient, frames: list[dict[str, Any]]) -> None:
    """Send until done or until the server has closed the socket."""
    try:
        for frame in frames:
            await client.send(frame)
    except websockets.ConnectionClosed:
        pass


def fake_address() -> str:
    return f"198.51.100.{uuid.uuid4().int % 250 + 1}"  # TEST-NET-2, one per test run


async def test_parallel_sockets_share_one_visitors_message_quota(make_server) -> None:
    # 11: the `identify` that stores the conversation, then 10 messages
    server = make_server({"CLIENTA_QUOTA_VISITOR_MESSAGES": "11/60"})
    org = await signup(server.url)
    first, welcome = await stored_visitor(server.ws_url, org.site_key)
    conv = welcome["conversation_id"]
    resume = {"visitor_token": welcome["visitor_token"], "conversation_id": conv}
    others = [(await visitor(server.ws_url, org.site_key, **resume))[0] for _ in range(2)]
    sockets = [first, *others]
    # 8 a socket: under each socket's own burst (20), 24 in all against the visitor's 10
    sent = {i: [f"s{i}m{n}" for n in range(8)] for i in range(3)}
    for n in range(8):
        for i, sock in enumerate(sockets):
            await sock.send({"t": "msg", "id": sent[i][n], "text": f"question {i} {n}"})
    answers: dict[str, str] = {}
    for i, sock in enumerate(sockets):
        answers |= await outcomes(sock, sent[i])
    assert len(answers) == 24
    assert sorted(answers.values()).count("ack") == 10
    assert sorted(answers.values()).count("rate_limited") == 14
    refused = [f for s in sockets for f in s.of_type("error")]
    assert all(f["retry_after_ms"] > 0 for f in refused)
    stored = await visitor_messages(org, conv)
    assert sorted(m["id"] for m in stored) == sorted(k for k, v in answers.items() if v == "ack")
    for sock in sockets:
        await sock.close()


async def test_two_processes_count_one_visitor_together(make_server) -> None:
    env = {"CLIENTA_QUOTA_VISITOR_MESSAGES": "7/60"}  # `identify`, then 6 messages
    one, two = make_server(env), make_server(env)
    org = await signup(one.url)
    a, welcome = await stored_visitor(one.ws_url, org.site_key)
    conv = welcome["conversation_id"]
    b, _ = await visitor(two.ws_url, org.site_key, visitor_token=welcome["visitor_token"],
                         conversation_id=conv)
    ids = {a: [f"a{n}" for n in range(5)], b: [f"b{n}" for n in range(5)]}
    for n in range(5):
        for sock in (a, b):
            await sock.send({"t": "msg", "id": ids[sock][n], "text": f"hello {n}"})
    answers = await outcomes(a, ids[a]) | await outcomes(b, ids[b])
    assert list(answers.values()).count("ack") == 6
    assert list(answers.values()).count("rate_limited") == 4
    assert len(await visitor_messages(org, conv)) == 6
    await a.close()
    await b.close()


async def test_a_read_flood_writes_only_the_quota_and_is_closed(make_server, db) -> None:
    # the socket's own buckets opened wide: what stops the flood here is the visitor's quota
    server = make_server({"CLIENTA_QUOTA_VISITOR_FRAMES": "20/60",
                          "CLIENTA_FRAME_BURST": "10000", "CLIENTA_FRAME_RATE": "10000"})
    org = await signup(server.url)
    client, welcome = await stored_visitor(server.ws_url, org.site_key)
    await flood(client, [{"t": "read", "seq": seq} for seq in range(1, 301)])
    # far past the quota after being told to slow down: a flood, closed
    assert await client.wait_closed(15) == 4008
    assert client.of_type("error")[0]["code"] == "rate_limited"
    async with db.unscoped() as conn:
        marker = await conn.fetchval("SELECT visitor_read_seq FROM conversations WHERE id = $1",
                                     uuid.UUID(welcome["conversation_id"]))
    # reads are written in order: the highest stored is the last one the quota let through
    assert marker == 20


async def test_a_ping_flood_is_refused_by_the_socket_alone(clienta_server, org) -> None:
    client, _ = await visitor(clienta_server.ws_url, org.site_key)
    await flood(client, [{"t": "ping"}] * 200)
    assert await client.wait_closed(15) == 4008
    assert 0 < len(client.of_type("pong")) < 200
    assert client.of_type("error")[0]["code"] == "rate_limited"


async def test_conversations_and_sockets_per_address_and_per_site_key(make_server) -> None:
    server = make_server({"CLIENTA_TRUSTED_PROXIES": "127.0.0.1",
                          "CLIENTA_QUOTA_IP_SOCKETS": "25/60",
                          "CLIENTA_QUOTA_IP_CONVERSATIONS": "5/60",
                          "CLIENTA_QUOTA_SITE_CONVERSATIONS": "8/60"})
    org = await signup(server.url)
    address = fake_address()
    clients = [await visitor_from(server.ws_url, org.site_key, address) for _ in range(20)]
    for n, (client, _) in enumerate(clients):
        await client.send({"t": "msg", "id": f"c{n}", "text": "new chat"})
    answers = {}
    for n, (client, _) in enumerate(clients):
        answers |= await outcomes(client, [f"c{n}"])
    assert list(answers.values()).count("ack") == 5
    assert list(answers.values()).count("rate_limited") == 15
    assert await conversation_count(org) == 5
    # a refused visitor's conversation was not stored: asking again is refused again
    refused = next(c for n, (c, _) in enumerate(clients) if answers[f"c{n}"] != "ack")
    await refused.send({"t": "handoff"})
    assert (await refused.expect("error", code="rate_limited"))["message"]
    assert await conversation_count(org) == 5
    # from elsewhere the site still takes new conversations, up to its own quota (8)
    elsewhere = [await visitor_from(server.ws_url, org.site_key, f"203.0.113.{n}")
                 for n in range(1, 6)]
    for n, (client, _) in enumerate(elsewhere):
        await client.send({"t": "msg", "id": f"e{n}", "text": "new chat"})
    more = {}
    for n, (client, _) in enumerate(elsewhere):
        more |= await outcomes(client, [f"e{n}"])
    assert list(more.values()).count("ack") == 3
    assert await conversation_count(org) == 8
    # sockets from one address: 20 opened above, 5 more pass, then the socket is refused
    extra = [await visitor_from(server.ws_url, org.site_key, address) for _ in range(5)]
    late = WsClient(f"{server.ws_url}/v1/ws/visitor?site_key={org.site_key}")
    late.ws = await websockets.connect(late.url, subprotocols=[JSON],
                                       additional_headers={"X-Forwarded-For": address})
    assert await late.wait_closed() == 4008
    assert late.of_type("error")[0]["code"] == "rate_limited"
    for client, _ in [*clients, *elsewhere, *extra]:
        await client.close()


async def test_one_forced_reindex_per_org_at_a_time(make_server) -> None:
    async with FakeOpenAI() as fake:
        env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url}
        one, two = make_server(env), make_server(env)
        org = await signup(one.url)
        await org.add_document("Refunds", "Refunds are paid within five business days.")
        before = len(fake.embedding_requests)
        fake.configure(mode="hang", hang_s=10.0)  # the re-index waits on its embeddings
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(f"{one.url}/v1/kb/reindex?force=1", headers=org.headers())
            assert r.status_code == 202
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while len(fake.embedding_requests) == before:  # it is running: the lock is held
                assert loop.time() < deadline, "the re-index never asked for embeddings"
                await asyncio.sleep(0.05)
            for server in (one, two):  # on this process and on any other
                r = await http.post(f"{server.url}/v1/kb/reindex?force=1",
                                    headers=org.headers())
                assert r.status_code == 409
                assert r.json()["error"]["code"] == "conflict"
            fake.configure(mode="normal")  # the hung request fails, the retry succeeds
            deadline = loop.time() + 45
            while True:  # once the first is done, another may start
                r = await http.post(f"{two.url}/v1/kb/reindex?force=1",
                                    headers=org.headers())
                if r.status_code == 202:
                    break
                assert r.status_code == 409 and loop.time() < deadline
                await asyncio.sleep(0.2)
