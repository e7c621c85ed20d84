"""Agent presence against the session's real Redis: one sweep per process keeps every
local agent connection fresh; status changes move a member; removal is immediate."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from server.broker.redis import RedisBroker
from server.presence.redis import MEMBERS_PER_COMMAND, RedisPresence

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_tracked_connections_outlive_the_ttl_only_while_the_process_sweeps(
        redis_url: str) -> None:
    broker = RedisBroker(redis_url)
    presence = RedisPresence(broker.commands, ttl_s=1.0)
    org, ploy, nok = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        await presence.track(org, ploy, "c1", away=False)
        await presence.track(org, nok, "c2", away=False)
        assert await presence.users(org) == {ploy, nok}
        presence.start()
        # three TTLs: without the sweep both members would have expired twice over
        await asyncio.sleep(3.0)
        assert await presence.users(org) == {ploy, nok}
        await presence.track(org, nok, "c2", away=True)  # moves, not copies
        assert await presence.users(org) == {ploy}
        assert await presence.users(org, "away") == {nok}
        await presence.remove(org, ploy, "c1")
        assert await presence.users(org) == set()
        await presence.close()  # the process stops sweeping: what is left expires
        await asyncio.sleep(1.1)
        assert await presence.users(org, "away") == set()
    finally:
        await presence.close()
        await broker.close()


async def test_one_zadd_per_key_covers_many_connections(redis_url: str) -> None:
    broker = RedisBroker(redis_url)
    presence = RedisPresence(broker.commands, ttl_s=30)
    org, other_org = uuid.uuid4(), uuid.uuid4()
    agents = [uuid.uuid4() for _ in range(MEMBERS_PER_COMMAND + 5)]
    try:
        for i, user in enumerate(agents):
            presence._local[f"c{i}"] = (org, user, False)
        presence._local["x"] = (other_org, agents[0], True)
        commands = presence._refresh_commands(presence._local.items())
        # two ZADDs (the key's members split at the cap) + EXPIRE, then the other key's pair
        assert [c[0] for c in commands] == ["ZADD", "ZADD", "EXPIRE", "ZADD", "EXPIRE"]
        await presence.refresh_all()
        assert await presence.users(org) == set(agents)
        assert await presence.users(other_org, "away") == {agents[0]}
        assert await presence.users(other_org) == set()
    finally:
        await broker.close()
