"""The broker interface: a doorbell between processes. Postgres stays the record."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

OnMessage = Callable[[str, bytes], None]
OnResync = Callable[[], Awaitable[None]]


class Broker(Protocol):
    @property
    def healthy(self) -> bool: ...

    @property
    def reconnects(self) -> int: ...

    async def start(self, on_message: OnMessage, on_resync: OnResync) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    def publish(self, channel: str, data: bytes) -> Awaitable[object]:
        """Issue the publish now (before the caller's next step runs); await the result."""
        ...

    async def close(self) -> None: ...
