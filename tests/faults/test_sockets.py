"""Socket faults against real server processes: a reconnect storm of every client at once,
a slow reader cut without stalling its room, peers that stop answering pings, a SIGTERM
drain (every client gets 1012 and resumes on another process), and one visitor flooding
1,000 messages a second. Each ends with the store and view checks of invariants.py."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.frames import Opcode

from tests.e2e.test_visitor_hub import raw_ws_connect, raw_ws_read_until_closed, raw_ws_send
from tests.e2e.test_wire import RawClient
from tests.faults.invariants import View, check_all
from tests.support.api import signup

pytestmark = pytest.mark.asyncio(loop_scope="session")

STORM = 40  # visitors reconnecting at once (small size; bench/ runs thousands)


async def queued(view: View) -> View:
    """A visitor waiting for a person: no bot answer takes part in what is checked."""
    await view.open()
    await view.client.send({"t": "handoff"})
    await view.client.expect("mode", mode="queued")
    return view


async def test_a_reconnect_storm_of_every_client_at_once(make_server, db) -> None:
    server = make_server()
    org = await signup(server.url)
    views = await asyncio.gather(*(queued(View(server.ws_url, org.site_key))
                                   for _ in range(STORM)))
    for i, view in enumerate(views):
        await view.client.send({"t": "msg", "id": f"v{i}-0", "text": "before"})
    for i, view in enumerate(views):
        await view.client.expect("ack", id=f"v{i}-0")
        # a message sent just before the network drops: its ack may never be read
        await view.client.send({"t": "msg", "id": f"v{i}-1", "text": "in flight"})

    async def back(i: int, view: View) -> None:
        await view.resume()  # everyone at once, and resend what was not seen acked
        await view.client.send({"t": "msg", "id": f"v{i}-1", "text": "in flight"})
        await view.client.send({"t": "msg", "id": f"v{i}-2", "text": "after"})
        await view.client.expect("ack", id=f"v{i}-2", timeout=30)

    await asyncio.gather(*(back(i, v) for i, v in enumerate(views)))
    async with db.unscoped() as conn:
        store = await check_all(conn, org.org_id, list(views))
    for i, view in enumerate(views):
        ids = [e.client_id for e in store[view.conversation_id].events if e.client_id]
        assert ids == [f"v{i}-0", f"v{i}-1", f"v{i}-2"]  # the resend stored nothing twice
    for view in views:
        await view.close()


async def test_a_slow_reader_is_cut_and_its_room_goes_on(make_server, db) -> None:
    server = make_server({"CLIENTA_OUTBOX_MAX_BYTES": "65536", "CLIENTA_MSG_RATE": "100000",
                          "CLIENTA_MSG_BURST": "100000", "CLIENTA_FRAME_RATE": "100000",
                          "CLIENTA_FRAME_BURST": "100000",
                          "CLIENTA_QUOTA_VISITOR_MESSAGES": "0"})
    org = await signup(server.url)
    fast = await queued(View(server.ws_url, org.site_key))
    # the same visitor's second tab, which never reads: a tiny receive window
    slow = raw_ws_connect(server.port, f"/v1/ws/visitor?site_key={org.site_key}")
    raw_ws_send(slow, json.dumps({"t": "hello", "visitor_token": fast.welcome["visitor_token"],
                                  "conversation_id": fast.conversation_id}))
    n, text = 1500, "x" * 3900
    for i in range(n):
        await fast.client.send({"t": "msg", "id": f"f{i}", "text": text})
    for i in range(n):  # the room never stalled: every message acked and shown in time
        await fast.client.expect("ack", id=f"f{i}", timeout=30)
    assert await asyncio.to_thread(raw_ws_read_until_closed, slow, 30.0)  # cut
    slow.close()
    # the slow tab comes back and catches up from the store
    again = View(server.ws_url, org.site_key, welcome=fast.welcome)
    await again.resume()
    async with db.unscoped() as conn:
        await check_all(conn, org.org_id, [fast, again])
    await fast.close()
    await again.close()


async def test_peers_that_stop_answering_pings_are_dropped(make_server, db) -> None:
    server = make_server({"CLIENTA_WS_PING_INTERVAL": "0.5"})
    org = await signup(server.url)
    talker = await queued(View(server.ws_url, org.site_key))
    path = f"/v1/ws/visitor?site_key={org.site_key}"
    mute = await asyncio.to_thread(RawClient, server.port, path)
    mute.send_json({"t": "hello", "visitor_token": talker.welcome["visitor_token"],
                    "conversation_id": talker.conversation_id})
    assert json.loads((await asyncio.to_thread(mute.read_until, Opcode.TEXT)).data)["t"] \
        == "welcome"
    # the mute peer reads (so TCP never pushes back) but answers no ping: dropped, no
    # close frame, while the room goes on around it
    dropped = asyncio.create_task(asyncio.to_thread(mute.read_until, Opcode.CLOSE, 15))
    n = 0
    while not dropped.done():
        await talker.client.send({"t": "msg", "id": f"t{n}", "text": f"still here {n}"})
        await talker.client.expect("ack", id=f"t{n}")
        n += 1
        await asyncio.sleep(0.2)  # a person's pace while the sweep runs, bounded below
        assert n < 100, "the silent peer was never dropped"
    assert await dropped is None  # the TCP connection ended without a close frame
    mute.sock.close()
    back = View(server.ws_url, org.site_key, welcome=talker.welcome)
    await back.resume()
    async with db.unscoped() as conn:
        await check_all(conn, org.org_id, [talker, back])
    await talker.close()
    await back.close()


async def test_sigterm_drain_sends_1012_and_clients_resume_elsewhere(make_server, db) -> None:
    leaving, staying = make_server(), make_server()
    org = await signup(leaving.url)
    views = [await queued(View(leaving.ws_url, org.site_key)) for _ in range(8)]
    for i, view in enumerate(views):
        await view.client.send({"t": "msg", "id": f"d{i}", "text": "before the deploy"})
        await view.client.expect("ack", id=f"d{i}")
    stop = asyncio.create_task(asyncio.to_thread(leaving.stop))
    codes = await asyncio.gather(*(v.client.wait_closed(15) for v in views))
    await stop
    assert codes == [1012] * len(views)  # "restarting: reconnect and resume"
    for i, view in enumerate(views):
        await view.resume(staying.ws_url)
        await view.client.send({"t": "msg", "id": f"e{i}", "text": "after the deploy"})
        await view.client.expect("ack", id=f"e{i}")
    async with db.unscoped() as conn:
        await check_all(conn, org.org_id, views)
    for view in views:
        await view.close()


async def test_a_flood_of_1000_messages_a_second_is_rate_limited(clienta_server, db) -> None:
    org = await signup(clienta_server.url)
    view = await queued(View(clienta_server.ws_url, org.site_key))
    sent = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        for tick in range(10):  # 100 every 0.1 s: 1,000 a second
            for k in range(100):
                await view.client.send({"t": "msg", "id": f"x{sent}", "text": f"flood {k}"})
                sent += 1
            await asyncio.sleep(max(0.0, started + (tick + 1) * 0.1 - loop.time()))
    except Exception:  # the server closed the socket on a sustained flood (4008)
        pass
    await view.client.wait_closed(10)
    refused = [f for f in view.client.of_type("error") if f["code"] == "rate_limited"]
    assert refused and all(f["message"] and f["retry_after_ms"] > 0 for f in refused)
    assert view.client.close_code in (None, 4008)
    acked = view.acked()
    assert 0 < len(acked) < sent
    # the visitor comes back and resends everything (the widget's outbox): only what was
    # stored is acked again, with its seq; nothing is stored twice
    await view.resume()
    async with db.unscoped() as conn:
        store = await check_all(conn, org.org_id, [view])
    stored = [e.client_id for e in store[view.conversation_id].events if e.client_id]
    assert sorted(stored) == sorted(acked)
    await view.close()
