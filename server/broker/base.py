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

    async def publish(self, channel: str, data: bytes) -> None: ...

    async def close(self) -> None: ...
