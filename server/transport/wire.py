"""The hub's websocket transport: an asyncio Protocol that uvicorn hands each upgrade to.

uvicorn keeps HTTP (its `ws` option names the class it switches an upgraded connection
to); from the upgrade on, frames go between this protocol and the session without ASGI.
The RFC 6455 work is `server/protocol/websocket.py`. What this layer adds:

- writes are synchronous while the socket is not pushing back (`write_now`), so room
  fan-out costs no task switch per member, and a broadcast's frame is built once;
- `abort` queues the close frame past backpressure and drops the socket after a grace, so
  a reader that stopped costs nothing more (ASGI's close would wait behind its buffer);
- keepalive is one sweep per process over all sockets (`Sockets`), not a timer each: a
  socket silent for `ping_interval` gets a ping, one silent for twice that is dropped
  (`sockets.py`);
- every byte for the peer, pongs and close frames included, goes through `_put`, which
  cuts a socket whose transport would hold more than the outbox bound; while the peer
  does not take our writes we stop reading it and answer only its latest ping.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, cast

from server.hub.connection import Shared
from server.protocol import websocket as ws
from server.protocol.websocket import HandshakeError, ProtocolError, Upgrade

if TYPE_CHECKING:
    from server.transport.sockets import Sockets

log = logging.getLogger("clienta.wire")

ABORT_GRACE_S = 1.0
CLOSE_TIMEOUT_S = 2.0
INBOX_HIGH = 64  # frames read but not yet taken by the session: stop reading past this
# frames corked this iteration past this many bytes go to the transport at once, so its
# backpressure (and the outbox bound) applies within one iteration's fan-out too
CORK_MAX_BYTES = 64 * 1024
OP_FOR = {str: ws.OP_TEXT, bytes: ws.OP_BINARY}

class Disconnected(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class WireSocket(asyncio.Protocol):
    """One websocket connection, from the upgrade request uvicorn replays to us to close."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = _loop or asyncio.get_event_loop()
        self.sockets: Sockets | None = app_state.get("sockets")
        self.connections = server_state.connections  # uvicorn shuts these down on exit
        self.tasks = server_state.tasks
        self.transport: asyncio.Transport | None = None
        self.upgrade: Upgrade | None = None
        self.parser: ws.FrameParser | None = None
        self.inbox: deque[str | bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.drain_waiters: list[asyncio.Future[None]] = []
        self.writable = True
        self.read_paused = False
        self.inbox_full = False
        self.max_out = 0  # set by the upgrade, before anything is written
        # the latest ping not yet answered because the peer is not taking our writes
        self.pong_due: bytes | None = None
        self.accepted = False
        self.close_sent = False
        self.lost = False
        self.close_code: int | None = None  # the code the session sees as its end
        self.last_rx = self.loop.time()
        self.conn_id = ""
        # frames written during this loop iteration: one send() for all of them, so a
        # member of many busy rooms costs one syscall per iteration, not one per frame
        self.pending: list[bytes] | None = None
        self.pending_bytes = 0

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream connection's is a Transport
        self.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.upgrade is None:
            self._start(data)
            return
        if self.parser is None or self.lost:
            return
        try:
            events = self.parser.feed(data)
        except ProtocolError as exc:
            if self.close_code is None:
                self._fail(exc.code, exc.reason)
            return
        if events:  # a whole frame is news; half of one trickled forever is silence
            self.last_rx = self.loop.time()
        for opcode, payload in events:
            if opcode <= ws.OP_BINARY:
                if self.close_code is None:  # closing: only the peer's close matters now
                    self.inbox.append(payload)  # type: ignore[arg-type]  # data frames: str or bytes
            elif opcode == ws.OP_PING:
                if self.close_sent:
                    pass
                elif self.writable:
                    self._write(ws.frame(ws.OP_PONG, payload))  # type: ignore[arg-type]  # a ping's: bytes
                else:  # RFC 6455 5.5.3: answering only the most recent ping is enough
                    self.pong_due = payload  # type: ignore[assignment]  # a ping's: bytes
            elif opcode == ws.OP_CLOSE:
                code, _ = cast("tuple[int, str]", payload)  # a close frame's: code and reason
                self._closed_by_peer(code)
                break
        if len(self.inbox) > INBOX_HIGH and not self.inbox_full:
            self.inbox_full = True
            self._pace()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.connections.discard(self)
        if self.sockets is not None:
            self.sockets.open.discard(self)
        if self.close_code is None:
            self.close_code = 1006
        self._wake()
        self._wake_writers()

    def pause_writing(self) -> None:
        self.writable = False
        self._pace()

    def resume_writing(self) -> None:
        self.writable = True
        pong, self.pong_due = self.pong_due, None
        if pong is not None and not self.close_sent:
            self._write(ws.frame(ws.OP_PONG, pong))
        self._pace()
        self._wake_writers()

    def shutdown(self) -> None:
        """uvicorn is stopping: tell the client to reconnect (1012)."""
        services = self.services
        if services is not None:
            services.begin_stop()
        if self.accepted and not self.close_sent:
            self._write(ws.close_frame(1012))
            self.close_sent = True
        if self.close_code is None:
            self.close_code = 1012
        self._wake()
        if self.transport is not None:
            self.transport.close()

    # -- the upgrade -------------------------------------------------------------------

    def _start(self, request: bytes) -> None:
        assert self.transport is not None
        try:
            self.upgrade = ws.parse_upgrade(request)
        except HandshakeError as exc:
            self._reject(exc.status, exc.reason)
            return
        sockets = self.sockets
        endpoint = sockets.endpoints.get(self.upgrade.path) if sockets else None
        if sockets is None or endpoint is None:
            self._reject(404 if sockets else 503, "no websocket endpoint here")
            return
        self.parser = ws.FrameParser(sockets.max_frame_bytes)
        self.max_out = sockets.max_out_bytes
        self.conn_id = sockets.new_id()
        sockets.open.add(self)
        task = self.loop.create_task(endpoint(self))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _reject(self, status: int, reason: str) -> None:
        self.close_code = 1006
        self.transport.write(ws.reject_response(status, reason))  # type: ignore[union-attr]  # connection_made set it
        self.transport.close()  # type: ignore[union-attr]  # set by connection_made

    # -- what the session uses ---------------------------------------------------------

    @property
    def services(self) -> Any:
        return self.sockets.services if self.sockets is not None else None

    @property
    def query(self) -> dict[str, str]:
        return self.upgrade.query if self.upgrade is not None else {}

    @property
    def headers(self) -> dict[str, str]:
        return self.upgrade.headers if self.upgrade is not None else {}

    @property
    def peer_address(self) -> str | None:
        """The connecting host (a proxy's, when one is in front)."""
        name = self.transport.get_extra_info("peername") if self.transport else None
        return str(name[0]) if isinstance(name, tuple) and name else None

    @property
    def subprotocols(self) -> list[str]:
        return self.upgrade.subprotocols if self.upgrade is not None else []

    def accept(self, subprotocol: str | None) -> None:
        if self.lost or self.upgrade is None:
            raise Disconnected(self.close_code or 1006)
        self._write(ws.accept_response(self.upgrade.key, subprotocol))
        self.accepted = True

    async def receive(self, timeout: float | None = None) -> str | bytes:
        """The next text or binary message; raises Disconnected once the socket is done,
        TimeoutError after `timeout` seconds (a timer, not `wait_for`'s extra task)."""
        while not self.inbox:
            if self.close_code is not None:
                raise Disconnected(self.close_code)
            waiter = self.waiter = self.loop.create_future()
            timer = None if timeout is None else self.loop.call_later(
                timeout, _expire, waiter)
            try:
                await waiter
            finally:
                self.waiter = None
                if timer is not None:
                    timer.cancel()
        message = self.inbox.popleft()
        if self.inbox_full and len(self.inbox) < INBOX_HIGH // 2:
            self.inbox_full = False
            self._pace()
        return message

    def write_now(self, payload: str | bytes | Shared) -> bool:
        """Write a frame now unless the socket is pushing back; False: queue and `send`."""
        if not self.writable or self.close_sent or self.lost:
            return False
        if isinstance(payload, Shared):  # room fan-out: cork it
            wire = payload.wire
            if wire is None:
                data = payload.data
                wire = payload.wire = ws.frame(OP_FOR[type(data)],
                                               data.encode() if isinstance(data, str) else data)
        else:  # this connection's own frame (welcome, ack): out at once unless corked
            wire = ws.frame(OP_FOR[type(payload)],
                            payload.encode() if isinstance(payload, str) else payload)
            if self.pending is None:
                self._put(wire)
                return True
        pending = self.pending
        if pending is None:
            self.pending = [wire]
            self.pending_bytes = len(wire)
            self.sockets.cork(self)  # type: ignore[union-attr]  # set once accepted
        else:
            pending.append(wire)
            self.pending_bytes += len(wire)
            if self.pending_bytes > CORK_MAX_BYTES:
                self.flush()  # the sweep's flush then finds nothing left
        return True

    def flush(self) -> None:
        pending, self.pending = self.pending, None
        if pending:
            self._put(pending[0] if len(pending) == 1 else b"".join(pending))

    async def send(self, payload: str | bytes) -> None:
        """Write a frame once the socket drains; raises Disconnected if it never will."""
        while not self.writable and not self.lost:
            waiter = self.loop.create_future()
            self.drain_waiters.append(waiter)
            await waiter
        if self.lost or self.close_sent:
            raise Disconnected(self.close_code or 1006)
        self.write_now(payload)

    async def close(self, code: int) -> None:
        """The closing handshake: send our close, wait (bounded) for the client's."""
        if not self.close_sent and not self.lost:
            self._write(ws.close_frame(code))
            self.close_sent = True
        if self.close_code is None:
            self.close_code = code
        if not self.lost:
            self.loop.call_later(CLOSE_TIMEOUT_S, self.drop)

    def abort(self, code: int) -> None:
        """Close a socket that is not being read: the close frame queues behind the
        backlog; a reader that wakes within the grace still sees the code."""
        if not self.close_sent and not self.lost:
            self._write(ws.close_frame(code))
            self.close_sent = True
        if self.close_code is None:
            self.close_code = code
        self._wake()
        self.loop.call_later(ABORT_GRACE_S, self.drop)

    def ping(self) -> None:
        if not self.close_sent and not self.lost and self.writable:
            self._write(ws.frame(ws.OP_PING, b""))

    def drop(self) -> None:
        if not self.lost and self.transport is not None:
            self.transport.abort()

    # -- internals ---------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.pending:
            self.flush()  # frames written before keep their place
        self._put(data)

    def _put(self, data: bytes) -> None:
        """Every byte for the peer after the upgrade goes out here. A transport that would
        hold more than the outbox bound has a peer that is not reading: cut it (a close
        frame would only queue behind the rest)."""
        transport = self.transport
        if self.lost or transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() + len(data) > self.max_out:
            log.warning("peer not reading, cut", extra={
                "conn_id": self.conn_id, "queued_bytes": transport.get_write_buffer_size()})
            if self.close_code is None:
                self.close_code = 1012
            if self.services is not None:
                self.services.metrics.slow_consumers.inc()
            transport.abort()
            self._wake()
            return
        transport.write(data)

    def _pace(self) -> None:
        """Read the peer only while the session keeps up with its frames and the peer
        takes ours: one that sends (pings, say) without reading is left to TCP's flow
        control, and the keepalive sweep drops it once it has been unread long enough."""
        paused = self.inbox_full or not self.writable
        if paused != self.read_paused and not self.lost and self.transport is not None:
            self.read_paused = paused
            if paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def _closed_by_peer(self, code: int) -> None:
        if not self.close_sent:
            self._write(ws.close_frame(1000 if code == 1005 else code))
            self.close_sent = True
        if self.close_code is None:
            self.close_code = code
        self.transport.close()  # type: ignore[union-attr]  # set by connection_made

    def _fail(self, code: int, reason: str) -> None:
        log.info("websocket protocol error", extra={"code": code, "reason": reason})
        if not self.close_sent:
            self._write(ws.close_frame(code))
            self.close_sent = True
        self.close_code = code
        self.transport.close()  # type: ignore[union-attr]  # set by connection_made
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_writers(self) -> None:
        waiters, self.drain_waiters = self.drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

