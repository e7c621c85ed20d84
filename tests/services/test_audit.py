"""The audit log against the real database: append-only whoever asks, entries written with
the change they record, keyset pages, one org's entries only, and nothing a person typed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from server.domain.audit import (
    Actor,
    AuditAction,
    AuditFilter,
    Cursor,
    Target,
    TargetKind,
)
from server.domain.passwords import PasswordPolicy
from server.mail.files import FileMailer
from server.services.accounts import AccountError, AccountService
from server.services.audit import AuditLog
from server.services.mail_outbox import MailOutbox
from server.services.orgs import OrgDirectory
from server.storage.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")

MARK = "zq7audit"
PASSWORD = "correct-horse-battery"


async def _rows(db: Database, org_id: uuid.UUID | str) -> list[asyncpg.Record]:
    async with db.pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM audit_log WHERE org_id = $1 ORDER BY id",
                                uuid.UUID(str(org_id)))


async def test_the_database_refuses_update_delete_and_truncate(db: Database) -> None:
    org_id = uuid.uuid4()
    await AuditLog(db).record_alone(org_id, Actor.system("test"), AuditAction.BACKUP_CREATED,
                                    Target(TargetKind.DATABASE))
    async with db.pool.acquire() as conn:
        for sql in ("UPDATE audit_log SET action = 'x' WHERE org_id = $1",
                    "DELETE FROM audit_log WHERE org_id = $1"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(sql, org_id)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("TRUNCATE audit_log")
        held = {p: await conn.fetchval(
            "SELECT has_table_privilege('clienta_serving', 'audit_log', $1)", p)
            for p in ("INSERT", "SELECT", "UPDATE", "DELETE", "TRUNCATE")}
    assert held == {"INSERT": True, "SELECT": True, "UPDATE": False, "DELETE": False,
                    "TRUNCATE": False}
    rows = await _rows(db, org_id)
    assert [r["action"] for r in rows] == [AuditAction.BACKUP_CREATED.value]


async def test_entries_carry_no_name_email_or_setting_value(db: Database,
                                                            tmp_path: Path) -> None:
    audit = AuditLog(db)
    accounts = AccountService(db, 3600, PasswordPolicy(), MailOutbox(db, FileMailer(tmp_path)),
                              audit=audit)
    owner_email = f"{MARK}-owner-{uuid.uuid4().hex[:8]}@example.com"
    out = await accounts.signup(f"Org {MARK}", owner_email, PASSWORD, f"Name {MARK}",
                                "203.0.113.77")
    org_id = uuid.UUID(out["org_id"])
    owner = await accounts.authenticate(out["token"])
    assert owner is not None
    email = f"{MARK}-agent-{uuid.uuid4().hex[:8]}@example.com"
    user_id = await accounts.create_user(owner, email, PASSWORD, f"Agent {MARK}", "agent",
                                         "2001:db8:abcd:12::1")
    with pytest.raises(AccountError):
        await accounts.login(email, f"wrong {MARK} password", "203.0.113.9")
    await accounts.login(email, PASSWORD, "203.0.113.9")
    await OrgDirectory(db, audit=audit).update_settings(
        org_id, allowed_origins=[f"https://{MARK}.example"], assignment=None,
        agent_capacity=None, actor=Actor.user(owner.user_id, "203.0.113.77"))
    rows = await _rows(db, org_id)
    assert [r["action"] for r in rows] == [
        "org.created", "user.created", "auth.sign_in_failed", "auth.sign_in",
        "org.settings_changed"]
    assert MARK not in repr([dict(r) for r in rows])
    assert PASSWORD not in repr([dict(r) for r in rows])
    created, failed, settings = rows[1], rows[2], rows[4]
    assert (created["actor_id"], created["target_id"]) == (owner.user_id, uuid.UUID(user_id))
    assert created["detail"] == {"role": "agent"}
    assert created["ip"] == "2001:db8:abcd::"  # /48: the host part is never stored
    assert failed["actor_kind"] == "anonymous" and failed["ip"] == "203.0.113.0"
    assert settings["detail"] == {"settings": ["allowed_origins"]}
    assert {r["ip"] for r in rows} <= {"203.0.113.0", "2001:db8:abcd::"}


async def test_an_entry_is_written_with_its_change_or_not_at_all(db: Database,
                                                                 tmp_path: Path) -> None:
    accounts = AccountService(db, 3600, PasswordPolicy(), MailOutbox(db, FileMailer(tmp_path)))
    out = await accounts.signup("Org", f"o-{uuid.uuid4().hex[:8]}@example.com", PASSWORD, "")
    owner = await accounts.authenticate(out["token"])
    assert owner is not None
    email = f"a-{uuid.uuid4().hex[:8]}@example.com"
    await accounts.create_user(owner, email, PASSWORD, "", "agent")
    with pytest.raises(AccountError):  # taken: the transaction and its entry roll back
        await accounts.create_user(owner, email, PASSWORD, "", "admin")
    actions = [r["action"] for r in await _rows(db, out["org_id"])]
    assert actions == ["org.created", "user.created"]


async def test_a_failed_sign_in_without_an_account_is_in_no_org(db: Database,
                                                                tmp_path: Path) -> None:
    accounts = AccountService(db, 3600, PasswordPolicy(), MailOutbox(db, FileMailer(tmp_path)))
    async with db.pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM audit_log WHERE ip = '198.51.100.0'")
    with pytest.raises(AccountError):
        await accounts.login(f"nobody-{uuid.uuid4().hex}@example.com", PASSWORD,
                             "198.51.100.200")
    async with db.pool.acquire() as conn:
        after = await conn.fetchval("SELECT count(*) FROM audit_log WHERE ip = '198.51.100.0'")
    assert after == before


async def test_pages_are_keyset_newest_first_and_per_org(db: Database) -> None:
    audit = AuditLog(db)
    org_a, org_b = uuid.uuid4(), uuid.uuid4()
    doc = uuid.uuid4()
    for _ in range(7):
        await audit.record_alone(org_a, Actor.system("job"), AuditAction.KB_DOCUMENT_ADDED,
                                 Target(TargetKind.DOCUMENT, doc))
    await audit.record_alone(org_b, Actor.system("job"), AuditAction.KB_DOCUMENT_ADDED,
                             Target(TargetKind.DOCUMENT, doc))
    seen: list[int] = []
    cursor: Cursor | None = None
    pages = 0
    while True:
        items, cursor = await audit.page(org_a, AuditFilter(), cursor, 3)
        seen += [e.id for e in items]
        pages += 1
        if pages == 1:  # a newer entry mid-way is neither repeated nor makes one skip
            await audit.record_alone(org_a, Actor.system("job"), AuditAction.KB_REINDEXED)
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 7 == len(set(seen)) and seen == sorted(seen)[::-1]
    only_b, _ = await audit.page(org_b, AuditFilter(), None, 50)
    assert len(only_b) == 1
    by_target, _ = await audit.page(org_a, AuditFilter(target_id=doc), None, 50)
    assert len(by_target) == 7
    later = datetime.now(UTC) + timedelta(hours=1)
    assert (await audit.page(org_a, AuditFilter(since=later), None, 50))[0] == []
    reindexed, _ = await audit.page(org_a, AuditFilter(action=AuditAction.KB_REINDEXED),
                                    None, 50)
    assert len(reindexed) == 1 and reindexed[0].actor.label == "job"
