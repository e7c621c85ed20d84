"""The site-key directory against the real Postgres: a cold cache asked by many visitors
at once (every visitor's hello after a restart) costs one query, not one each."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from server.domain.audit import Actor
from server.services.orgs import OrgDirectory
from server.storage import accounts
from server.storage.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def new_org(db: Database) -> tuple[uuid.UUID, str]:
    org_id, site_key = uuid.uuid4(), uuid.uuid4().hex
    async with db.unit_of_work(org_id) as conn:
        await accounts.insert_org(conn, org_id, "directory", site_key)
    return org_id, site_key


async def test_concurrent_misses_of_one_key_share_one_query(db: Database) -> None:
    (org_a, key_a), (org_b, key_b) = await new_org(db), await new_org(db)
    directory = OrgDirectory(db)
    asks = [key_a] * 300 + [key_b] * 200 + ["no-such-key"] * 50
    found = await asyncio.gather(*(directory.by_site_key(k) for k in asks))
    assert directory.queries == 3
    assert {o.id for o in found[:300] if o} == {org_a}
    assert {o.id for o in found[300:500] if o} == {org_b}
    assert found[500:] == [None] * 50
    assert await directory.by_site_key(key_a) is found[0]  # then cached
    assert directory.queries == 3


async def test_a_caller_that_gives_up_does_not_cancel_the_others(db: Database) -> None:
    org_id, key = await new_org(db)
    directory = OrgDirectory(db)
    first = asyncio.ensure_future(directory.by_site_key(key))
    second = asyncio.ensure_future(directory.by_site_key(key))
    await asyncio.sleep(0)  # both are waiting on the one lookup
    first.cancel()
    org = await second
    assert org is not None and org.id == org_id
    assert directory.queries == 1


async def test_changed_settings_are_seen_at_once_by_this_process(db: Database) -> None:
    org_id, key = await new_org(db)
    directory = OrgDirectory(db)
    assert (await directory.by_site_key(key)).allowed_origins == []  # type: ignore[union-attr]
    org = await directory.update_settings(org_id, allowed_origins=["https://shop.example"],
                                          assignment="auto", agent_capacity=None,
                                          actor=Actor.system("test"))
    assert (org.allowed_origins, org.assignment) == (["https://shop.example"], "auto")
    cached = await directory.by_site_key(key)
    assert cached is not None and cached.allowed_origins == ["https://shop.example"]
    assert await directory.by_id(org_id) == cached


async def test_a_site_key_no_issued_key_could_be_is_not_looked_up(db: Database) -> None:
    # a NUL or a lone surrogate reached Postgres from /v1/widget/config (500, found by the
    # schemathesis run); nothing of that shape is ever issued
    directory = OrgDirectory(db)
    for key in ("sk_\x00x", "sk_\ud800", "sk x", "a" * 129, ""):
        assert await directory.by_site_key(key) is None
