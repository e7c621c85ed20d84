"""The protocol uvicorn builds for each accepted connection: it looks at the first bytes
and hands the connection to the hub's websocket transport or to uvicorn's HTTP, and it
closes connections that send nothing, or half a request, for too long."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.transport.wire import WireSocket

HUB_UPGRADE = b"GET /v1/ws/"
READ_TIMEOUT_S = 15.0  # only when no lifespan state says otherwise (it always does in serve)
_TIMEOUT_BODY = b'{"error":{"code":"request_timeout","message":"request not received in time"}}'
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY))


def _read_timeout(app_state: dict[str, Any]) -> float:
    sockets = app_state.get("sockets")
    return sockets.http_read_timeout_s if sockets is not None else READ_TIMEOUT_S


class HubHttpProtocol(asyncio.Protocol):
    """A connection opening with a whole upgrade request for a hub endpoint switches to
    WireSocket at once: no HTTP parser built, no request rebuilt for the websocket
    protocol to parse again. Anything else goes to uvicorn's own HTTP protocol, built
    only then (its parser and state cost a visible share of a websocket set-up).
    A connection that sends nothing is closed after the read timeout."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop
        self.transport: asyncio.Transport | None = None
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream connection's is a Transport
        self.server_state.connections.add(self)  # so a shutdown before any byte closes it
        loop = asyncio.get_running_loop()
        self.deadline = loop.time() + _read_timeout(self.app_state)
        self.timer = loop.call_at(self.deadline, self._expire)

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        self.server_state.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        protocol: asyncio.Protocol
        if data.startswith(HUB_UPGRADE) and data.endswith(b"\r\n\r\n"):
            protocol = WireSocket(self.config, self.server_state, self.app_state, self.loop)
        else:
            protocol = TimedHttpProtocol(self.config, self.server_state, self.app_state,
                                         self.loop, head_deadline=self.deadline)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()

    def shutdown(self) -> None:  # uvicorn stopping: nothing was asked yet
        if self.transport is not None:
            self.transport.close()

    def eof_received(self) -> bool | None:
        return None

    def _expire(self) -> None:
        self.timer = None
        if self.transport is not None:
            self.transport.close()


class TimedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP, whose only timer is the idle keep-alive between requests, with a
    read timeout on each request: its head must be whole within the timeout of its first
    byte (the connection's opening, for the first), and its body must not pause that
    long. Past either: 408, and the connection is closed. Time the server itself holds
    the request up (a response still going out, a body the app has not taken) is not
    the peer's and does not count."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None,
                 head_deadline: float | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.read_timeout_s = _read_timeout(app_state)
        self.head_deadline = head_deadline
        self.in_head = True  # reading a request's head (or waiting for one), not a body
        self.read_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self.in_head and self.read_timer is None:
            self._arm(self.head_deadline)
            self.head_deadline = None
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self.in_head = False
        self._arm(None)  # the body's turn; a request without one completes at once
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._arm(None)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.in_head = True
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the connection is the websocket transport's from here
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, at: float | None) -> None:
        if self.read_timer is not None:
            self.read_timer.cancel()
        loop = self.loop
        self.read_timer = loop.call_at(at if at is not None
                                       else loop.time() + self.read_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer = None

    def _expire(self) -> None:
        self.read_timer = None
        transport = self.transport
        if transport.is_closing():
            return
        cycle = self.cycle
        busy = cycle is not None and not cycle.response_complete
        if self.flow.read_paused or (busy and (self.in_head or cycle.waiting_for_100_continue)):
            self._arm(None)  # waiting on us, not on the peer: look again later
            return
        if not busy or not cycle.response_started:
            transport.write(REQUEST_TIMEOUT)
        if busy:  # the app waiting on the body hears a disconnect; its answer goes nowhere
            cycle.disconnected = True
            cycle.message_event.set()
        transport.close()
