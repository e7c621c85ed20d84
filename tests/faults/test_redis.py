"""Redis restarted, paused, and down for a while, with clients connected to two processes:
service degrades (acks and same-process delivery go on), recovers without a restart, and
cross-process delivery catches up; nothing is lost or stored twice (tests/faults/invariants).
"""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from server.embedded import EmbeddedRedis
from tests.faults.invariants import View, check_all
from tests.support.api import signup
from tests.support.wsclient import visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def ready(url: str) -> tuple[int, dict]:
    async with httpx.AsyncClient(base_url=url) as http:
        r = await http.get("/readyz")
        return r.status_code, r.json()


async def wait_ready(url: str, want: int, timeout: float = 15.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status, body = await ready(url)
        if status == want:
            return body
        assert loop.time() < deadline, f"/readyz stayed {status}: {body}"
        await asyncio.sleep(0.1)


async def test_redis_restart_recovers_and_loses_nothing(make_server, db) -> None:
    redis = EmbeddedRedis()
    redis.start()
    try:
        one = make_server({"REDIS_URL": redis.url})
        two = make_server({"REDIS_URL": redis.url})
        org = await signup(one.url)
        tab1, welcome = await visitor(one.ws_url, org.site_key)
        await tab1.send({"t": "handoff"})
        await tab1.expect("mode", mode="queued")
        seq = (await tab1.expect("msg"))["seq"]
        tab2, _ = await visitor(two.ws_url, org.site_key, visitor_token=welcome["visitor_token"],
                                conversation_id=welcome["conversation_id"], last_seq=seq)

        redis.stop()
        body = await wait_ready(one.url, 503)
        assert body["redis"] is False and body["postgres"] is True
        # writes still persist and are acked while the doorbell is broken
        for i in range(3):
            await tab1.send({"t": "msg", "id": f"down{i}", "text": f"during outage {i}"})
            await tab1.expect("ack", id=f"down{i}")

        redis.start()  # same port, empty: nothing of the record lived there
        await wait_ready(one.url, 200)
        await wait_ready(two.url, 200)
        # the process that missed the publishes catches its clients up from Postgres
        got = [await tab2.expect("msg", id=f"down{i}", timeout=15) for i in range(3)]
        assert [m["text"] for m in got] == [f"during outage {i}" for i in range(3)]
        # and live fan-out works again across processes
        await tab1.send({"t": "msg", "id": "after", "text": "after recovery"})
        await tab2.expect("msg", id="after", timeout=10)
        async with httpx.AsyncClient(base_url=one.url) as http:
            r = await http.get(f"/v1/conversations/{welcome['conversation_id']}/messages",
                               headers=org.headers())
            texts = [m["text"] for m in r.json()["messages"]]
            metrics = (await http.get("/metrics", headers=one.metrics_headers)).text
        assert [t for t in texts if t.startswith("during outage")] == [
            f"during outage {i}" for i in range(3)]
        assert "clienta_redis_listener_reconnects 1.0" in metrics
        async with db.unscoped() as conn:
            await check_all(conn, org.org_id, [])
        await tab1.close()
        await tab2.close()
    finally:
        redis.stop()


async def redis_command(url: str, *args: str) -> bytes:
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"*{len(args)}\r\n".encode()
                     + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in args))
        await writer.drain()
        return await reader.readline()
    finally:
        writer.close()


