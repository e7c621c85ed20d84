"""Pieces the scenarios share: steady senders, agent accounts, merging worker answers."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.clients import Client
from bench.http_api import AgentAccount, Api, Org
from bench.memo import stamp


@dataclass(slots=True)
class SendLog:
    """What one worker's senders did: ids acked, ack wall times, failures."""

    sent: int = 0
    skipped: int = 0  # ticks skipped because the socket had too many messages in flight
    acked: dict[str, int] = field(default_factory=dict)  # client id -> seq
    ack_times: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def track(self, client_id: str, fut: asyncio.Future[int]) -> None:
        self.sent += 1

        def done(f: asyncio.Future[int]) -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                if len(self.failures) < 20:
                    self.failures.append(str(exc))
                return
            self.acked[client_id] = f.result()
            self.ack_times.append(time.time())

        fut.add_done_callback(done)


def mono_at(wall: float) -> float:
    """A wall-clock instant from another process as this process's monotonic time."""
    return time.monotonic() + (wall - time.time())


async def ticks(rate: float, start_wall: float, duration_s: float) -> AsyncIterator[int]:
    """Yield 1, 2, ... at a steady rate on absolute times (no drift) until `duration_s`
    after `start_wall`. Each sender gets a random phase within one period: senders that
    all started together would otherwise fire in the same instant, every period, and the
    server under test would see one burst of every room's message at a time."""
    start = mono_at(start_wall) + random.random() / rate
    end = mono_at(start_wall) + duration_s
    i = 0
    while start + i / rate < end:
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        i += 1
        yield i


async def pump(
    client: Client, rate: float, start_wall: float, duration_s: float, log: SendLog,
    pad: int = 0, on_sent: Callable[[str], None] | None = None, max_in_flight: int = 4,
    **extra: Any,
) -> None:
    """Send stamped `msg` frames at a steady rate, scheduled on absolute times (no drift).

    Like a person, a socket does not run far ahead of its acks: a tick that finds
    `max_in_flight` messages unacked is skipped (counted), so an overloaded server shows
    as lower throughput rather than as an ever-growing queue.
    """
    async for _ in ticks(rate, start_wall, duration_s):
        if client.in_flight >= max_in_flight:
            log.skipped += 1
            continue
        client_id = client.next_id()
        log.track(client_id, client.send_msg(stamp(client_id, pad), client_id, **extra))
        if on_sent is not None:
            on_sent(client_id)


async def keep_connected(client: Client, limit_s: float = 30.0) -> None:
    """Reconnect and resume whenever the server drops the socket (1012 means: come back).

    Cancel this task before closing the client on purpose.
    """
    while True:
        await client.closed.wait()
        await client.reconnect(time.monotonic() + limit_s)


async def settle(check: Callable[[], bool], limit_s: float, step_s: float = 0.05) -> bool:
    """Poll until `check()` holds or `limit_s` passes; whether it held."""
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(step_s)
    return True


async def settle_progress(
    done: Callable[[], bool], progress: Callable[[], int], idle_s: float, limit_s: float
) -> bool:
    """Wait for `done()`, as long as `progress()` keeps moving: an overloaded server still
    draining its backlog gets time, a stalled one does not. Whether `done()` held."""
    deadline = time.monotonic() + limit_s
    last, last_change = progress(), time.monotonic()
    while not done():
        now = time.monotonic()
        current = progress()
        if current != last:
            last, last_change = current, now
        if now - last_change >= idle_s or now >= deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def agent_accounts(api: Api, org: Org, count: int) -> list[AgentAccount]:
    """A few agent users (password hashing makes each one costly); sockets share them."""
    accounts = []
    for n in range(count):
        accounts.append(await api.create_agent(org, n))
    return accounts


def merged(answers: Iterable[dict[str, Any]], key: str) -> list[Any]:
    return [x for a in answers for x in a.get(key, [])]


def total(answers: Iterable[dict[str, Any]], key: str) -> int:
    return sum(int(a.get(key, 0)) for a in answers)


async def bounded_gather(jobs: Iterable[Any], limit: int) -> list[Any]:
    """Run coroutines with at most `limit` in flight; exceptions propagate."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(one(j) for j in jobs))
