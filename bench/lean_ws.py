"""A lean idle visitor: the websocket handshake, hello and welcome, then it only answers
pings. No task per connection (frames are handled as they arrive, `bench.wsconn`), so the
load generator stays cheap enough that `connections` measures the server's set-up rate
rather than the client's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack

from bench.wsconn import SUBPROTOCOL, WsConnection

HELLO = msgpack.packb({"t": "hello"})


class LeanVisitor:
    """`welcomed` resolves with the welcome frame."""

    def __init__(self) -> None:
        self.welcomed: asyncio.Future[dict[str, Any]] = (
            asyncio.get_running_loop().create_future())
        self.conn: WsConnection | None = None
        self.closed = False
        self.close_code: int | None = None

    def on_message(self, data: bytes | str) -> None:
        if self.welcomed.done() or not isinstance(data, bytes):
            return
        frame = msgpack.unpackb(data)
        if frame.get("t") == "welcome":
            self.welcomed.set_result(frame)
        elif frame.get("t") == "error":
            self.welcomed.set_exception(ConnectionError(f"server error {frame}"))

    def on_close(self, code: int) -> None:
        self.closed = True
        self.close_code = code
        if not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError(f"closed before welcome ({code})"))

    def close(self) -> None:
        if self.conn is not None and not self.closed:
            self.conn.close()


async def open_visitor(host: str, port: int, path: str, timeout_s: float) -> LeanVisitor:
    """Connect one lean visitor and wait for its welcome; returns it holding the socket."""
    visitor = LeanVisitor()
    async with asyncio.timeout(timeout_s):
        visitor.conn = await WsConnection.open(f"ws://{host}:{port}{path}", SUBPROTOCOL,
                                               visitor.on_message, visitor.on_close,
                                               timeout_s)
        visitor.conn.send(HELLO)
        await visitor.welcomed
    return visitor
