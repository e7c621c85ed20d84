"""The sans-I/O websocket core against an independent implementation: frames are built
and read with the `websockets` library's own (client-side) framing."""

from __future__ import annotations

import base64
import os

import pytest
from websockets.frames import Close, Frame, Opcode
from websockets.streams import StreamReader

from server.protocol import websocket as ws
from server.protocol.websocket import FrameParser, HandshakeError, ProtocolError

MAX = 1024


def client(opcode: Opcode, data: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=True, extensions=[])


def bent(raw: bytes, set_bits: int = 0, clear_bits: int = 0) -> bytes:
    """A valid frame with its first byte changed: frames `websockets` refuses to build."""
    return bytes([(raw[0] | set_bits) & ~clear_bits & 0xFF]) + raw[1:]


def long_ping() -> bytes:
    payload = b"x" * 126  # control frames may carry at most 125 bytes
    return bytes([0x89, 0x80 | 126]) + len(payload).to_bytes(2, "big") + b"\0\0\0\0" + payload


def read_server_frame(raw: bytes) -> Frame:
    """Parse what the server wrote the way a client does (unmasked frames only)."""
    reader = StreamReader()
    reader.feed_data(raw)
    parser = Frame.parse(reader.read_exact, mask=False, max_size=None, extensions=[])
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("incomplete frame")


def request(**overrides: str | None) -> bytes:
    headers = {
        "Host": "127.0.0.1:8000", "Upgrade": "websocket", "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Protocol": "clienta.v1.msgpack, clienta.v1.json",
        "Origin": "https://shop.example",
    }
    headers.update(overrides)
    lines = [f"{k}: {v}" for k, v in headers.items() if v is not None]
    return ("GET /v1/ws/visitor?site_key=sk_1&x=%20y HTTP/1.1\r\n" + "\r\n".join(lines)
            + "\r\n\r\n").encode()


def test_upgrade_is_parsed() -> None:
    up = ws.parse_upgrade(request())
    assert up.path == "/v1/ws/visitor"
    assert up.query == {"site_key": "sk_1", "x": " y"}
    assert up.headers["origin"] == "https://shop.example"
    assert up.subprotocols == ["clienta.v1.msgpack", "clienta.v1.json"]


def test_accept_key_is_rfc_6455s_example() -> None:
    assert ws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    response = ws.accept_response("dGhlIHNhbXBsZSBub25jZQ==", "clienta.v1.json")
    assert response.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Protocol: clienta.v1.json\r\n" in response
    assert response.endswith(b"\r\n\r\n")


@pytest.mark.parametrize(("overrides", "status"), [
    ({"Upgrade": None}, 400),
    ({"Connection": "keep-alive"}, 400),
    ({"Sec-WebSocket-Version": "8"}, 426),
    ({"Sec-WebSocket-Key": "c2hvcnQ="}, 400),
    ({"Sec-WebSocket-Key": "not base64!"}, 400),
])
def test_bad_upgrades_are_refused_with_a_status(overrides: dict, status: int) -> None:
    with pytest.raises(HandshakeError) as caught:
        ws.parse_upgrade(request(**overrides))
    assert caught.value.status == status
    response = ws.reject_response(status, caught.value.reason)
    assert response.startswith(f"HTTP/1.1 {status} ".encode())
    if status == 426:
        assert b"Sec-WebSocket-Version: 13" in response


def test_text_binary_and_control_frames() -> None:
    parser = FrameParser(MAX)
    data = (client(Opcode.TEXT, "สวัสดี".encode()) + client(Opcode.BINARY, b"\x00\x01")
            + client(Opcode.PING, b"p") + client(Opcode.PONG, b"")
            + client(Opcode.CLOSE, Close(1000, "bye").serialize()))
    assert parser.feed(data) == [(ws.OP_TEXT, "สวัสดี"), (ws.OP_BINARY, b"\x00\x01"),
                                 (ws.OP_PING, b"p"), (ws.OP_PONG, b""),
                                 (ws.OP_CLOSE, (1000, "bye"))]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_every_length_encoding_byte_by_byte(size: int) -> None:
    payload = os.urandom(size)
    parser = FrameParser(100_000)
    raw = client(Opcode.BINARY, payload)
    got: list = []
    step = 1 if size < 200 else 997
    for i in range(0, len(raw), step):
        got += parser.feed(raw[i:i + step])
    assert got == [(ws.OP_BINARY, payload)]


def test_fragments_are_reassembled_around_a_ping() -> None:
    parser = FrameParser(MAX)
    data = (client(Opcode.TEXT, b"hel", fin=False) + client(Opcode.PING, b"x")
            + client(Opcode.CONT, b"lo", fin=False) + client(Opcode.CONT, b"!"))
    assert parser.feed(data) == [(ws.OP_PING, b"x"), (ws.OP_TEXT, "hello!")]


@pytest.mark.parametrize(("raw", "code"), [
    (Frame(Opcode.TEXT, b"x").serialize(mask=False, extensions=[]), 1002),  # unmasked
    (bent(client(Opcode.TEXT, b"x"), set_bits=0x40), 1002),  # no extension was negotiated
    (client(Opcode.CONT, b"x"), 1002),  # continuation with nothing to continue
    (client(Opcode.TEXT, b"a", fin=False) + client(Opcode.TEXT, b"b"), 1002),
    (bent(client(Opcode.PING, b"x"), clear_bits=0x80), 1002),  # never fragmented
    (long_ping(), 1002),
    (client(Opcode.TEXT, b"\xff\xfe"), 1007),  # text must be UTF-8
    (client(Opcode.CLOSE, b"\x03"), 1002),  # a one-byte close payload
    (client(Opcode.CLOSE, (1005).to_bytes(2, "big")), 1002),  # reserved close code
    (client(Opcode.BINARY, b"x" * (MAX + 1)), 1009),
    (client(Opcode.TEXT, b"x" * 600, fin=False) + client(Opcode.CONT, b"y" * 600), 1009),
])
def test_violations_name_their_close_code(raw: bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as caught:
        FrameParser(MAX).feed(raw)
    assert caught.value.code == code


def test_endless_empty_fragments_are_refused() -> None:
    """Empty continuations add nothing to a message's size: their count is bounded."""
    parser = FrameParser(MAX)
    parser.feed(client(Opcode.TEXT, b"a", fin=False))
    empty = client(Opcode.CONT, b"", fin=False)
    parser.feed(empty * (ws.MAX_FRAGMENTS - 1))
    with pytest.raises(ProtocolError) as caught:
        parser.feed(empty)
    assert caught.value.code == 1009


def test_an_oversized_frame_is_refused_from_its_header_alone() -> None:
    header = client(Opcode.BINARY, b"x" * 70_000)[:14]
    with pytest.raises(ProtocolError) as caught:
        FrameParser(65_536).feed(header)
    assert caught.value.code == 1009


def test_close_without_a_code_reads_as_1005() -> None:
    assert FrameParser(MAX).feed(client(Opcode.CLOSE, b"")) == [(ws.OP_CLOSE, (1005, ""))]


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536])
def test_server_frames_read_back_with_a_client_parser(size: int) -> None:
    payload = os.urandom(size)
    got = read_server_frame(ws.frame(ws.OP_BINARY, payload))
    assert (got.opcode, got.data, got.fin) == (Opcode.BINARY, payload, True)
    close = read_server_frame(ws.close_frame(4008, "slow down"))
    assert Close.parse(close.data) == Close(4008, "slow down")
