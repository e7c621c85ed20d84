"""AccountService against the real database: expired bearer tokens are purged."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.domain.passwords import PasswordPolicy
from server.domain.roles import Role
from server.mail.files import FileMailer
from server.services.accounts import AccountService, hash_token
from server.services.mail_outbox import MailOutbox
from server.storage import accounts as store
from server.storage.db import Database, set_tenant

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _user_with_tokens(db: Database, **expiring_in: timedelta) -> uuid.UUID:
    org_id, user_id = uuid.uuid4(), uuid.uuid4()
    async with db.unscoped() as conn:
        await store.insert_org(conn, org_id, "Purge", f"sk_{org_id.hex}")
        await set_tenant(conn, org_id)
        assert await store.insert_user(conn, user_id, org_id, f"{org_id.hex}@example.com",
                                       "P", Role.AGENT, "not-a-hash")
        for token, delta in expiring_in.items():
            await store.insert_token(conn, hash_token(token), org_id, user_id,
                                     datetime.now(UTC) + delta)
    return user_id


async def _tokens_of(db: Database, user_id: uuid.UUID) -> set[bytes]:
    async with db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT token_hash FROM auth_tokens WHERE user_id = $1",
                                user_id)
    return {bytes(r["token_hash"]) for r in rows}


async def test_one_purge_removes_expired_tokens_only(db: Database, tmp_path: Path) -> None:
    accounts = AccountService(db, 3600, PasswordPolicy(),
                              MailOutbox(db, FileMailer(tmp_path)))
    user_id = await _user_with_tokens(db, old=timedelta(days=-1), live=timedelta(hours=1))
    assert len(await _tokens_of(db, user_id)) == 2
    assert await accounts.purge_expired_tokens() >= 1
    assert await _tokens_of(db, user_id) == {hash_token("live")}
    assert await accounts.authenticate("live") is not None


async def test_the_started_service_purges_at_once(db: Database, tmp_path: Path) -> None:
    """start() runs a purge straight away (then every interval) and close() ends it."""
    user_id = await _user_with_tokens(db, gone=timedelta(seconds=-1))
    accounts = AccountService(db, 3600, PasswordPolicy(),
                              MailOutbox(db, FileMailer(tmp_path)))
    accounts.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while await _tokens_of(db, user_id):
            assert loop.time() < deadline, "the expired token was never purged"
            await asyncio.sleep(0.05)
    finally:
        await accounts.close()
