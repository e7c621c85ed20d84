"""The subscription connection of the Redis broker: a raw asyncio Protocol over hiredis.

Every room event of every process arrives here, so this is a hot path: redis-py's PubSub
spent ~15-20 µs of Python per message (a reader task, timeouts, retry wrappers, a dict
per message); here a message costs one hiredis parse and one callback. Only what a
subscriber needs: AUTH and PING before subscribing, then SUBSCRIBE/UNSUBSCRIBE and the
pushed messages. The supervisor in `redis.py` owns reconnecting and resubscribing.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis

OnPush = Callable[[str, bytes], None]
OnSubscribed = Callable[[str], None]


def command(*args: str | bytes | int | float) -> bytes:
    """One command as a RESP array of bulk strings (numbers as their decimal text)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int | float):
            data = repr(arg).encode()
        else:
            raise TypeError(f"a redis argument must be bytes, str or a number: {arg!r}")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class SubscriberProtocol(asyncio.Protocol):
    def __init__(self, on_message: OnPush, on_subscribed: OnSubscribed) -> None:
        self.on_message = on_message
        self.on_subscribed = on_subscribed
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # replies to AUTH and PING, which are only sent before the first SUBSCRIBE
        self._replies: deque[asyncio.Future[Any]] = deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream connection's is a Transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # a dead Redis host shows up as a reset, not a silent hang
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                self._fail(exc)
                return
            if reply is False:
                return
            if type(reply) is list and len(reply) == 3:
                kind = reply[0]
                if kind == b"message":
                    self.on_message(reply[1].decode(), reply[2])
                    continue
                if kind == b"subscribe":
                    self.on_subscribed(reply[1].decode())
                    continue
                if kind == b"unsubscribe":
                    continue
            if self._replies:
                fut = self._replies.popleft()
                if not fut.done():
                    if isinstance(reply, hiredis.ReplyError):
                        fut.set_exception(ConnectionError(f"redis: {reply}"))
                    else:
                        fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        err = ConnectionError(f"redis subscription lost: {exc!r}")
        while self._replies:
            fut = self._replies.popleft()
            if not fut.done():
                fut.set_exception(err)
        if not self.closed.done():
            self.closed.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if self.transport is not None:
            self.transport.abort()

    def send(self, *args: str | bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("redis subscription is closed")
        self.transport.write(command(*args))

    async def call(self, *args: str | bytes) -> Any:
        """A command answered by a plain reply (before subscribing only)."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies.append(fut)
        self.send(*args)
        return await fut

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_subscriber(url: str, on_message: OnPush, on_subscribed: OnSubscribed,
                          timeout_s: float = 2.0) -> SubscriberProtocol:
    """Connect to the Redis of a redis://, rediss:// or unix:// URL and authenticate."""
    return await open_redis(url, lambda: SubscriberProtocol(on_message, on_subscribed),
                            timeout_s=timeout_s, select_db=False)


P = TypeVar("P", bound=asyncio.Protocol)


async def open_redis(url: str, factory: Callable[[], P], *, timeout_s: float = 2.0,
                     select_db: bool = True) -> P:
    """Connect a protocol with an awaitable `call(*args)` to the Redis of a redis://,
    rediss:// or unix:// URL; authenticate, and select the URL's database (pub/sub is
    the same in every database, so the subscription skips it)."""
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        if parts.scheme == "unix":
            _, proto = await loop.create_unix_connection(factory, parts.path)
            db = parse_qs(parts.query).get("db", ["0"])[0]
        else:
            tls = ssl.create_default_context() if parts.scheme == "rediss" else None
            _, proto = await loop.create_connection(
                factory, parts.hostname or "localhost", parts.port or 6379, ssl=tls)
            db = parts.path.lstrip("/") or "0"
        call = proto.call  # type: ignore[attr-defined]  # P has call() (docstring): no Protocol spans asyncio.Protocol
        try:
            if parts.password is not None:
                user = unquote(parts.username) if parts.username else None
                password = unquote(parts.password)
                await call(*(("AUTH", user, password) if user else ("AUTH", password)))
            if select_db and db != "0":
                await call(b"SELECT", db)  # the Redis command (bytes: not SQL)
            await call("PING")  # any command proves the connection
        except BaseException as exc:
            proto.close()  # type: ignore[attr-defined]  # as call() above
            if isinstance(exc, Exception) and not isinstance(exc, (ConnectionError,
                                                                   TimeoutError)):
                raise ConnectionError(f"redis refused the connection: {exc}") from exc
            raise
    return proto
