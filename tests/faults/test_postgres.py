"""Postgres down for ~10 s under live sockets: every message is answered `ack` (stored) or
`unavailable` (not stored), nothing acked is missing afterwards, and the same process
serves again once Postgres is back, without a restart. The session's shared Postgres is
never touched: this test runs its own (`EmbeddedPostgres` in a temporary directory)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from server.embedded import EmbeddedPostgres
from tests.faults.invariants import View, check_all
from tests.faults.test_redis import wait_ready
from tests.support.api import signup

pytestmark = pytest.mark.asyncio(loop_scope="session")

OUTAGE_S = 10.0


async def say(view: View, msg_id: str, text: str, timeout: float = 15.0) -> str:
    """Send a message; 'ack', or the code of the error that refers to it (frames that
    arrive after this send only: a resend is judged on its own)."""
    client = view.client
    start = len(client.frames)
    await client.send({"t": "msg", "id": msg_id, "text": text})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for f in client.frames[start:]:
            if f.get("t") == "ack" and f["id"] == msg_id:
                return "ack"
            if f.get("t") == "error" and f.get("ref") == msg_id:
                return f["code"]
        assert loop.time() < deadline, f"{msg_id} never answered"
        await client.drain(0.1)


@pytest.fixture
def own_postgres(tmp_path: Path):
    pg = EmbeddedPostgres(tmp_path)
    url = pg.start()
    yield pg, url
    pg.stop()


async def test_postgres_down_answers_unavailable_and_recovers(own_postgres, make_server) -> None:
    pg, url = own_postgres
    server = make_server({"DATABASE_URL": url})  # applies the migrations at start
    pid = server.proc.pid
    org = await signup(server.url)
    views = []
    for _ in range(3):
        view = await View(server.ws_url, org.site_key).open()
        await view.client.send({"t": "handoff"})
        await view.client.expect("mode", mode="queued")
        assert await say(view, "before", "before the outage") == "ack"
        views.append(view)

    await asyncio.to_thread(pg.stop)
    body = await wait_ready(server.url, 503)
    assert body["postgres"] is False
    refused: dict[int, list[str]] = {}
    loop = asyncio.get_running_loop()
    until = loop.time() + OUTAGE_S
    n = 0
    while loop.time() < until:
        for i, view in enumerate(views):
            msg_id = f"down{n}"
            outcome = await say(view, msg_id, f"during {n}")
            assert outcome in ("ack", "unavailable"), outcome
            if outcome == "unavailable":
                refused.setdefault(i, []).append(msg_id)
        n += 1
        await asyncio.sleep(1.0)  # a visitor's pace, not a synchronisation
    assert refused, "nothing was refused while Postgres was down"
    assert all(view.client.close_code is None for view in views)  # the sockets stayed

    await asyncio.to_thread(pg.start)
    await wait_ready(server.url, 200, timeout=30)
    assert server.proc.pid == pid and server.proc.poll() is None  # no restart
    for i, view in enumerate(views):  # the widget resends what was never acked
        for msg_id in refused.get(i, []):
            assert await say(view, msg_id, "resent", timeout=30) == "ack"
        assert await say(view, "after", "after the outage", timeout=30) == "ack"
    conn = await asyncpg.connect(url)
    try:
        store = await check_all(conn, org.org_id, views)
    finally:
        await conn.close()
    for i, view in enumerate(views):
        ids = {e.client_id for e in store[view.conversation_id].events}
        assert set(refused.get(i, [])) | {"before", "after"} <= ids
    for view in views:
        await view.close()
