"""Encryption at rest (docs/privacy.md): what the product stores is sealed, a ciphertext
moved to another row does not open, `clienta keys rotate` re-wraps org keys only, and an
erased visitor stays erased in a backup taken before and restored after the erasure."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
import httpx
import pgserver
import pytest
import redis.asyncio as aioredis

from server.broker.redis import RedisBroker
from server.domain.audit import Actor
from server.services.audit import AuditLog
from server.services.keys import ErasureLedger, KeyService
from server.services.stream_texts import StreamTexts
from server.storage import backfill, kb_review, messages
from server.storage import conversations as convs
from server.storage.db import Database
from server.storage.envelope import MasterKey, MasterKeys, Undecryptable
from server.storage.keys import Keyring
from tests.conftest import TEST_MASTER_KEY
from tests.support.api import OrgHandle
from tests.support.mailbox import messages_to, text_of, wait_for_mail
from tests.support.processes import ServerProcess
from tests.support.wsclient import agent, visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")

PG_BIN = Path(pgserver.__file__).parent / "pginstall" / "bin"
NEW_MASTER_KEY = "cd" * 32


async def _chat(server: ServerProcess, org: OrgHandle, marker: str) -> tuple[UUID, UUID]:
    """A visitor who tells their name and email and sends two messages; (conversation,
    visitor) ids."""
    guest, welcome = await visitor(server.ws_url, org.site_key)
    await guest.send({"t": "identify", "name": f"{marker} name",
                      "email": f"{marker}@visitor.test"})
    for n in (1, 2):
        await guest.send({"t": "msg", "id": f"{marker}-{n}", "text": f"{marker} question {n}"})
        await guest.expect("ack", id=f"{marker}-{n}")
    await guest.close()
    conversation_id = UUID(welcome["conversation_id"])
    conn = await asyncpg.connect(server.env["DATABASE_URL"])
    try:
        await conn.execute("SELECT set_config('clienta.org_id', $1, false)", org.org_id)
        visitor_id = await conn.fetchval("SELECT visitor_id FROM conversations WHERE id = $1",
                                         conversation_id)
    finally:
        await conn.close()
    return conversation_id, visitor_id


async def _texts(db: Database, org_id: str, conversation_id: UUID) -> list[str]:
    async with db.unit_of_work(org_id) as conn:
        events = await messages.after(conn, db.keys, UUID(org_id), conversation_id, 0,
                                      include_notes=True)
    return [e.text for e in events]


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, err.decode()[-2000:]


def _keyring(current: str, previous: str | None = None) -> Keyring:
    return Keyring(MasterKeys(MasterKey.parse(current),
                              MasterKey.parse(previous) if previous else None))


async def test_raw_sql_finds_no_plaintext_of_what_the_product_stored(
        clienta_server: ServerProcess, org: OrgHandle, db: Database) -> None:
    marker = f"mk{uuid.uuid4().hex[:12]}"
    conversation_id, visitor_id = await _chat(clienta_server, org, marker)
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        history = (await http.get(f"/v1/conversations/{conversation_id}/messages",
                                  headers=org.headers())).json()["messages"]
    assert f"{marker} question 2" in [m["text"] for m in history]  # staff read it back
    async with db.pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM events WHERE conversation_id = $1", conversation_id) >= 2
        leaks = await conn.fetchval(
            "SELECT (SELECT count(*) FROM events WHERE body LIKE $1)"
            " + (SELECT count(*) FROM visitors WHERE name LIKE $1 OR email LIKE $1)",
            f"%{marker}%")
        sealed_name = await conn.fetchval("SELECT name FROM visitors WHERE id = $1",
                                          visitor_id)
    assert leaks == 0
    assert sealed_name is not None and sealed_name.startswith("\x01")


async def test_a_ciphertext_moved_to_another_row_does_not_open(
        clienta_server: ServerProcess, org: OrgHandle, db: Database) -> None:
    marker = f"sw{uuid.uuid4().hex[:12]}"
    first, _ = await _chat(clienta_server, org, marker + "a")
    second, _ = await _chat(clienta_server, org, marker + "b")
    async with db.pool.acquire() as conn, conn.transaction():
        # across conversations (same org): the first visitor's message into the second's
        await conn.execute(
            "UPDATE events SET body = (SELECT body FROM events WHERE conversation_id = $1"
            " AND client_id = $3) WHERE conversation_id = $2 AND client_id = $4",
            first, second, f"{marker}a-1", f"{marker}b-1")
        # within one conversation: message 1 and message 2 trade places
        await conn.execute(
            "UPDATE events e SET body = o.body FROM events o WHERE e.conversation_id = $1"
            " AND o.conversation_id = $1 AND e.client_id IS NOT NULL AND o.client_id IS NOT"
            " NULL AND e.client_id <> o.client_id", first)
    fresh = Database(db.pool, db.message_pool, keys=_keyring(TEST_MASTER_KEY))
    for conversation_id in (first, second):
        with pytest.raises(Undecryptable):
            await _texts(fresh, org.org_id, conversation_id)


async def test_rotation_rewraps_org_keys_and_every_message_still_reads(
        clienta_server: ServerProcess, org: OrgHandle, db: Database, database_url: str,
        session_dir: Path) -> None:
    marker = f"rt{uuid.uuid4().hex[:12]}"
    conversation_id, _ = await _chat(clienta_server, org, marker)
    async with db.pool.acquire() as conn:
        before = await conn.fetchrow("SELECT master_key_id, wrapped FROM org_keys"
                                     " WHERE org_id = $1", UUID(org.org_id))
        bodies = await conn.fetch("SELECT body FROM events WHERE conversation_id = $1"
                                  " ORDER BY seq", conversation_id)
    assert before["master_key_id"] == MasterKey.parse(TEST_MASTER_KEY).id

    def rotate(current: str, previous: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTA_")}
        env.update({"DATABASE_URL": database_url, "CLIENTA_HOME": str(session_dir / "keys"),
                    "CLIENTA_MASTER_KEY": current, "CLIENTA_MASTER_KEY_PREVIOUS": previous,
                    "REDIS_URL": "redis://127.0.0.1:1"})
        done = subprocess.run([sys.executable, "-m", "server.cli", "keys", "rotate"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]

    rotate(NEW_MASTER_KEY, TEST_MASTER_KEY)
    try:
        async with db.pool.acquire() as conn:
            after = await conn.fetchrow("SELECT master_key_id, wrapped FROM org_keys"
                                        " WHERE org_id = $1", UUID(org.org_id))
            untouched = await conn.fetch("SELECT body FROM events WHERE conversation_id = $1"
                                         " ORDER BY seq", conversation_id)
            audited = await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE org_id = $1 AND action = 'keys.rotated'",
                UUID(org.org_id))
        assert after["master_key_id"] == MasterKey.parse(NEW_MASTER_KEY).id
        assert after["wrapped"] != before["wrapped"]
        # messages are not touched (the bot's answer may have been stored since)
        assert [r["body"] for r in untouched][:len(bodies)] == [r["body"] for r in bodies]
        assert audited >= 1
        # the new master key alone opens everything; the old one alone no longer does
        new_only = Database(db.pool, db.message_pool, keys=_keyring(NEW_MASTER_KEY))
        texts = await _texts(new_only, org.org_id, conversation_id)
        assert f"{marker} question 1" in texts and f"{marker} question 2" in texts
        old_only = Database(db.pool, db.message_pool, keys=_keyring(TEST_MASTER_KEY))
        with pytest.raises(Exception, match="master key"):
            await _texts(old_only, org.org_id, conversation_id)
    finally:
        rotate(TEST_MASTER_KEY, NEW_MASTER_KEY)  # the session's servers know only this one
    assert f"{marker} question 2" in await _texts(
        Database(db.pool, db.message_pool, keys=_keyring(TEST_MASTER_KEY)),
        org.org_id, conversation_id)


async def test_an_erased_visitor_stays_erased_in_a_backup_restored_after(
        clienta_server: ServerProcess, org: OrgHandle, db: Database, database_url: str,
        tmp_path: Path) -> None:
    marker = f"er{uuid.uuid4().hex[:12]}"
    erased_conv, erased_visitor = await _chat(clienta_server, org, marker + "x")
    kept_conv, _ = await _chat(clienta_server, org, marker + "k")
    dump = tmp_path / "before.dump"
    await _run(str(PG_BIN / "pg_dump"), "-Fc", "-f", str(dump), database_url)

    ledger = ErasureLedger(tmp_path / "erasures.jsonl")
    keys = KeyService(db, AuditLog(db), ledger)
    await keys.erase_visitor(UUID(org.org_id), erased_visitor, Actor.system("test"))
    live = Database(db.pool, db.message_pool, keys=_keyring(TEST_MASTER_KEY))
    erased = await _texts(live, org.org_id, erased_conv)
    assert len(erased) >= 2 and set(erased) == {""}  # questions, and the bot's answers
    assert f"{marker}k question 1" in await _texts(live, org.org_id, kept_conv)

    restored_name = f"restore_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{restored_name}"')
        restored_url = urlsplit(database_url)._replace(path="/" + restored_name).geturl()
        await _run(str(PG_BIN / "pg_restore"), "--no-owner", "-d", restored_url, str(dump))
        restored = await Database.connect(restored_url, min_size=1, max_size=2,
                                          keys=_keyring(TEST_MASTER_KEY))
        try:
            # the backup alone still holds the visitor's key: this is what the replay is for
            assert f"{marker}x question 1" in await _texts(restored, org.org_id, erased_conv)
            replay = KeyService(
                Database(restored.pool, restored.message_pool, keys=_keyring(TEST_MASTER_KEY)),
                AuditLog(restored), ledger)
            assert await replay.replay_erasures() == 1
            after = Database(restored.pool, restored.message_pool,
                             keys=_keyring(TEST_MASTER_KEY))
            assert set(await _texts(after, org.org_id, erased_conv)) == {""}
            assert f"{marker}k question 1" in await _texts(after, org.org_id, kept_conv)
            async with restored.pool.acquire() as conn:
                assert await conn.fetchval(
                    "SELECT wrapped FROM visitor_keys WHERE visitor_id = $1",
                    erased_visitor) is None
                name = await conn.fetchval("SELECT name FROM visitors WHERE id = $1",
                                           erased_visitor)
            assert marker not in name
        finally:
            await restored.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)')
        await admin.close()


async def _poll(fetch, ready, what: str, timeout: float = 20.0):
    """`fetch()` until `ready(value)`, bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await fetch()
        if ready(value):
            return value
        assert loop.time() < deadline, f"{what} not seen within {timeout:g} s"
        await asyncio.sleep(0.1)


