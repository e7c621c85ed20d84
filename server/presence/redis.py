"""Agent presence in Redis: one member per agent connection, scored by its expiry time.

Connections refresh their member every third of the TTL; a process that dies stops
refreshing, so its agents drop out within one TTL with no cleanup needed.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID


class RedisPresence:
    def __init__(self, redis: Any, ttl_s: float) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    @staticmethod
    def _key(org_id: UUID, status: str) -> str:
        return f"pr:{org_id}:{status}"

    async def refresh(self, org_id: UUID, user_id: UUID, conn_id: str, away: bool) -> None:
        member = f"{user_id}:{conn_id}"
        expires = time.time() + self.ttl_s
        here, other = ("away", "online") if away else ("online", "away")
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self._key(org_id, here), {member: expires})
        pipe.zrem(self._key(org_id, other), member)
        pipe.expire(self._key(org_id, here), int(self.ttl_s * 4) + 1)
        await pipe.execute()

    async def remove(self, org_id: UUID, user_id: UUID, conn_id: str) -> None:
        member = f"{user_id}:{conn_id}"
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(self._key(org_id, "online"), member)
        pipe.zrem(self._key(org_id, "away"), member)
        await pipe.execute()

    async def users(self, org_id: UUID, status: str = "online") -> set[UUID]:
        """Agents with at least one live connection in this status."""
        key = self._key(org_id, status)
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zrangebyscore(key, now, "+inf")
        _, members = await pipe.execute()
        out = set()
        for member in members:
            raw = member.decode() if isinstance(member, bytes) else member
            out.add(UUID(raw.split(":", 1)[0]))
        return out

    async def online_count(self, org_id: UUID) -> int:
        try:
            return len(await self.users(org_id, "online"))
        except Exception:
            # Redis down: do not claim nobody is there; the visitor keeps waiting politely
            return 1
