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

from server.domain.audit import Actor
from server.services.audit import AuditLog
from server.services.keys import ErasureLedger, KeyService
from server.storage import messages
from server.storage.db import Database
from server.storage.envelope import MasterKey, MasterKeys, Undecryptable
from server.storage.keys import Keyring
from tests.conftest import TEST_MASTER_KEY
from tests.support.api import OrgHandle
from tests.support.processes import ServerProcess
from tests.support.wsclient import visitor

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
