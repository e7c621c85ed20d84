"""Every open websocket of this process: connection ids, the per-iteration cork that
writes each socket's frames in one call, and the one keepalive sweep over all sockets."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.transport.wire import WireSocket

# a coroutine function: the upgrade runs it as a task
Endpoint = Callable[["WireSocket"], Coroutine[Any, Any, None]]


class Sockets:
    """Every open websocket of this process, the one keepalive sweep over them, and the
    transport's limits (`http_switch` reads its HTTP read timeout here too)."""

    def __init__(self, endpoints: Mapping[str, Endpoint], services: Any,
                 ping_interval_s: float, max_frame_bytes: int) -> None:
        self.endpoints = endpoints
        self.services = services
        self.ping_interval_s = ping_interval_s
        self.max_frame_bytes = max_frame_bytes
        settings = services.settings
        # what one socket's transport may hold for its peer, control frames included
        self.max_out_bytes: int = settings.limits.outbox_max_bytes
        self.http_read_timeout_s: float = settings.http_read_timeout_s
        self.open: set[WireSocket] = set()
        # sockets with frames written this loop iteration; one callback flushes them all
        self._corked: list[WireSocket] = []
        # connection ids: unique across processes (presence keys), without a uuid4 each
        self._prefix = os.urandom(4).hex()
        self._ids = itertools.count(1)
        self._sweeper: asyncio.Task[None] | None = None

    def cork(self, sock: WireSocket) -> None:
        if not self._corked:
            asyncio.get_running_loop().call_soon(self._flush)
        self._corked.append(sock)

    def _flush(self) -> None:
        corked, self._corked = self._corked, []
        for sock in corked:
            sock.flush()

    def new_id(self) -> str:
        return f"{self._prefix}{next(self._ids):x}"

    def start(self) -> None:
        if self.ping_interval_s > 0:
            self._sweeper = asyncio.create_task(self._sweep(), name="ws-keepalive")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.ping_interval_s
        while True:
            await asyncio.sleep(interval / 2)
            now = loop.time()
            for sock in list(self.open):
                silent = now - sock.last_rx
                if silent >= 2 * interval:
                    sock.drop()  # a dead peer never answers: do not wait on a close handshake
                elif silent >= interval:
                    sock.ping()
