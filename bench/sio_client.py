"""A minimal socket.io client (Engine.IO v4, websocket transport) on `bench.wsconn`.

Built on the same socket library as our own clients, so the `peer` comparison measures the
servers rather than two different client stacks. Packets: `0` open, `2`/`3` ping/pong,
`40` connect, `42[event, data]` event, `42N[...]` event wanting ack N, `43N[...]` ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from bench.services import BenchError
from bench.wsconn import WsConnection

EventHandler = Callable[[str, Any, float], None]


class SioClient:
    def __init__(self, base: str, name: str) -> None:
        self.url = f"{base}/socket.io/?EIO=4&transport=websocket"
        self.name = name
        self.ws: WsConnection | None = None
        self.closed = asyncio.Event()
        self.handlers: list[EventHandler] = []
        self.ack_ms: list[float] = []
        self._acks: dict[int, tuple[float, asyncio.Future[Any]]] = {}
        self._ids = itertools.count(1)
        self._connected: asyncio.Future[None] | None = None

    async def connect(self, timeout_s: float = 15.0) -> None:
        self._connected = asyncio.get_running_loop().create_future()
        self.ws = await WsConnection.open(self.url, None, self._on_message, self._on_close,
                                          timeout_s)
        self.ws.send("40")
        try:
            async with asyncio.timeout(timeout_s):
                await self._connected
        except TimeoutError as exc:
            raise BenchError(f"{self.name}: socket.io connect not answered") from exc

    def _on_message(self, data: bytes | str) -> None:
        now = time.time()
        if not isinstance(data, str) or not data:
            return
        kind = data[0]
        if kind == "2" and self.ws is not None:
            self.ws.send("3")
        elif kind == "4":
            self._packet(data[1:], now)

    def _on_close(self, code: int) -> None:
        self.closed.set()
        for _, fut in self._acks.values():
            if not fut.done():
                fut.set_exception(BenchError(f"{self.name}: closed ({code})"))

    def _packet(self, data: str, now: float) -> None:
        kind, rest = data[0], data[1:]
        if kind == "0":
            if self._connected is not None and not self._connected.done():
                self._connected.set_result(None)
            return
        start = rest.find("[")
        if start < 0:
            return
        if kind == "2":
            event, *args = json.loads(rest[start:])
            for handler in self.handlers:
                handler(event, args[0] if args else None, now)
        elif kind == "3":
            entry = self._acks.pop(int(rest[:start]), None)
            if entry is not None:
                self.ack_ms.append((time.monotonic() - entry[0]) * 1000)
                if not entry[1].done():
                    entry[1].set_result(json.loads(rest[start:]))

    @property
    def in_flight(self) -> int:
        return len(self._acks)

    def emit(self, event: str, data: Any) -> asyncio.Future[Any]:
        """Emit with an ack; the future resolves to the ack's arguments."""
        if self.ws is None:
            raise BenchError(f"{self.name}: not connected")
        ack = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack] = (time.monotonic(), fut)
        self.ws.send(f"42{ack}" + json.dumps([event, data], separators=(",", ":")))
        return fut

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            self.ws.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), 3)
