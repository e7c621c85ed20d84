"""The hub's own websocket transport against a real server process: refused upgrades,
the closing handshake, pings both ways, and dropping peers that went silent."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket

import pytest
from websockets.frames import Close, Frame, Opcode
from websockets.streams import StreamReader

from tests.support.api import signup

pytestmark = pytest.mark.asyncio(loop_scope="session")


class RawClient:
    """A blocking websocket client that shows every frame, control frames included."""

    def __init__(self, port: int, path: str, version: str = "13",
                 before: bytes = b"") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if before:  # an HTTP request first, on the same (kept-alive) connection
            self.sock.sendall(before)
            response = b""
            while b"\r\n\r\n" not in response or not response.endswith(b"}"):
                response += self.sock.recv(4096)
            assert response.startswith(b"HTTP/1.1 200 ")
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: {version}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        self.status = int(head.split(b" ")[1]) if head else 0
        self.reader = StreamReader()
        self.parser = None

    def send(self, opcode: Opcode, data: bytes) -> None:
        self.sock.sendall(Frame(opcode, data).serialize(mask=True, extensions=[]))

    def send_json(self, frame: dict) -> None:
        self.send(Opcode.TEXT, json.dumps(frame).encode())

    def read(self, timeout: float = 10.0) -> Frame | None:
        """The next frame, or None once the server closed the TCP connection."""
        self.sock.settimeout(timeout)
        while True:
            if self.parser is None:  # one generator per frame: it resumes as bytes arrive
                self.parser = Frame.parse(self.reader.read_exact, mask=False, max_size=None,
                                          extensions=[])
            try:
                next(self.parser)
            except StopIteration as done:
                self.parser = None
                return done.value
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return None
            self.reader.feed_data(data)

    def read_until(self, opcode: Opcode, timeout: float = 10.0) -> Frame | None:
        while True:
            frame = self.read(timeout)
            if frame is None or frame.opcode == opcode:
                return frame

    def close(self) -> None:
        self.sock.close()


async def test_unknown_paths_and_versions_are_refused(clienta_server) -> None:
    missing = await asyncio.to_thread(RawClient, clienta_server.port, "/v1/ws/nowhere")
    assert missing.status == 404
    old = await asyncio.to_thread(RawClient, clienta_server.port, "/v1/ws/visitor", "8")
    assert old.status == 426
    missing.close()
    old.close()


async def test_an_upgrade_after_an_http_request_on_the_same_connection(clienta_server,
                                                                       org) -> None:
    """Only a connection's first request takes the direct switch to the hub's protocol;
    a later one goes through uvicorn's HTTP parser and its websocket hook: same result."""
    client = await asyncio.to_thread(
        RawClient, clienta_server.port, f"/v1/ws/visitor?site_key={org.site_key}",
        before=b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert client.status == 101
    client.send_json({"t": "hello"})
    welcome = await asyncio.to_thread(client.read_until, Opcode.TEXT)
    assert json.loads(welcome.data)["t"] == "welcome"
    client.close()


async def test_closing_handshake_echoes_the_clients_code(clienta_server, org) -> None:
    client = await asyncio.to_thread(
        RawClient, clienta_server.port, f"/v1/ws/visitor?site_key={org.site_key}")
    assert client.status == 101
    client.send_json({"t": "hello"})
    welcome = await asyncio.to_thread(client.read_until, Opcode.TEXT)
    assert json.loads(welcome.data)["t"] == "welcome"
    client.send(Opcode.CLOSE, Close(1000, "bye").serialize())
    echo = await asyncio.to_thread(client.read_until, Opcode.CLOSE)
    assert Close.parse(echo.data).code == 1000
    assert await asyncio.to_thread(client.read) is None  # then the server hangs up
    client.close()


async def test_a_protocol_ping_is_answered_with_its_payload(clienta_server, org) -> None:
    client = await asyncio.to_thread(
        RawClient, clienta_server.port, f"/v1/ws/visitor?site_key={org.site_key}")
    client.send(Opcode.PING, b"are you there")
    pong = await asyncio.to_thread(client.read_until, Opcode.PONG)
    assert pong.data == b"are you there"
    client.close()


async def test_an_unmasked_frame_closes_with_1002(clienta_server, org) -> None:
    client = await asyncio.to_thread(
        RawClient, clienta_server.port, f"/v1/ws/visitor?site_key={org.site_key}")
    client.sock.sendall(Frame(Opcode.TEXT, b'{"t":"hello"}').serialize(mask=False,
                                                                      extensions=[]))
    close = await asyncio.to_thread(client.read_until, Opcode.CLOSE)
    assert Close.parse(close.data).code == 1002
    client.close()


async def test_silent_peers_are_pinged_then_dropped(make_server) -> None:
    server = make_server({"CLIENTA_WS_PING_INTERVAL": "0.5"})
    org = await signup(server.url, "Keepalive")
    path = f"/v1/ws/visitor?site_key={org.site_key}"
    alive = await asyncio.to_thread(RawClient, server.port, path)
    silent = await asyncio.to_thread(RawClient, server.port, path)

    def answer_pings(client: RawClient, pings: int) -> int:
        answered = 0
        while answered < pings:
            frame = client.read_until(Opcode.PING)
            if frame is None:
                return answered
            client.send(Opcode.PONG, frame.data)
            answered += 1
        return answered

    # six answered pings span well over the 1 s after which a silent socket is dropped
    assert await asyncio.to_thread(answer_pings, alive, 6) == 6
    assert await asyncio.to_thread(silent.read_until, Opcode.PING) is not None
    assert await asyncio.to_thread(silent.read_until, Opcode.CLOSE) is None  # dropped
    alive.send_json({"t": "hello"})
    welcome = await asyncio.to_thread(alive.read_until, Opcode.TEXT)
    assert json.loads(welcome.data)["t"] == "welcome"
    alive.close()
    silent.close()
