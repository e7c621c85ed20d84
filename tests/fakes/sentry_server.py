"""A fake Sentry ingest on 127.0.0.1: `POST /api/<project>/envelope/` as the official
`sentry-sdk` sends it (newline-delimited JSON items, gzip or brotli bodies, `X-Sentry-Auth`),
recording every envelope. DSN: `http://<key>@127.0.0.1:<port>/<project>`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.runner import FakeServer


@dataclass(frozen=True, slots=True)
class Item:
    headers: dict[str, Any]
    payload: bytes

    @property
    def type(self) -> str:
        return str(self.headers.get("type", ""))

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass(frozen=True, slots=True)
class Envelope:
    project: str
    auth: dict[str, str]
    header: dict[str, Any]
    items: list[Item] = field(default_factory=list)
    raw: bytes = b""  # the whole envelope, decompressed: what a test greps

    def of_type(self, kind: str) -> list[Item]:
        return [i for i in self.items if i.type == kind]


def parse_auth(header: str) -> dict[str, str]:
    """`Sentry sentry_key=k, sentry_version=7, ...` -> {"sentry_key": "k", ...}."""
    _, _, pairs = header.partition(" ")
    out = {}
    for pair in pairs.split(","):
        name, _, value = pair.strip().partition("=")
        if name:
            out[name] = value
    return out


def parse_envelope(data: bytes) -> tuple[dict[str, Any], list[Item]]:
    """The envelope format: a header line, then items of a header line and a payload of
    `length` bytes, or up to the next newline when the item names no length."""
    head, _, rest = data.partition(b"\n")
    header = json.loads(head or b"{}")
    items = []
    while rest:
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        item_headers = json.loads(line)
        length = item_headers.get("length")
        if isinstance(length, int):
            payload, rest = rest[:length], rest[length:]
            if rest[:1] == b"\n":
                rest = rest[1:]
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append(Item(item_headers, payload))
    return header, items


class FakeSentry(FakeServer):
    """`with FakeSentry().threaded() as fake: env["SENTRY_DSN"] = fake.dsn`."""

    def __init__(self, port: int = 0, key: str = "publickey", project: str = "1") -> None:
        super().__init__(port)
        self.key = key
        self.project = project
        self.envelopes: list[Envelope] = []
        self.refused = 0  # envelopes without this key
        self._lock = threading.Lock()

    @property
    def dsn(self) -> str:
        return f"http://{self.key}@{self.host}:{self.port}/{self.project}"

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/api/{project}/envelope/", self._envelope)
        app.router.add_get("/_stats", self._stats)
        return app

    async def _envelope(self, request: web.Request) -> web.Response:
        auth = parse_auth(request.headers.get("X-Sentry-Auth", ""))
        if auth.get("sentry_key") != self.key:
            self.refused += 1
            return web.json_response({"detail": "invalid api key"}, status=401)
        raw = await request.read()  # aiohttp undoes Content-Encoding (gzip, deflate, br)
        header, items = parse_envelope(raw)
        envelope = Envelope(request.match_info["project"], auth, header, items, raw)
        with self._lock:
            self.envelopes.append(envelope)
        return web.json_response({"id": header.get("event_id")})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"envelopes": [
            {"header": e.header, "items": [i.headers for i in e.items]}
            for e in self.snapshot()]})

    # -- for tests ------------------------------------------------------------
    def snapshot(self) -> list[Envelope]:
        with self._lock:
            return list(self.envelopes)

    def items(self, kind: str) -> list[Item]:
        return [i for e in self.snapshot() for i in e.of_type(kind)]

    def events(self) -> list[dict[str, Any]]:
        return [i.json() for i in self.items("event")]

    def wait_for(self, found: Callable[[FakeSentry], Any], timeout: float = 15.0) -> Any:
        """Poll until `found(self)` is truthy (returned), or fail after `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = found(self)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"fake Sentry did not receive it in {timeout} s; got "
                             f"{[[i.headers for i in e.items] for e in self.snapshot()]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    fake = FakeSentry(args.port)

    async def serve() -> None:
        async with fake:
            print(f"fake-sentry listening; SENTRY_DSN={fake.dsn}", flush=True)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
