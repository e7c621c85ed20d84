"""`clienta backup` and `clienta restore` end to end (docs/operations.md): conversations
stored by a real server on a database of their own, an encrypted archive written by the
CLI with pgserver's pg_dump, refused when a byte is flipped or the end is cut, restored
into an empty database (and refused into one that is not), an erasure made after the
backup honoured by the restored copy, and both steps in the audit log."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
import pgserver
import pytest
import pytest_asyncio

from server.domain.audit import Actor
from server.services.audit import AuditLog
from server.services.keys import ErasureLedger, KeyService
from server.storage import messages
from server.storage.db import Database
from server.storage.envelope import MasterKey, MasterKeys
from server.storage.keys import Keyring
from server.storage.migrate import apply_migrations
from tests.conftest import TEST_MASTER_KEY
from tests.support.api import signup
from tests.support.processes import ROOT, ServerProcess
from tests.support.wsclient import visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")

PG_BIN = Path(pgserver.__file__).parent / "pginstall" / "bin"


def _on(url: str, database: str) -> str:
    return urlsplit(url)._replace(path="/" + database).geturl()


def _keyring() -> Keyring:
    return Keyring(MasterKeys(MasterKey.parse(TEST_MASTER_KEY)))


@pytest_asyncio.fixture(loop_scope="session")
async def databases(database_url: str) -> AsyncIterator[Callable[[], str]]:
    """Makes new empty databases on the session's server (as its superuser); drops them."""
    made: list[str] = []
    admin = await asyncpg.connect(database_url)

    async def make() -> str:
        name = f"bk_{uuid.uuid4().hex[:10]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return _on(database_url, name)

    try:
        yield make  # type: ignore[misc]
    finally:
        for name in made:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    return proc.returncode or 0, out.decode(), err.decode()


async def _chat(server: ServerProcess, site_key: str, marker: str) -> UUID:
    guest, welcome = await visitor(server.ws_url, site_key)
    await guest.send({"t": "identify", "name": f"{marker} name", "email": f"{marker}@v.test"})
    for n in (1, 2):
        await guest.send({"t": "msg", "id": f"{marker}-{n}", "text": f"{marker} question {n}"})
        await guest.expect("ack", id=f"{marker}-{n}")
    await guest.close()
    return UUID(welcome["conversation_id"])


async def _texts(url: str, org_id: str, conversation_id: UUID) -> list[str]:
    db = await Database.connect(url, min_size=1, max_size=1, keys=_keyring())
    try:
        async with db.unit_of_work(org_id) as conn:
            events = await messages.after(conn, db.keys, UUID(org_id), conversation_id, 0,
                                          include_notes=True)
    finally:
        await db.close()
    return [e.text for e in events]


async def _count(url: str, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


async def test_backup_restore_round_trip_refusals_and_an_erasure_after_the_backup(
        databases: Callable[[], str], app_database_url: str,
        make_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    source = await databases()
    await apply_migrations(source)
    server = await asyncio.to_thread(make_server, {
        "DATABASE_URL": _on(app_database_url, urlsplit(source).path.lstrip("/"))})
    org = await signup(server.url, "Backup Org")
    marker = f"bk{uuid.uuid4().hex[:10]}"
    erased_conv = await _chat(server, org.site_key, marker + "x")
    kept_conv = await _chat(server, org.site_key, marker + "k")
    ledger = tmp_path / "erasures.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTA_")}
    env.update({"DATABASE_URL": source, "REDIS_URL": "redis://127.0.0.1:1",
                "CLIENTA_HOME": str(tmp_path / "home"), "CLIENTA_MASTER_KEY": TEST_MASTER_KEY,
                "CLIENTA_PG_BIN": str(PG_BIN), "CLIENTA_ERASURE_LEDGER": str(ledger)})

    archive = tmp_path / "clienta.backup"
    code, out, err = await _cli(env, "backup", "--out", str(archive))
    assert code == 0, err[-2000:]
    assert "backup written" in out
    data = archive.read_bytes()
    assert b"PGDMP" not in data and marker.encode() not in data  # encrypted, not a dump
    assert os.stat(archive).st_mode & 0o077 == 0
    code, _, err = await _cli(env, "backup", "--out", str(archive))
    assert code == 2 and "never overwrites" in err

    # after the backup, the visitor asks to be erased
    async with _owner(source) as db:
        async with db.pool.acquire() as conn:
            visitor_id = await conn.fetchval(
                "SELECT visitor_id FROM conversations WHERE id = $1", erased_conv)
        await KeyService(db, AuditLog(db), ErasureLedger(ledger)).erase_visitor(
            UUID(org.org_id), visitor_id, Actor.system("test"))

    target = await databases()
    flipped, cut = tmp_path / "flipped.backup", tmp_path / "cut.backup"
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0x01
    flipped.write_bytes(bytes(bad))
    cut.write_bytes(data[:-50])
    for broken in (flipped, cut):
        code, _, err = await _cli(env, "restore", str(broken), "--database-url", target)
        assert code == 2 and "archive refused" in err, err[-2000:]
        assert await _count(target, "SELECT count(*) FROM pg_tables"
                                    " WHERE schemaname = 'public'") == 0

    code, out, err = await _cli(env, "restore", str(archive), "--database-url", target)
    assert code == 0, err[-2000:]
    assert "erasures replayed: 1" in out
    opened = int(out.split("messages opened: ")[1].split()[0])
    assert opened >= 2  # the kept visitor's questions at least
    # the erased visitor stays erased; the other one reads; both steps audited
    assert set(await _texts(target, org.org_id, erased_conv)) == {""}
    assert f"{marker}k question 1" in await _texts(target, org.org_id, kept_conv)
    assert await _count(target, "SELECT count(*) FROM audit_log WHERE org_id = $1"
                                " AND action = 'backup.restored'", UUID(org.org_id)) == 1
    assert await _count(source, "SELECT count(*) FROM audit_log WHERE org_id = $1"
                                " AND action = 'backup.created'", UUID(org.org_id)) == 1
    code, _, err = await _cli(env, "restore", str(archive), "--database-url", target)
    assert code == 2 and "not empty" in err


class _owner:
    """A Database on `url` as its superuser, with the test master key."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db: Database | None = None

    async def __aenter__(self) -> Database:
        self.db = await Database.connect(self.url, min_size=1, max_size=2, keys=_keyring())
        return self.db

    async def __aexit__(self, *exc: object) -> None:
        assert self.db is not None
        await self.db.close()
