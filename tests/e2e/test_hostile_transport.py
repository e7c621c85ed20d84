"""Hostile peers against a real server process: what one socket can make the server hold
is bounded (a ping flood that never reads), and connections that send nothing, half an
HTTP request or half a websocket frame are closed after a timeout."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time

import psutil
import pytest
from websockets.frames import Frame, Opcode

from tests.support.api import signup
from tests.support.processes import ServerProcess

pytestmark = pytest.mark.asyncio(loop_scope="session")

MiB = 1024 * 1024


def _frame(opcode: Opcode, data: bytes) -> bytes:
    return Frame(opcode, data).serialize(mask=True, extensions=[])


def _upgrade(port: int, path: str) -> socket.socket:
    """A raw socket past a websocket upgrade (101), its response read byte by byte so no
    frame after it is taken off the socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        assert chunk, "closed during the upgrade"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 ")
    return sock


def _hello(sock: socket.socket) -> None:
    """Say hello and read until the welcome (a text frame carrying it)."""
    sock.sendall(_frame(Opcode.TEXT, json.dumps({"t": "hello"}).encode()))
    seen = b""
    deadline = time.monotonic() + 10
    while b'"welcome"' not in seen:
        assert time.monotonic() < deadline, "no welcome"
        chunk = sock.recv(65536)
        assert chunk, "closed before the welcome"
        seen += chunk


def _closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Read (and discard) until the server ends the connection: True on EOF or reset,
    False if it is still open after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
    return False


def _server_holds(pid: int, local_port: int) -> bool:
    """Whether the server process still has a socket to this client port."""
    return any(c.raddr and c.raddr.port == local_port
               for c in psutil.Process(pid).net_connections(kind="tcp"))


def _flood_pings(sock: socket.socket, total: int) -> int:
    """Send up to `total` bytes of masked pings (125-byte payloads, the most a control
    frame may carry) without ever reading; stop when the server stops taking them.
    Returns the bytes sent."""
    batch = b"".join(_frame(Opcode.PING, os.urandom(125)) for _ in range(1000))
    sent = 0
    sock.settimeout(2.0)  # the server stopped reading (or never will): TCP pushes back
    try:
        while sent < total:
            sock.sendall(batch)
            sent += len(batch)
    except (TimeoutError, ConnectionResetError, BrokenPipeError):
        pass
    return sent


async def test_a_ping_flood_that_never_reads_holds_bounded_memory_and_is_cut(make_server):
    """Without a bound every ping queued a pong in the transport's buffer: one socket grew
    the server by about what it sent (hundreds of MB from one visitor)."""
    outbox = 256 * 1024
    server = make_server({"CLIENTA_OUTBOX_MAX_BYTES": str(outbox),
                          "CLIENTA_WS_PING_INTERVAL": "1"})
    org = await signup(server.url, "Ping flood")
    path = f"/v1/ws/visitor?site_key={org.site_key}"
    warm = await asyncio.to_thread(_upgrade, server.port, path)  # first-use costs go here
    await asyncio.to_thread(_hello, warm)
    warm.close()
    proc = psutil.Process(server.proc.pid)
    sock = await asyncio.to_thread(_upgrade, server.port, path)
    await asyncio.to_thread(_hello, sock)
    port = sock.getsockname()[1]
    base = proc.memory_info().rss
    peak = base

    flood = asyncio.create_task(asyncio.to_thread(_flood_pings, sock, 96 * MiB))
    deadline = time.monotonic() + 60
    while not flood.done() or _server_holds(proc.pid, port):
        assert time.monotonic() < deadline, "the flooding socket was never cut"
        peak = max(peak, proc.memory_info().rss)
        await asyncio.sleep(0.05)  # sampling memory while the flood runs
    sent = await flood
    peak = max(peak, proc.memory_info().rss)
    sock.close()
    growth = peak - base
    # the socket's own bound and kernel-side buffers aside, nothing grows with the flood;
    # before the bound this grew by about `sent`
    assert growth < 16 * MiB, (growth, sent)


