"""Idle HTTP keep-alive follows CLIENTA_HTTP_KEEPALIVE (default 75 s, above the 60 s idle
timeout of common proxies): uvicorn's own 5 s default closed connections that a proxy, or
a client pool with the same 5 s expiry, was about to reuse; the request then failed with
no response (seen in the resume bench after a restart, when the loop ran late)."""

from __future__ import annotations

import asyncio

import pytest

from server.settings import Settings

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """One request on the open connection; the response's status line."""
    writer.write(REQUEST)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    await asyncio.wait_for(reader.readexactly(length), 10)
    return head.split(b"\r\n", 1)[0]


@pytest.mark.asyncio(loop_scope="session")
async def test_an_idle_connection_stays_open_for_the_keepalive_then_closes(make_server) -> None:
    server = make_server({"CLIENTA_HTTP_KEEPALIVE": "2"})
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        assert b" 200 " in await _get(reader, writer)
        await asyncio.sleep(1.0)  # idle for half the keep-alive: the connection is kept
        assert b" 200 " in await _get(reader, writer)
        loop = asyncio.get_running_loop()
        idle_from = loop.time()
        # then the server closes it (EOF): sooner than uvicorn's own 5 s, so the setting
        # is what applies
        assert await asyncio.wait_for(reader.read(1), 4) == b""
        assert loop.time() - idle_from >= 1.5
    finally:
        writer.close()


def test_the_default_outlasts_common_proxy_idle_timeouts() -> None:
    assert Settings.from_env({}).http_keepalive_s > 60
