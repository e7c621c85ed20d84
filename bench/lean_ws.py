"""A lean idle visitor: a raw asyncio Protocol doing the websocket handshake, hello and welcome,
then answering pings. No task per connection, so the load generator stays cheap enough that
`connections` measures the server's set-up rate rather than the client's.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import msgpack

from bench.wsconn import SUBPROTOCOL, client_frame, upgrade_request

HELLO = client_frame(0x2, msgpack.packb({"t": "hello"}))


class LeanVisitor(asyncio.Protocol):
    """Resolves `welcomed` with the welcome frame; afterwards only answers pings."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.welcomed: asyncio.Future[dict[str, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.closed = False
        self.close_code: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            del self.buffer[: end + 4]
            status = head.split("\r\n", 1)[0]
            if " 101 " not in f"{status} " or SUBPROTOCOL not in head:
                self._fail(f"upgrade refused: {status}")
                return
            self.upgraded = True
            assert self.transport is not None
            self.transport.write(HELLO)
        self._frames()

    def _frames(self) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
            pos = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, pos = struct.unpack_from("!H", buf, 2)[0], 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, pos = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < pos + n:
                return
            payload = bytes(buf[pos : pos + n])
            del buf[: pos + n]
            self._frame(opcode, payload)

    def _frame(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        if opcode == 0x2 and not self.welcomed.done():
            frame = msgpack.unpackb(payload)
            if frame.get("t") == "welcome":
                self.welcomed.set_result(frame)
            elif frame.get("t") == "error":
                self._fail(f"server error {frame}")
        elif opcode == 0x9:
            self.transport.write(client_frame(0xA, payload))
        elif opcode == 0x8:
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            self.transport.write(client_frame(0x8, payload[:2]))
            self.transport.close()

    def _fail(self, reason: str) -> None:
        if not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError(f"closed before welcome: {exc!r}"))

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(client_frame(0x8, struct.pack("!H", 1000)))
            self.transport.close()


async def open_visitor(host: str, port: int, path: str, timeout_s: float) -> LeanVisitor:
    """Connect one lean visitor and wait for its welcome; returns it holding the socket."""
    loop = asyncio.get_running_loop()
    request = upgrade_request(host, port, path, SUBPROTOCOL)
    async with asyncio.timeout(timeout_s):
        _, proto = await loop.create_connection(lambda: LeanVisitor(request), host, port)
        await proto.welcomed
    return proto
