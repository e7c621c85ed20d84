"""Servers behind a transaction pooler (Debian's pgbouncer standing in for Supabase's):
migrations, a visitor's conversation with the bot, a handoff and an agent's actions,
and the knowledge base's re-index locks all work through it, on two processes."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio

from tests.support import pgbouncer
from tests.support.api import signup
from tests.support.pgbouncer import PgBouncer
from tests.support.wsclient import agent, visitor

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    # skipped on a developer's machine without it; under CI a missing pgbouncer fails
    pytest.mark.skipif(not pgbouncer.available() and not os.environ.get("CI"),
                       reason="pgbouncer is not installed (apt-get install pgbouncer; "
                       ".ci/run does)"),
]


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_database(database_url: str) -> AsyncIterator[str]:
    """A database of its own, so every migration runs through the pooler."""
    name = f"clienta_pooled_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@pytest.fixture
def bouncer(database_url: str, fresh_database: str) -> Iterator[PgBouncer]:
    # not under tmp_path (0700): pgbouncer runs as pgserver's user when we are root
    workdir = Path(tempfile.mkdtemp(prefix="clienta-pgbouncer-"))
    workdir.chmod(0o755)
    pool = PgBouncer(database_url, fresh_database, workdir).start()
    yield pool
    pool.stop()
    shutil.rmtree(workdir, ignore_errors=True)


async def test_conversation_and_agent_actions_through_a_transaction_pooler(
        make_server, bouncer: PgBouncer) -> None:
    env = {"DATABASE_URL": bouncer.url, "CLIENTA_DB_POOLER": "transaction",
           # the start-up re-index takes its lock through the pooler as well
           "CLIENTA_KB_REINDEX_ON_START": "1"}
    # two processes start together: both run the migrations, one applies them
    one, two = await asyncio.gather(asyncio.to_thread(make_server, env),
                                    asyncio.to_thread(make_server, env))
    org = await signup(one.url)
    await org.add_document("Refunds", "Refunds are paid within five business days.")
    ploy = await org.add_user("agent", "Ploy")
    desk, _ = await agent(two.ws_url, ploy["token"])
    guest, welcome = await visitor(one.ws_url, org.site_key)
    conv = welcome["conversation_id"]
    await guest.send({"t": "msg", "id": "v1", "text": "When are refunds paid?"})
    await guest.expect("ack", id="v1")
    answer = await guest.expect("msg", timeout=20, author={"role": "bot"})
    assert "five business days" in answer["text"]
    await guest.send({"t": "handoff"})
    await guest.expect("mode", mode="queued")
    await desk.expect("queue", op="add")
    await desk.send({"t": "join", "conversation_id": conv})
    await desk.expect("joined", conversation_id=conv)
    await desk.send({"t": "claim", "conversation_id": conv})
    await guest.expect("mode", mode="agent")
    await desk.send({"t": "msg", "conversation_id": conv, "id": "a1", "text": "Ploy here"})
    await desk.expect("ack", id="a1")
    await guest.expect("msg", id="a1")
    await desk.send({"t": "note", "conversation_id": conv, "id": "n1", "text": "checked"})
    await desk.expect("ack", id="n1")
    await guest.send({"t": "msg", "id": "v2", "text": "thanks"})
    await desk.expect("msg", id="v2")
    await desk.send({"t": "close", "conversation_id": conv})
    await guest.expect("mode", mode="closed")
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.get(f"{two.url}/v1/conversations/{conv}/messages",
                           headers=org.headers())
        assert r.status_code == 200
        seqs = [m["seq"] for m in r.json()["messages"]]
        assert seqs == sorted(set(seqs))
        assert {"v1", "a1", "v2"} <= {m.get("id") for m in r.json()["messages"]}
        # the per-org re-index lock is held by an open transaction, so it holds (409 on
        # the other process) and is let go through the pooler once the job ends
        r = await http.post(f"{one.url}/v1/kb/reindex?force=1", headers=org.headers())
        assert r.status_code == 202
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:
            r = await http.post(f"{two.url}/v1/kb/reindex?force=1", headers=org.headers())
            if r.status_code == 202:
                break
            assert r.status_code == 409 and loop.time() < deadline, r.text
            await asyncio.sleep(0.1)
        for server in (one, two):
            assert (await http.get(f"{server.url}/readyz")).status_code == 200
    for client in (desk, guest):
        await client.close()


async def test_without_the_setting_asyncpg_breaks_behind_the_pooler(
        make_server, database_url: str, fresh_database: str, bouncer: PgBouncer) -> None:
    """The stand-in reproduces what the setting fixes: with one server connection, the
    second process's named statements collide with the first's."""
    one = PgBouncer(database_url, fresh_database, bouncer.workdir / "one", pool_size=1)
    one.start()
    try:
        env = {"DATABASE_URL": one.url, "CLIENTA_DB_POOLER": "none"}
        await asyncio.to_thread(make_server, env)
        with pytest.raises(RuntimeError) as failed:
            await asyncio.to_thread(make_server, env)
        # (DuplicatePreparedStatementError: the log names frames, not messages)
        assert "Application startup failed" in str(failed.value)
        assert re.search(r"protocol\.pyx:\d+ prepare", str(failed.value))
        # the same two with the setting: both start
        env["CLIENTA_DB_POOLER"] = "transaction"
        for _ in range(2):
            await asyncio.to_thread(make_server, env)
    finally:
        one.stop()
