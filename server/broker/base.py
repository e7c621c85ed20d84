"""The broker interface: a doorbell between processes (Postgres stays the record), and the
shared key-value commands of live state (stream texts, presence, rate-limit counters)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

OnMessage = Callable[[str, bytes], None]
OnResync = Callable[[], Coroutine[Any, Any, None]]  # run as a task
Command = Callable[..., Awaitable[Any]]  # (name, *args) -> the reply
Commands = Callable[..., Awaitable[list[Any]]]  # (*(name, *args)) -> the replies, in order


class PubSub(Protocol):
    """The doorbell alone: all the hub needs."""

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


class Broker(PubSub, Protocol):
    """The doorbell and the key-value commands every process shares (Redis's command set:
    there is one implementation, `redis.RedisBroker`)."""

    async def command(self, *args: Any) -> Any:
        """One command; those issued together share a round trip."""
        ...

    async def commands(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Several commands in one write; their replies in order."""
        ...
