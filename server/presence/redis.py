"""Agent presence in Redis: one member per agent connection, scored by its expiry time.

A process keeps its own agent connections fresh with one sweep every third of the TTL:
one ZADD per (org, status) key for all of them, not a task and a round trip per
connection (500 agents' own timers cost a hub ~5 % of its CPU under fan-out load). A
process that dies stops refreshing, so its agents drop out within one TTL with no
cleanup needed. Commands go through the broker's auto-pipelined command connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from uuid import UUID

log = logging.getLogger("clienta.presence")

Commands = Callable[..., Awaitable[list[Any]]]
MEMBERS_PER_COMMAND = 1000  # keeps one ZADD from holding Redis for long
Entry = tuple[UUID, UUID, bool]  # org, user, away


class RedisPresence:
    def __init__(self, commands: Commands, ttl_s: float) -> None:
        self.commands = commands
        self.ttl_s = ttl_s
        self._local: dict[str, Entry] = {}  # this process's agent connections
        self._sweeper: asyncio.Task[None] | None = None

    @staticmethod
    def _key(org_id: UUID, status: str) -> str:
        return f"pr:{org_id}:{status}"

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._keep_fresh(), name="presence")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def track(self, org_id: UUID, user_id: UUID, conn_id: str, away: bool) -> None:
        """A local agent connection arrived or changed status: write it now (moving it
        out of the other status) and keep it fresh from then on."""
        self._local[conn_id] = (org_id, user_id, away)
        here, other = ("away", "online") if away else ("online", "away")
        member = f"{user_id}:{conn_id}"
        await self.commands(
            ("ZADD", self._key(org_id, here), time.time() + self.ttl_s, member),
            ("ZREM", self._key(org_id, other), member),
            ("EXPIRE", self._key(org_id, here), self._key_ttl()),
        )

    async def remove(self, org_id: UUID, user_id: UUID, conn_id: str) -> None:
        self._local.pop(conn_id, None)
        member = f"{user_id}:{conn_id}"
        await self.commands(("ZREM", self._key(org_id, "online"), member),
                            ("ZREM", self._key(org_id, "away"), member))

    def _key_ttl(self) -> int:
        return int(self.ttl_s * 4) + 1

    async def refresh_all(self) -> None:
        """One write for every local connection, grouped by key."""
        if not self._local:
            return
        await self.commands(*self._refresh_commands(self._local.items()))

    def _refresh_commands(self, entries: Iterable[tuple[str, Entry]]) -> list[tuple[Any, ...]]:
        expires = time.time() + self.ttl_s
        by_key: dict[str, list[Any]] = {}
        for conn_id, (org_id, user_id, away) in entries:
            key = self._key(org_id, "away" if away else "online")
            by_key.setdefault(key, []).extend((expires, f"{user_id}:{conn_id}"))
        out: list[tuple[Any, ...]] = []
        step = 2 * MEMBERS_PER_COMMAND
        for key, pairs in by_key.items():
            out += [("ZADD", key, *pairs[i : i + step]) for i in range(0, len(pairs), step)]
            out.append(("EXPIRE", key, self._key_ttl()))
        return out

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self.refresh_all()
            except Exception:
                log.warning("presence refresh failed; retrying next round")

    async def users(self, org_id: UUID, status: str = "online") -> set[UUID]:
        """Agents with at least one live connection in this status."""
        key = self._key(org_id, status)
        now = time.time()
        _, members = await self.commands(("ZREMRANGEBYSCORE", key, "-inf", now),
                                         ("ZRANGEBYSCORE", key, now, "+inf"))
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
