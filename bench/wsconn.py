"""The load generator's websocket connection: a raw asyncio Protocol, no reader task.

The `websockets` library's client cost the load generator more CPU per connection and per
frame than the server spent on them, so on this shared 2-core box the harness measured
itself. This is RFC 6455 for a client, as little as the scenarios need: one upgrade with
one subprotocol, masked frames out, whole unfragmented frames in (the servers measured
never fragment), pings answered, the closing handshake echoed. Used alike for clienta
and for the socket.io peers, so comparisons share one client cost.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable
from urllib.parse import urlsplit

from bench.services import BenchError

SUBPROTOCOL = "clienta.v1.msgpack"
ZERO_MASK = b"\x00\x00\x00\x00"  # a legal mask key; XOR with it leaves the payload as is
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA

OnMessage = Callable[[bytes | str], None]
OnClose = Callable[[int], None]


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked, final frame (clients must mask; servers do not check the key)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + ZERO_MASK + payload


def upgrade_request(host: str, port: int, path: str, subprotocol: str | None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    extra = f"Sec-WebSocket-Protocol: {subprotocol}\r\n" if subprotocol else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"{extra}\r\n"
    ).encode()


class WsConnection(asyncio.Protocol):
    """Messages go to `on_message` as they arrive (bytes, or str for text frames); the
    end goes to `on_close(code)` once."""

    def __init__(self, request: bytes, subprotocol: str | None, on_message: OnMessage,
                 on_close: OnClose) -> None:
        self.request = request
        self.subprotocol = subprotocol
        self.on_message = on_message
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self.closed = False

    @classmethod
    async def open(cls, url: str, subprotocol: str | None, on_message: OnMessage,
                   on_close: OnClose, timeout_s: float) -> WsConnection:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        request = upgrade_request(host, port, path, subprotocol)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout_s):
            _, conn = await loop.create_connection(
                lambda: cls(request, subprotocol, on_message, on_close), host, port)
            try:
                await conn.opened
            except BaseException:
                conn.abort()
                raise
        return conn

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.transport.write(self.request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        if self.buffer:
            self.buffer += data
            data = bytes(self.buffer)
            self.buffer.clear()
        if not self.opened.done():
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer += data
                return
            head = data[:end].decode("latin-1")
            data = data[end + 4 :]
            status = head.split("\r\n", 1)[0]
            if " 101 " not in f"{status} ":
                self.opened.set_exception(BenchError(f"upgrade refused: {status}"))
                self.abort()
                return
            if self.subprotocol and self.subprotocol not in head:
                self.opened.set_exception(BenchError(f"subprotocol {self.subprotocol} refused"))
                self.abort()
                return
            self.opened.set_result(None)
        used = self._frames(data)
        if used < len(data):
            self.buffer += data[used:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during the upgrade: {exc!r}"))
        if not self.closed:
            self.closed = True
            if self.close_code is None:
                self.close_code = 1006
            self.on_close(self.close_code)

    # -- frames ------------------------------------------------------------------------

    def _frames(self, data: bytes) -> int:
        """Handle every whole frame in `data`; return how many bytes they took. Walks
        by offset (one copy per payload): a burst of small frames in one read would
        otherwise shift the buffer once per frame."""
        size = len(data)
        pos = 0
        unpack_from = struct.unpack_from
        while size - pos >= 2:
            opcode, n = data[pos] & 0x0F, data[pos + 1] & 0x7F
            start = pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n, start = unpack_from("!H", data, pos + 2)[0], pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, start = unpack_from("!Q", data, pos + 2)[0], pos + 10
            end = start + n
            if end > size:
                break
            payload = data[start:end]
            pos = end
            if opcode == OP_BINARY:
                self.on_message(payload)
            elif opcode == OP_TEXT:
                self.on_message(payload.decode())
            elif opcode == OP_PING:
                self._write(client_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self.close_code = unpack_from("!H", payload)[0] if len(payload) >= 2 \
                    else 1005
                self._write(client_frame(OP_CLOSE, payload[:2]))
                if self.transport is not None:
                    self.transport.close()
                return size
        return pos

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    # -- what clients use --------------------------------------------------------------

    def send(self, data: bytes | str) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            raise BenchError(f"socket closed ({self.close_code})")
        if isinstance(data, str):
            self.transport.write(client_frame(OP_TEXT, data.encode()))
        else:
            self.transport.write(client_frame(OP_BINARY, data))

    def close(self, code: int = 1000) -> None:
        """Start the closing handshake; the server echoes it and hangs up."""
        self._write(client_frame(OP_CLOSE, struct.pack("!H", code)))
        if self.transport is not None:
            asyncio.get_running_loop().call_later(2.0, self.abort)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
