"""uvicorn's HTTP protocol with a shortcut for the hub's websocket upgrades."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.transport.wire import WireSocket

HUB_UPGRADE = b"GET /v1/ws/"


class HubHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, except that a connection opening with a whole upgrade
    request for a hub endpoint switches to WireSocket at once: no HTTP parse, no request
    rebuilt for the websocket protocol to parse again. Anything else is plain uvicorn."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        # uvicorn's set-up (flow control, addresses) waits until the bytes show HTTP
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.flow is None and data.startswith(HUB_UPGRADE) and data.endswith(b"\r\n\r\n"):
            self.connections.discard(self)
            if self.timeout_keep_alive_task is not None:
                self.timeout_keep_alive_task.cancel()
            socket = WireSocket(self.config, self.server_state, self.app_state)
            socket.connection_made(self.transport)
            self.transport.set_protocol(socket)
            socket.data_received(data)
            return
        if self.flow is None:
            super().connection_made(self.transport)
        super().data_received(data)
