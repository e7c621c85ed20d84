"""A test-only ASGI app whose one websocket endpoint echoes every message back, served by
the hub's own transport (`server/transport/wire.py` over `protocol/websocket.py`), so the
Autobahn TestSuite judges exactly the RFC 6455 code the hub runs, with no production path.

Run: `uvicorn tests.conformance.echo_app:app --ws server.transport.wire:WireSocket
--http server.transport.http_switch:HubHttpProtocol --lifespan on`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from server.metrics import Metrics
from server.settings import Settings
from server.transport.sockets import Sockets
from server.transport.wire import Disconnected, WireSocket

# the path the hub's upgrade fast path (`http_switch.HUB_UPGRADE`) switches at once
ECHO_PATH = "/v1/ws/echo"


@dataclass
class EchoServices:
    """What the transport asks of the composition root's Services: its settings, its
    metrics, and the stop hook uvicorn's shutdown calls."""

    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    stopping: bool = False

    def begin_stop(self) -> None:
        self.stopping = True


async def echo(sock: WireSocket) -> None:
    sock.accept(None)
    while True:
        try:
            message = await sock.receive()
            await sock.send(message)
        except Disconnected:
            return


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@contextlib.asynccontextmanager
async def _sockets() -> AsyncIterator[Sockets]:
    settings = Settings.from_env()
    limits = settings.limits
    sockets = Sockets({ECHO_PATH: echo}, EchoServices(settings), limits.ping_interval_s,
                      limits.max_frame_bytes)
    sockets.start()
    try:
        yield sockets
    finally:
        await sockets.close()


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Lifespan only: every websocket upgrade goes to WireSocket, never through ASGI."""
    if scope["type"] == "lifespan":
        await receive()  # startup
        async with _sockets() as sockets:
            scope["state"]["sockets"] = sockets
            await send({"type": "lifespan.startup.complete"})
            await receive()  # shutdown
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"echo only at " +
                    ECHO_PATH.encode()})
