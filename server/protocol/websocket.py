"""RFC 6455 for the server side, sans I/O: the upgrade handshake, an incremental parser for
the frames a client sends, and the framing of what the server sends.

The hub's own transport (`server/transport/wire.py`) drives it. uvicorn's generic
websocket stack costs several times more CPU per session set-up and per frame (an ASGI
scope and message dicts, a queue, Starlette's wrapper, a generator-based parser), and
those are the hub's hottest paths. Only what the contract needs is here: no extensions
(per-message deflate is off by design: a broadcast is framed once for every member).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from urllib.parse import parse_qsl

from websockets.speedups import apply_mask

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

# close codes a peer may send (RFC 6455 7.4.1 and the registered ones); 3000-4999 are free
VALID_CLOSE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
                         1014})
PROTOCOL_ERROR, INVALID_DATA, TOO_BIG = 1002, 1007, 1009
# fragments of one message: empty continuation frames add nothing to its size, so the
# size limit alone would let a peer grow the fragment list for ever
MAX_FRAGMENTS = 1024


class HandshakeError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ProtocolError(Exception):
    """The connection must be closed with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Upgrade:
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    subprotocols: list[str]
    key: str


def parse_upgrade(request: bytes) -> Upgrade:
    """One complete HTTP/1.1 upgrade request (request line, headers, blank line)."""
    head, _, _ = request.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] != "GET":
        raise HandshakeError(400, "a websocket upgrade is a GET request")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise HandshakeError(400, "malformed header line")
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if headers.get("upgrade", "").lower() != "websocket":
        raise HandshakeError(400, "Upgrade: websocket is required")
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    if "upgrade" not in tokens:
        raise HandshakeError(400, "Connection: Upgrade is required")
    if headers.get("sec-websocket-version") != "13":
        raise HandshakeError(426, "only websocket version 13 is spoken")
    key = headers.get("sec-websocket-key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError(key)
    except ValueError:
        raise HandshakeError(400, "Sec-WebSocket-Key must be 16 base64-encoded bytes") from None
    path, _, query = parts[1].partition("?")
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
    return Upgrade(path, dict(parse_qsl(query)), headers, [p for p in offered if p], key)


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def accept_response(key: str, subprotocol: str | None) -> bytes:
    extra = f"Sec-WebSocket-Protocol: {subprotocol}\r\n" if subprotocol else ""
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n{extra}\r\n"
    ).encode()


def reject_response(status: int, reason: str) -> bytes:
    phrase = {400: "Bad Request", 404: "Not Found", 426: "Upgrade Required",
              503: "Service Unavailable"}.get(status, "Error")
    body = reason.encode()
    extra = "Sec-WebSocket-Version: 13\r\n" if status == 426 else ""
    return (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    ).encode() + body


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame (servers never mask)."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(OP_CLOSE, code.to_bytes(2, "big") + reason.encode()[:120])


def parse_close(payload: bytes) -> tuple[int, str]:
    if not payload:
        return 1005, ""  # no status received
    if len(payload) == 1:
        raise ProtocolError(PROTOCOL_ERROR, "close payload of one byte")
    code = int.from_bytes(payload[:2], "big")
    if code not in VALID_CLOSE and not 3000 <= code <= 4999:
        raise ProtocolError(PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        return code, payload[2:].decode()
    except UnicodeDecodeError:
        raise ProtocolError(INVALID_DATA, "close reason is not UTF-8") from None


class FrameParser:
    """Feed bytes as they arrive; get back whole messages and control frames.

    `feed` returns (opcode, payload) pairs: OP_TEXT with a str, OP_BINARY with bytes,
    OP_PING/OP_PONG with bytes, OP_CLOSE with (code, reason). Fragmented messages come
    back reassembled. Any violation raises ProtocolError with the close code to send.
    """

    __slots__ = ("_buf", "_frag_len", "_frag_op", "_frags", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = b""
        self._frag_op: int | None = None
        self._frags: list[bytes] = []
        self._frag_len = 0

    def feed(self, data: bytes) -> list[tuple[int, object]]:
        if self._buf:
            data = self._buf + data
        out: list[tuple[int, object]] = []
        pos, end = 0, len(data)
        while end - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            if b0 & 0x70:
                raise ProtocolError(PROTOCOL_ERROR, "reserved bits set (no extensions)")
            if not b1 & 0x80:
                raise ProtocolError(PROTOCOL_ERROR, "client frames must be masked")
            length = b1 & 0x7F
            head = 6
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2:pos + 4], "big")
                head = 8
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2:pos + 10], "big")
                head = 14
            if length > self.max_size or self._frag_len + length > self.max_size:
                raise ProtocolError(TOO_BIG, f"frame over {self.max_size} bytes")
            if end - pos < head + length:
                break
            start = pos + head
            payload = apply_mask(data[start:start + length], data[start - 4:start])
            pos = start + length
            self._frame(b0 & 0x80, b0 & 0x0F, payload, out)
        self._buf = data[pos:] if pos < end else b""
        return out

    def _frame(self, fin: int, opcode: int, payload: bytes,
               out: list[tuple[int, object]]) -> None:
        if opcode >= OP_CLOSE:
            if not fin or len(payload) > 125:
                raise ProtocolError(PROTOCOL_ERROR, "control frames are short and whole")
            if opcode == OP_CLOSE:
                out.append((OP_CLOSE, parse_close(payload)))
            elif opcode in (OP_PING, OP_PONG):
                out.append((opcode, payload))
            else:
                raise ProtocolError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
            return
        if opcode == OP_CONT:
            if self._frag_op is None:
                raise ProtocolError(PROTOCOL_ERROR, "continuation without a message")
            if len(self._frags) >= MAX_FRAGMENTS:
                raise ProtocolError(TOO_BIG, f"message in over {MAX_FRAGMENTS} fragments")
            self._frags.append(payload)
            self._frag_len += len(payload)
            if not fin:
                return
            opcode, payload = self._frag_op, b"".join(self._frags)
            self._frag_op, self._frags, self._frag_len = None, [], 0
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._frag_op is not None:
                raise ProtocolError(PROTOCOL_ERROR, "new message inside a fragmented one")
            if not fin:
                self._frag_op, self._frags, self._frag_len = opcode, [payload], len(payload)
                return
        else:
            raise ProtocolError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
        if opcode == OP_TEXT:
            try:
                out.append((OP_TEXT, payload.decode()))
            except UnicodeDecodeError:
                raise ProtocolError(INVALID_DATA, "text frame is not UTF-8") from None
        else:
            out.append((OP_BINARY, payload))
