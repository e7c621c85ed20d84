"""Redis pub/sub: one subscription connection per process, supervised.

The subscription is `redis_sub.SubscriberProtocol` (raw hiredis; every room event passes
through it); publishing and other commands use redis-py's client, auto-pipelined.

The listener reconnects with backoff when Redis drops, resubscribes every channel the
process still needs, then calls `on_resync` so local clients catch up from Postgres on
what was published while the doorbell was broken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from server.broker.base import OnMessage, OnResync
from server.broker.redis_sub import SubscriberProtocol, open_subscriber

log = logging.getLogger("clienta.broker")


class RedisBroker:
    def __init__(self, url: str) -> None:
        self._url = url
        # publishing and the other key commands share one pooled client
        self.client: aioredis.Redis = aioredis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=10
        )
        self._channels: set[str] = set()
        # the subscription connection: idle reads never time out; a dead server shows as
        # EOF or a reset on the socket and the supervisor reconnects
        self._sub: SubscriberProtocol | None = None
        self._task: asyncio.Task[None] | None = None
        self._outgoing: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
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
                    log.warning("redis listener lost", extra={"error": repr(exc)})
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

    async def publish(self, channel: str, data: bytes) -> None:
        await self.command("PUBLISH", channel, data)

    async def command(self, *args: Any) -> Any:
        """Run a command in the next pipeline: commands issued while one pipeline is in
        flight go out together in the next, in order (auto-pipelining). Under load a
        process sends one round trip for many publishes instead of one each."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._outgoing.append((args, fut))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="redis-pipeline")
        return await fut

    async def _flush(self) -> None:
        try:
            while self._outgoing:
                batch, self._outgoing = self._outgoing, []
                try:
                    pipe = self.client.pipeline(transaction=False)
                    for args, _ in batch:
                        pipe.execute_command(*args)
                    results = await pipe.execute(raise_on_error=False)
                except Exception as exc:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(result, Exception):
                        fut.set_exception(result)
                    else:
                        fut.set_result(result)
        finally:
            self._flusher = None

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.client.ping(), 2))
        except Exception:
            return False

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.aclose()
