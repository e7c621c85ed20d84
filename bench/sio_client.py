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

from bench.memo import DecodeMemo, Event, unstamp
from bench.services import BenchError
from bench.wsconn import WsConnection

EventHandler = Callable[[str, Any, float], None]
MsgSink = Callable[[Event, float], None]


def msg_event(data: str) -> Event | None:
    """A `42["msg", {room, seq, text}]` packet as an Event; None for any other packet."""
    if not data.startswith('42["msg",'):
        return None
    _, payload = json.loads(data[2:])[:2]
    if not isinstance(payload, dict) or type(payload.get("seq")) is not int:
        return None
    text = payload.get("text")
    found = unstamp(text) if type(text) is str else None
    return Event("msg", str(payload.get("room")), payload["seq"], found[1] if found else None)


def msg_memo() -> DecodeMemo[str]:
    """A memo for the socket.io clients of one process (as `clients.event_memo` for ours)."""
    return DecodeMemo(msg_event)


class SioClient:
    def __init__(self, base: str, name: str, memo: DecodeMemo[str] | None = None,
                 on_msg: MsgSink | None = None) -> None:
        self.url = f"{base}/socket.io/?EIO=4&transport=websocket"
        self.name = name
        self.ws: WsConnection | None = None
        self.closed = asyncio.Event()
        self.handlers: list[EventHandler] = []
        # with a memo, "msg" events go to `on_msg` (decoded once per process), not `handlers`
        self.memo = memo
        self.on_msg = on_msg
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
        if self.memo is not None and self.on_msg is not None:
            event = self.memo.get(data)
            if event is not None:
                self.on_msg(event, now)
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
