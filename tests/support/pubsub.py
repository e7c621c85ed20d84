"""An in-process pub/sub for tests of the hub alone (server.broker.base.PubSub): delivery
at once, in this process; subclasses hold or fail publishes. The server itself always runs
with Redis (the CLI starts an embedded one), so there is no in-memory broker there."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from server.broker.base import OnMessage, OnResync


class InProcessPubSub:
    def __init__(self) -> None:
        self._channels: set[str] = set()
        self._on_message: OnMessage | None = None

    @property
    def healthy(self) -> bool:
        return True

    @property
    def reconnects(self) -> int:
        return 0

    async def start(self, on_message: OnMessage, on_resync: OnResync) -> None:
        self._on_message = on_message

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    def publish(self, channel: str, data: bytes) -> Awaitable[None]:
        """Delivered at once, as the interface asks of a publish (issued before the
        caller's next step); the returned future is already done."""
        if self._on_message is not None and channel in self._channels:
            self._on_message(channel, data)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def close(self) -> None:
        self._channels.clear()
