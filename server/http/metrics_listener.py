"""The metrics listener of CLIENTA_METRICS_ADDR: a second address, meant for a private
network, where GET /metrics answers (with the bearer token too when one is set) and
nothing else does. One request per connection, its head bounded in size and time."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from server.http.health import METRICS_TYPE, bearer_matches, render_metrics

HEAD_MAX_BYTES = 8 * 1024
HEAD_TIMEOUT_S = 5.0


def parse_addr(addr: str) -> tuple[str, int]:
    """`host:port` (`[::1]:9100` for IPv6); a bare port listens on 127.0.0.1."""
    host, sep, port = addr.strip().rpartition(":")
    if not sep:
        host, port = "127.0.0.1", addr.strip()
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("CLIENTA_METRICS_ADDR is host:port, e.g. 10.0.0.5:9100")
    return host.strip("[]") or "127.0.0.1", int(port)


def _answer(status: str, body: bytes, content_type: str = "text/plain",
            extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n").encode() + body


class MetricsListener:
    def __init__(self, services: Any, token: str) -> None:
        self.services, self.token = services, token
        self.server: asyncio.Server | None = None

    async def start(self, addr: str) -> None:
        host, port = parse_addr(addr)
        self.server = await asyncio.start_server(self._serve, host, port,
                                                 limit=HEAD_MAX_BYTES)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
            writer.write(self._respond(head))
            await asyncio.wait_for(writer.drain(), HEAD_TIMEOUT_S)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            pass  # a half request, too long a head, or a peer gone: just close
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _respond(self, head: bytes) -> bytes:
        lines = head.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        if method not in ("GET", "HEAD") or path != "/metrics":
            return _answer("404 Not Found", b"not found\n")
        if self.token:
            authorization = next((line.partition(":")[2].strip() for line in lines[1:]
                                  if line.lower().startswith("authorization:")), None)
            if not bearer_matches(authorization, self.token):
                return _answer("401 Unauthorized", b"metrics need the bearer token\n",
                               extra="WWW-Authenticate: Bearer\r\n")
        body = render_metrics(self.services)
        return _answer("200 OK", b"" if method == "HEAD" else body, METRICS_TYPE)
