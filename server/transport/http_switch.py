"""The protocol uvicorn builds for each accepted connection: it looks at the first bytes
and hands the connection to the hub's websocket transport or to uvicorn's HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.transport.wire import WireSocket

HUB_UPGRADE = b"GET /v1/ws/"


class HubHttpProtocol(asyncio.Protocol):
    """A connection opening with a whole upgrade request for a hub endpoint switches to
    WireSocket at once: no HTTP parser built, no request rebuilt for the websocket
    protocol to parse again. Anything else goes to uvicorn's own HTTP protocol, built
    only then (its parser and state cost a visible share of a websocket set-up)."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server_state.connections.add(self)  # so a shutdown before any byte closes it

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        self.server_state.connections.discard(self)
        protocol: asyncio.Protocol
        if data.startswith(HUB_UPGRADE) and data.endswith(b"\r\n\r\n"):
            protocol = WireSocket(self.config, self.server_state, self.app_state, self.loop)
        else:
            protocol = HttpToolsProtocol(self.config, self.server_state, self.app_state,
                                         self.loop)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)

    def shutdown(self) -> None:  # uvicorn stopping: nothing was asked yet
        if self.transport is not None:
            self.transport.close()

    def eof_received(self) -> bool | None:
        return None