async def _raw_sql_hits(conn: asyncpg.Connection, marker: str) -> dict[str, int]:
    """Rows of every table whose text (bytea as hex) holds the marker."""
    hits = {}
    tables = await conn.fetch(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS t FROM pg_tables"
        " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
    for (table,) in tables:
        n = await conn.fetchval(f"SELECT count(*) FROM {table} r WHERE r::text LIKE $1"
                                " OR r::text LIKE $2", f"%{marker}%",
                                f"%{marker.encode().hex()}%")
        if n:
            hits[table] = n
    return hits


async def _redis_hits(redis_url: str, marker: str) -> list[str]:
    """Keys of every type whose value holds the marker (KEYS *, then each read by type)."""
    client = aioredis.from_url(redis_url)
    found = []
    try:
        for key in await client.keys("*"):
            kind = (await client.type(key)).decode()
            if kind == "string":
                values = [await client.get(key)]
            elif kind == "list":
                values = await client.lrange(key, 0, -1)
            elif kind == "hash":
                values = [*(await client.hgetall(key)).items()]
            elif kind == "set":
                values = list(await client.smembers(key))
            elif kind == "zset":
                values = await client.zrange(key, 0, -1)
            elif kind == "stream":
                values = await client.xrange(key)
            else:
                values = []
            if marker.encode() in repr((key, values)).encode() or marker in repr(values):
                found.append(key.decode())
    finally:
        await client.aclose()
    return found


async def test_follow_up_rating_unanswered_question_and_mail_are_sealed_and_shredded(
        clienta_server: ServerProcess, org: OrgHandle, db: Database, redis_url: str,
        tmp_path: Path) -> None:
    """A marker left as a follow-up address, a rating comment, a question the knowledge
    base cannot answer (recorded for the business) and, through the follow-up, in a mail:
    the product shows each, raw SQL over every table and every Redis key find none of it,
    and once the visitor is erased none of it opens."""
    marker = f"fu{uuid.uuid4().hex[:12]}"
    address, question, comment = (f"{marker}@follow.test", f"{marker} zorblax warranty?",
                                  f"{marker} rated")
    guest, welcome = await visitor(clienta_server.ws_url, org.site_key)
    conv = welcome["conversation_id"]
    await guest.send({"t": "msg", "id": "q1", "text": question})  # ids are not sealed
    await guest.expect("ack", id="q1")
    # nothing in the (empty) knowledge base covers it: recorded, and handed to people
    await guest.expect("mode", mode="queued")
    await guest.send({"t": "email", "email": address})
    await guest.expect("msg", followup_email=True)
    desk_user = await org.add_user("agent", "Desk")
    desk, _ = await agent(clienta_server.ws_url, desk_user["token"])
    await desk.send({"t": "claim", "conversation_id": conv})
    await guest.expect("mode", mode="agent")
    await desk.send({"t": "close", "conversation_id": conv})
    await guest.expect("mode", mode="closed")
    await guest.send({"t": "csat", "score": 4, "comment": comment})
    await desk.close()

    # the product shows each of them
    mail = await wait_for_mail(Path(clienta_server.env["CLIENTA_HOME"]) / "mail",
                               org.owner_email, subject_has="")
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30,
                                 headers=org.headers()) as http:
        async def summary() -> dict:
            return (await http.get(f"/v1/conversations/{conv}")).json()
        shown = await _poll(summary, lambda s: s.get("csat", {}).get("comment") == comment,
                            "the rating comment")
        assert shown["followup_email"] == address

        async def unanswered() -> list[str]:
            r = await http.get("/v1/kb/unanswered")
            return [q["question"] for q in r.json()["questions"]]
        await _poll(unanswered, lambda qs: question in qs, "the unanswered question")
    inbox_mails = [m for m in messages_to(Path(clienta_server.env["CLIENTA_HOME"]) / "mail",
                                          org.owner_email) if address in text_of(m)]
    assert inbox_mails, f"no follow-up mail naming the address (last: {mail['Subject']})"

    # ...and nothing of it is readable where it is kept
    async with db.pool.acquire() as conn:
        assert await _raw_sql_hits(conn, marker) == {}
        sealed = await conn.fetchrow(
            "SELECT followup_email, csat_comment FROM conversations WHERE id = $1",
            UUID(conv))
        assert all(v.startswith("\x01") for v in sealed.values())
        visitor_id = await conn.fetchval("SELECT visitor_id FROM conversations WHERE id = $1",
                                         UUID(conv))
    assert await _redis_hits(redis_url, marker) == []

    # erased: a fresh process's keyring opens none of it
    keys = KeyService(db, AuditLog(db), ErasureLedger(tmp_path / "erasures.jsonl"))
    await keys.erase_visitor(UUID(org.org_id), visitor_id, Actor.system("test"))
    fresh = Database(db.pool, db.message_pool, keys=_keyring(TEST_MASTER_KEY))
    async with fresh.unit_of_work(org.org_id) as conn:
        got = await convs.get(conn, UUID(org.org_id), UUID(conv))
        assert got is not None
        after = await convs.opened(conn, fresh.keys, got)
        questions = await kb_review.list_unanswered(conn, fresh.keys, UUID(org.org_id),
                                                   limit=500)
    assert after.followup_email is None and after.csat_comment is None
    assert not [q for q in questions if marker in q.question]