@pytest.fixture(scope="module")
def hasty(server_env, session_dir):
    """A server with short read, hello and keepalive timeouts."""
    server = ServerProcess({**server_env, "CLIENTA_HTTP_READ_TIMEOUT": "1",
                            "CLIENTA_WS_HELLO_TIMEOUT": "1",
                            "CLIENTA_WS_PING_INTERVAL": "0.5"}, log_dir=session_dir).start()
    yield server
    server.stop()
    server.assert_no_unhandled()


async def _until_closed(reader: asyncio.StreamReader, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (bounded)."""
    return await asyncio.wait_for(reader.read(), timeout)


async def test_a_connection_that_sends_nothing_is_closed(hasty) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", hasty.port)
    try:
        assert await _until_closed(reader) == b""  # nothing was asked: nothing to answer
    finally:
        writer.close()


@pytest.mark.parametrize("head", [
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    b"GET /v1/ws/visitor?site_key=x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n",
], ids=["http", "upgrade"])
async def test_half_a_request_head_gets_408_and_is_closed(hasty, head: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", hasty.port)
    try:
        writer.write(head)
        answer = await _until_closed(reader)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b'"code":"request_timeout"' in answer
    finally:
        writer.close()


async def test_a_head_trickled_a_byte_at_a_time_is_still_cut(hasty) -> None:
    """The head has a deadline, not an idle timer: a byte now and then does not extend it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hasty.port)

    async def trickle() -> None:
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        while not writer.is_closing():
            writer.write(b"X")
            await asyncio.sleep(0.1)  # the slow client under test, not a synchronisation

    sender = asyncio.create_task(trickle())
    try:
        assert (await _until_closed(reader)).startswith(b"HTTP/1.1 408 ")
    finally:
        sender.cancel()
        writer.close()


async def test_half_a_request_body_gets_408_and_is_closed(hasty) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", hasty.port)
    try:
        writer.write(b"POST /v1/signup HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"content-type: application/json\r\ncontent-length: 100\r\n\r\n"
                     b'{"org_name"')
        assert (await _until_closed(reader)).startswith(b"HTTP/1.1 408 ")
    finally:
        writer.close()


async def test_a_request_that_arrives_in_time_is_served_on_a_kept_alive_connection(
        hasty) -> None:
    """The read timeout covers each request, not the connection: requests after it (and
    the idle time between them, up to the keep-alive) are unaffected."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hasty.port)
    try:
        for _ in range(3):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200 ")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await asyncio.wait_for(reader.readexactly(length), 10)
    finally:
        writer.close()


@pytest.mark.parametrize("kind", ["visitor", "agent"])
async def test_a_websocket_that_never_says_hello_is_closed(hasty, kind: str) -> None:
    org = await signup(hasty.url, "Hello timeout")
    path = {"visitor": f"/v1/ws/visitor?site_key={org.site_key}",
            "agent": "/v1/ws/agent"}[kind]
    sock = await asyncio.to_thread(_upgrade, hasty.port, path)
    try:
        assert await asyncio.to_thread(_closed_by_server, sock, 10)
    finally:
        sock.close()


async def test_a_websocket_trickling_half_a_frame_is_dropped(hasty) -> None:
    """Bytes that never make a frame are not a sign of life: the keepalive sweep drops the
    socket as silent (it used to count any byte, so a byte every few seconds kept a
    half-sent frame open forever)."""
    org = await signup(hasty.url, "Half frame")
    sock = await asyncio.to_thread(_upgrade, hasty.port,
                                   f"/v1/ws/visitor?site_key={org.site_key}")
    await asyncio.to_thread(_hello, sock)
    # the head of a 1000-byte text frame, then its payload a byte at a time
    head = _frame(Opcode.TEXT, b"x" * 1000)[:8]

    def trickle() -> bool:
        sock.sendall(head)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                sock.sendall(b"x")
            except (ConnectionResetError, BrokenPipeError):
                return True
            if _closed_by_server(sock, 0.1):  # reads (and ignores) the server's pings
                return True
        return False

    try:
        assert await asyncio.to_thread(trickle)
    finally:
        sock.close()
