"""The command connection of the Redis broker: a raw asyncio Protocol over hiredis.

Every room event is a PUBLISH and every bot delta an APPEND too, so this is a hot path:
redis-py's pipeline spent ~8 % of a hub under chat load building a pipeline object per
batch, wrapping it in retries and parsing each reply in Python. Here the commands issued
in one loop iteration go out in one write, Redis answers in order, and each reply
resolves its caller's future: pipelining without a batch object, and a command issued
while others are in flight does not wait for them to come back.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from typing import Any

import hiredis

from server.broker.redis_sub import command


class RedisReplyError(Exception):
    """Redis answered a command with an error reply."""


class CommandProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        # each awaited reply's future and when it was asked for, in the order sent
        self._replies: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream connection's is a Transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        replies = self._replies
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError:
                self.abort()
                return
            if reply is False:
                return
            if not replies:  # a reply nobody asked for: the stream is out of step
                self.abort()
                return
            fut = replies.popleft()[0]
            if fut.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                fut.set_exception(RedisReplyError(str(reply)))
            else:
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        err = ConnectionError(f"redis command connection lost: {exc!r}")
        while self._replies:
            fut = self._replies.popleft()[0]
            if not fut.done():
                fut.set_exception(err)

    def call(self, *args: str | bytes | int | float) -> asyncio.Future[Any]:
        """Queue a command for this iteration's write; the future gets its reply."""
        if self.lost or self.transport is None or self.transport.is_closing():
            raise ConnectionError("redis command connection is closed")
        fut: asyncio.Future[Any] = self.loop.create_future()
        self._replies.append((fut, self.loop.time()))
        if not self._out:
            self.loop.call_soon(self._write)
        self._out.append(command(*args))
        return fut

    def _write(self) -> None:
        out, self._out = self._out, []
        if out and not self.lost and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def oldest_wait(self) -> float:
        """Seconds the oldest unanswered command has waited (0: none waiting)."""
        return self.loop.time() - self._replies[0][1] if self._replies else 0.0

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