async def test_a_live_stream_is_sealed_in_redis_read_on_another_process_and_shredded(
        clienta_server: ServerProcess, org: OrgHandle, db: Database, redis_url: str,
        tmp_path: Path) -> None:
    """The snapshot of a live stream: Redis holds only sealed records, another process
    (its own keyring) reads the text back, and after the visitor's erasure it reads none."""
    marker = f"st{uuid.uuid4().hex[:12]}"
    conversation_id, visitor_id = await _chat(clienta_server, org, marker + "c")
    org_id, conv = UUID(org.org_id), str(conversation_id)
    writer_broker, reader_broker = RedisBroker(redis_url), RedisBroker(redis_url)
    writer = StreamTexts(writer_broker.command, db)
    reader_db = Database(db.pool, db.message_pool, keys=_keyring(TEST_MASTER_KEY))
    reader = StreamTexts(reader_broker.command, reader_db)
    stream_id = f"s-{uuid.uuid4().hex[:8]}"
    try:
        await writer.start(conv, stream_id, org_id)
        deltas = [f"{marker} first ", "second ", f"third {marker}"]
        for delta in deltas:
            await writer.append(conv, stream_id, delta)
        assert await reader.get(conv) == (stream_id, "".join(deltas))
        raw = await reader_broker.command("GET", f"bs:{conv}")
        assert marker.encode() not in raw and b"second" not in raw
        assert await _redis_hits(redis_url, marker) == []

        # records moved out of their place do not open: the text stops there
        header, *records = raw.split(b"\n")[:-1][1:]
        await reader_broker.command("SET", f"bs:{conv}", b"\n".join(
            [stream_id.encode(), header, records[1], records[0], b""]), "PX", 3000)
        assert await reader.get(conv) == (stream_id, "")

        keys = KeyService(db, AuditLog(db), ErasureLedger(tmp_path / "erasures.jsonl"))
        await keys.erase_visitor(org_id, visitor_id, Actor.system("test"))
        await writer.end(conv, stream_id)
        after_db = Database(db.pool, db.message_pool, keys=_keyring(TEST_MASTER_KEY))
        await writer.start(conv, stream_id, org_id)  # what a stream after it would keep
        await writer.append(conv, stream_id, f"{marker} after")
        assert await StreamTexts(reader_broker.command, after_db).get(conv) == (stream_id, "")
        assert await _redis_hits(redis_url, marker) == []
    finally:
        await writer.end(conv, stream_id)
        await writer.close()
        await reader.close()
        await writer_broker.close()
        await reader_broker.close()


