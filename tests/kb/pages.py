"""A small HTTP/1.1 server on 127.0.0.1 for the page fetcher's tests: pages, redirects,
oversized and slow answers, each path one behaviour. It records the Host header it saw."""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import dataclass, field

PAGE = (b"<!doctype html><html><head><title>Delivery times</title></head><body>"
        b"<h1>Delivery</h1><p>Orders ship within two working days from Chiang Mai.</p>"
        b"</body></html>")


@dataclass
class PageServer:
    port: int = 0
    hosts: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)  # ends the slow answers
    pages: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # path -> (type, body)
    _server: asyncio.Server | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> PageServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            for line in lines[1:]:
                if line.lower().startswith("host:"):
                    self.hosts.append(line.split(":", 1)[1].strip())
            await self._answer(path, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _head(writer: asyncio.StreamWriter, status: str, headers: dict[str, str]) -> None:
        text = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write((text + "connection: close\r\n\r\n").encode("latin-1"))

    def _send(self, writer: asyncio.StreamWriter, ctype: str, body: bytes,
              extra: dict[str, str] | None = None) -> None:
        self._head(writer, "200 OK", {"content-type": ctype,
                                      "content-length": str(len(body)), **(extra or {})})
        writer.write(body)

    async def _answer(self, path: str, writer: asyncio.StreamWriter) -> None:
        if path in self.pages:
            ctype, body = self.pages[path]
            self._send(writer, ctype, body)
        elif path == "/page":
            self._send(writer, "text/html; charset=utf-8", PAGE)
        elif path.startswith("/redirect/"):
            left = int(path.rsplit("/", 1)[1])
            target = "/page" if left <= 1 else f"/redirect/{left - 1}"
            self._head(writer, "302 Found", {"location": target, "content-length": "0"})
        elif path.startswith("/to?"):
            self._head(writer, "302 Found", {"location": path[4:], "content-length": "0"})
        elif path == "/image":
            self._send(writer, "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
        elif path == "/missing":
            self._head(writer, "404 Not Found", {"content-length": "0"})
        elif path == "/big-declared":
            self._head(writer, "200 OK", {"content-type": "text/plain",
                                          "content-length": str(10 * 1024 * 1024)})
        elif path == "/big-streamed":  # no length: the reader must stop counting itself
            self._head(writer, "200 OK", {"content-type": "text/plain"})
            for _ in range(64):
                writer.write(b"x" * 16384)
                await writer.drain()
        elif path == "/bomb":  # a small compressed body that inflates past any cap
            self._send(writer, "text/plain", gzip.compress(b"a" * (8 * 1024 * 1024)),
                       {"content-encoding": "gzip"})
        elif path == "/slow":  # headers, then nothing until the test ends
            self._head(writer, "200 OK", {"content-type": "text/plain",
                                          "content-length": "100"})
            await writer.drain()
            await self.release.wait()
        else:
            self._head(writer, "404 Not Found", {"content-length": "0"})
        await writer.drain()
