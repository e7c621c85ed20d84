"""The thin asyncio layer shared by both websocket endpoints: accept with a codec, read
frames with limits, answer bad frames with `error`, and close abusers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from server.hub.connection import Connection
from server.metrics import Metrics
from server.protocol import frames
from server.protocol.codec import DecodeError, negotiate
from server.protocol.codes import CloseCode, ErrorCode
from server.protocol.frames import Field, FrameError
from server.protocol.session import EdgePolicy
from server.settings import Limits
from server.transport.wire import Disconnected, WireSocket

log = logging.getLogger("clienta.ws")

# frames that count against the message rate (everything else is cheap or read-only)
RATED = frozenset({"msg", "note", "typing", "email", "identify", "csat", "handoff"})


class Closed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class FrameSocket:
    """One accepted websocket: decode, validate, rate-limit; encode via the Connection."""

    def __init__(self, peer: WireSocket, kind: str, table: dict[str, dict[str, Field]],
                 limits: Limits, metrics: Metrics) -> None:
        self.peer = peer
        self.kind = kind
        self.table = table
        self.limits = limits
        self.metrics = metrics
        self.policy = EdgePolicy(limits)
        self.frames_in = metrics.frames_in[kind]
        self.subprotocol, self.codec = negotiate(peer.subprotocols)
        self.conn = Connection(peer.conn_id, kind, self.codec, peer.send, self._close,
                               limits.outbox_max_bytes, peer.write_now,
                               metrics.frames_out.get(kind))

    def repair_gaps_with(self, repair: Any) -> None:
        self.conn.on_gap = repair

    def accept(self) -> None:
        self.peer.accept(self.subprotocol)
        self.metrics.connections[self.kind].n += 1

    async def _close(self, code: int) -> None:
        if self.conn.slow:
            self.metrics.slow_consumers.inc()
            self.peer.abort(code)  # never wait on a socket that is not being read
            return
        await self.peer.close(code)

    async def next_frame(self, timeout: float | None = None) -> dict[str, Any]:
        """The next valid frame. Bad ones are answered here; abuse raises Closed."""
        while True:
            data = await self.peer.receive(timeout)
            self.frames_in.n += 1  # the frame size limit is the transport's (close 1009)
            try:
                raw = self.codec.decode(data)
                frame = frames.validate(raw, self.table, self.limits)
            except DecodeError as exc:
                self._bad(ErrorCode.BAD_FRAME, str(exc), None)
                continue
            except FrameError as exc:
                self._bad(exc.code, exc.message, exc.ref)
                continue
            if frame["t"] in RATED and not self.policy.allow_message():
                self.conn.send(frames.error(ErrorCode.RATE_LIMITED, "slow down",
                                            frame.get("id")))
                if self.policy.close_code() is not None:
                    raise Closed(CloseCode.POLICY)
                continue
            if frame["t"] == "ping":
                self.conn.send(frames.PONG)
                continue
            return frame

    def _bad(self, code: ErrorCode, message: str, ref: str | None) -> None:
        self.policy.bad_frame()
        self.conn.send(frames.error(code, message, ref))
        close = self.policy.close_code()
        if close is not None:
            raise Closed(close)

    def error(self, code: ErrorCode, message: str, ref: str | None = None) -> None:
        self.conn.send(frames.error(code, message, ref))

    async def close(self, code: int) -> None:
        await self.conn.flush_and_close(code)

    async def finish(self) -> None:
        self.metrics.connections[self.kind].n -= 1
        await self.conn.stop()


class Session(Protocol):
    async def run(self) -> None: ...

    async def leave(self) -> None: ...


async def serve(peer: WireSocket, kind: str, table: dict[str, dict[str, Field]],
                make_session: Callable[[Any, FrameSocket], Session]) -> None:
    """Run one websocket session of either kind: accept, run, close with the right code,
    and always leave its rooms."""
    services = peer.services
    sock = FrameSocket(peer, kind, table, services.settings.limits, services.metrics)
    sock.repair_gaps_with(services.conversations.repair_gap)
    try:
        sock.accept()
    except Disconnected:
        return
    session = make_session(services, sock)
    try:
        await session.run()
    except Closed as exc:
        await sock.close(exc.code)
    except (Disconnected, TimeoutError):
        pass
    except Exception:
        log.exception("session failed", extra={"conn_id": sock.conn.conn_id, "kind": kind})
        with contextlib.suppress(Exception):
            await sock.close(CloseCode.RESTARTING)
    finally:
        await session.leave()
        await sock.finish()
        if not peer.close_sent:
            await peer.close(CloseCode.NORMAL)
