"""Redis pub/sub: one subscription connection per process, supervised.

The subscription is `redis_sub.SubscriberProtocol` and publishing and the other hot
commands (stream texts, presence, rate limits) go through `redis_cmd.CommandProtocol`
(both raw hiredis: every room event passes through them).

The listener reconnects with backoff when Redis drops, resubscribes every channel the
process still needs, then calls `on_resync` so local clients catch up from Postgres on
what was published while the doorbell was broken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable
from typing import Any

from redis.exceptions import RedisError

from server.broker.base import OnMessage, OnResync
from server.broker.redis_cmd import CommandProtocol
from server.broker.redis_sub import SubscriberProtocol, open_redis, open_subscriber

log = logging.getLogger("clienta.broker")

COMMAND_TIMEOUT_S = 5.0  # a command unanswered this long means a hung Redis: reconnect


class RedisBroker:
    def __init__(self, url: str, *, command_timeout_s: float = COMMAND_TIMEOUT_S) -> None:
        self._url = url
        self.command_timeout_s = command_timeout_s
        self._channels: set[str] = set()
        # the subscription connection: idle reads never time out; a dead server shows as
        # EOF or a reset on the socket and the supervisor reconnects
        self._sub: SubscriberProtocol | None = None
        self._task: asyncio.Task[None] | None = None
        self._cmd: CommandProtocol | None = None
        self._cmd_lock = asyncio.Lock()
        self._watchdog: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._healthy = False
        self._reconnects = 0
        self._on_message: OnMessage | None = None
        self._on_resync: OnResync | None = None
        self._connected = asyncio.Event()
        # channel -> futures resolved when Redis confirms the subscription: a caller that
        # replays history after subscribing must know no publish can slip between the two
        self._confirm: dict[str, list[asyncio.Future[None]]] = {}

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def reconnects(self) -> int:
        return self._reconnects

    async def start(self, on_message: OnMessage, on_resync: OnResync) -> None:
        self._on_message = on_message
        self._on_resync = on_resync
        self._task = asyncio.create_task(self._supervise(), name="redis-listener")
        self._watchdog = asyncio.create_task(self._watch_commands(), name="redis-watchdog")
        # start-up waits briefly for the first connection; later outages only degrade
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), 5)

    async def _supervise(self) -> None:
        delay = 0.1
        first = True
        while True:
            sub: SubscriberProtocol | None = None
            try:
                sub = await open_subscriber(self._url, self._deliver, self._confirmed)
                if self._channels:
                    sub.send("SUBSCRIBE", *self._channels)
                self._sub = sub
                self._healthy = True
                self._connected.set()
                delay = 0.1
                if not first:
                    self._reconnects += 1
                    log.info("redis listener reconnected", extra={"channels": len(self._channels)})
                    if self._on_resync is not None:
                        self._resync_task = asyncio.create_task(self._on_resync())
                first = False
                await sub.closed
                raise ConnectionError("redis subscription closed")
            except asyncio.CancelledError:
                if sub is not None:
                    sub.close()
                raise
            except (RedisError, OSError) as exc:  # ConnectionError and timeouts included
                if self._healthy:
                    log.warning("redis listener lost", extra={"error": exc})
                self._healthy = False
                self._sub = None
                if sub is not None:
                    sub.close()
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)

    def _deliver(self, channel: str, data: bytes) -> None:
        assert self._on_message is not None
        try:
            self._on_message(channel, data)
        except Exception:
            log.exception("fan-out failed", extra={"channel": channel})

    def _confirmed(self, channel: str) -> None:
        for fut in self._confirm.pop(channel, ()):
            if not fut.done():
                fut.set_result(None)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        sub = self._sub
        if sub is None or not self._healthy:
            return  # the supervisor subscribes on reconnect, then resyncs from Postgres
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm.setdefault(channel, []).append(fut)
        try:
            sub.send("SUBSCRIBE", channel)
            await asyncio.wait_for(fut, 2.0)
        except TimeoutError:
            log.warning("subscription not confirmed in time", extra={"channel": channel})
        except OSError:
            pass  # the supervisor sees the same failure and reconnects
        finally:
            waiting = self._confirm.get(channel)
            if waiting is not None and fut in waiting:
                waiting.remove(fut)
                if not waiting:
                    del self._confirm[channel]

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        sub = self._sub
        if sub is not None and self._healthy:
            with contextlib.suppress(OSError):
                sub.send("UNSUBSCRIBE", channel)

    def publish(self, channel: str, data: bytes) -> Awaitable[Any]:
        return self._issue("PUBLISH", channel, data)

    async def command(self, *args: Any) -> Any:
        """Run a command: those issued in one loop iteration go out in one write, and
        replies come back in order on the one command connection (auto-pipelining)."""
        return await self._issue(*args)

    def _issue(self, *args: Any) -> Awaitable[Any]:
        """The command issued now on a live connection, so it leaves in this loop
        iteration's write ahead of work the caller does next (its reply's future);
        otherwise it is sent once a connection is up."""
        conn = self._cmd
        if conn is not None and not conn.lost:
            return conn.call(*args)
        return self._issue_connected(*args)

    async def _issue_connected(self, *args: Any) -> Any:
        conn = await self._command_connection()
        return await conn.call(*args)

    async def commands(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Several commands in one write; their replies in order. Issued at once when
        the connection is up, so what the caller read just before is what gets sent."""
        conn = self._cmd
        if conn is None or conn.lost:
            conn = await self._command_connection()
        return await asyncio.gather(*[conn.call(*args) for args in commands])

    async def _command_connection(self) -> CommandProtocol:
        async with self._cmd_lock:  # one connect however many callers find it gone
            if self._cmd is None or self._cmd.lost:
                self._cmd = await open_redis(self._url, CommandProtocol)
            return self._cmd

    async def _watch_commands(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.command_timeout_s / 2))
            conn = self._cmd
            if conn is not None and conn.oldest_wait() > self.command_timeout_s:
                log.warning("redis commands unanswered: reconnecting")
                conn.abort()  # every waiting caller gets a ConnectionError

    async def close(self) -> None:
        for task in (self._task, self._watchdog):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._cmd is not None:
            self._cmd.close()