async def test_the_ack_and_this_processs_copies_follow_the_commit_not_the_publish(
        make_server) -> None:
    redis = EmbeddedRedis()
    redis.start()
    try:
        server = make_server({"REDIS_URL": redis.url})
        other = make_server({"REDIS_URL": redis.url})
        org = await signup(server.url)
        tab1, welcome = await visitor(server.ws_url, org.site_key)
        await tab1.send({"t": "handoff"})  # a person's turn: no bot answer uses Redis
        await tab1.expect("mode", mode="queued")
        seq = (await tab1.expect("msg"))["seq"]
        resume = {"visitor_token": welcome["visitor_token"],
                  "conversation_id": welcome["conversation_id"], "last_seq": seq}
        tab2, _ = await visitor(server.ws_url, org.site_key, **resume)  # same process
        tab3, _ = await visitor(other.ws_url, org.site_key, **resume)  # the other process
        # Redis holds every PUBLISH until unpaused. Acking after the publish, the server
        # would answer only once its command watchdog gave up on Redis; fanning out from
        # the broker, no tab would see the event until then.
        assert await redis_command(redis.url, "CLIENT", "PAUSE", "60000", "WRITE") == b"+OK\r\n"
        try:
            await tab1.send({"t": "msg", "id": "p1", "text": "while redis is paused"})
            acked = await tab1.expect("ack", id="p1", timeout=20)
            # the sender's own copy follows its ack at once, without Redis; once, in order
            own = await tab1.expect("msg", id="p1", timeout=5)
            assert own["seq"] == acked["seq"]
            assert [f.get("t") for f in tab1.frames if f.get("id") == "p1"] == ["ack", "msg"]
            # every member on the sender's process has it without Redis too
            assert (await tab2.expect("msg", id="p1", timeout=5))["seq"] == acked["seq"]
            # the other process's copy waits for the broker: a pong asked for after tab2
            # had its copy comes back first
            await tab3.send({"t": "ping"})
            await tab3.expect("pong")
            assert not [f for f in tab3.frames if f.get("id") == "p1"]
        finally:
            assert await redis_command(redis.url, "CLIENT", "UNPAUSE") == b"+OK\r\n"
        # published once Redis takes writes again: the other process gets it, and the
        # broker's echo gives the sender's process no second copy
        assert (await tab3.expect("msg", id="p1", timeout=15))["seq"] == acked["seq"]
        # a message from the other process reaches this one on the subscription that
        # carried p1's echo, after it: once it is here, a second copy of p1 would be too
        await tab3.send({"t": "msg", "id": "p2", "text": "from the other process"})
        await tab3.expect("ack", id="p2")
        for tab in (tab1, tab2, tab3):
            await tab.expect("msg", id="p2", timeout=10)
        for tab in (tab1, tab2, tab3):
            assert len([f for f in tab.frames if f.get("t") == "msg" and f.get("id") == "p1"]) == 1
        for tab in (tab1, tab2, tab3):
            await tab.close()
    finally:
        redis.stop()


# The issue asks for 30 s; the suite's budget takes 8 s, which already spans several of the
# subscription's reconnect attempts and the command watchdog's timeouts (set
# FAULT_REDIS_OUTAGE_S=30 in the environment for the full length).
OUTAGE_S = float(os.environ.get("FAULT_REDIS_OUTAGE_S", "8"))


async def test_redis_down_for_a_while_clients_keep_chatting(make_server, db) -> None:
    redis = EmbeddedRedis()
    redis.start()
    try:
        one = make_server({"REDIS_URL": redis.url})
        two = make_server({"REDIS_URL": redis.url})
        org = await signup(one.url)
        writers, readers = [], []
        for _ in range(3):  # a visitor writing on one, its second tab on two
            writer = await View(one.ws_url, org.site_key).open()
            await writer.client.send({"t": "handoff"})
            await writer.client.expect("mode", mode="queued")
            reader = View(two.ws_url, org.site_key, welcome=writer.welcome,
                          since=writer.last_seen())
            await reader.resume()
            writers.append(writer)
            readers.append(reader)

        redis.stop()
        await wait_ready(one.url, 503)
        loop = asyncio.get_running_loop()
        until = loop.time() + OUTAGE_S
        n = 0
        while loop.time() < until:  # chatting on through process one for the outage
            for i, writer in enumerate(writers):
                await writer.client.send({"t": "msg", "id": f"w{i}-{n}", "text": f"down {n}"})
                acked = await writer.client.expect("ack", id=f"w{i}-{n}")
                # its own copy, from this process, without Redis
                await writer.client.expect("msg", id=f"w{i}-{n}", seq=acked["seq"])
            n += 1
            await asyncio.sleep(0.5)  # a person's typing pace, not a synchronisation
        redis.start()
        await wait_ready(one.url, 200, timeout=30)
        await wait_ready(two.url, 200, timeout=30)
        # process two resynchronises its rooms from Postgres: every tab catches up
        for i, writer in enumerate(writers):
            await writer.client.send({"t": "msg", "id": f"w{i}-after", "text": "after"})
            await writer.client.expect("ack", id=f"w{i}-after")
        async with db.unscoped() as conn:
            await check_all(conn, org.org_id, writers + readers)
        for i, reader in enumerate(readers):  # what was said during the outage, in full
            assert {f"w{i}-{k}" for k in range(n)} <= {f.get("id") for f in reader.frames("msg")}
        for view in writers + readers:
            await view.close()
    finally:
        redis.stop()