async def test_the_backfill_seals_follow_ups_ratings_and_questions_stored_before(
        clienta_server: ServerProcess, org: OrgHandle, db: Database) -> None:
    """Values stored in clear before they were sealed on write: the start-up backfill
    (clienta keys encrypt-existing) seals them, and the read paths show the same text."""
    marker = f"bf{uuid.uuid4().hex[:12]}"
    conversation_id, _ = await _chat(clienta_server, org, marker + "c")
    org_id, question_id = UUID(org.org_id), uuid.uuid4()
    async with db.unit_of_work(org_id) as conn:
        await conn.execute("UPDATE conversations SET followup_email = $2, csat_score = 5,"
                           " csat_comment = $3 WHERE id = $1", conversation_id,
                           f"{marker}@old.test", f"{marker} old comment")
        await conn.execute("INSERT INTO kb_unanswered (id, org_id, conversation_id, question)"
                           " VALUES ($1, $2, $3, $4)", question_id, org_id, conversation_id,
                           f"{marker} old question")
        before = await convs.opened(conn, db.keys, await convs.get(conn, org_id,
                                                                  conversation_id))
    assert before.followup_email == f"{marker}@old.test"  # read as it is, in clear

    assert await backfill.run(db) >= 2
    async with db.pool.acquire() as conn:
        # (the messages' client ids, which _chat derives from the marker, are not sealed)
        hits = await _raw_sql_hits(conn, marker)
        assert not {"public.conversations", "public.kb_unanswered"} & set(hits)
        assert org_id not in [r[0] for r in await conn.fetch(
            "SELECT * FROM clienta_orgs_to_seal()")]
    fresh = Database(db.pool, db.message_pool, keys=_keyring(TEST_MASTER_KEY))
    async with fresh.unit_of_work(org_id) as conn:
        after = await convs.opened(conn, fresh.keys, await convs.get(conn, org_id,
                                                                    conversation_id))
        questions = await kb_review.list_unanswered(conn, fresh.keys, org_id, limit=500)
    assert (after.followup_email, after.csat_comment) == (f"{marker}@old.test",
                                                          f"{marker} old comment")
    assert f"{marker} old question" in [q.question for q in questions]
