"""The thin asyncio layer shared by both websocket endpoints: accept with a codec, read
frames with limits, answer bad frames with `error`, and close abusers."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg

from server.hub.connection import Connection
from server.metrics import Metrics
from server.protocol import frames
from server.protocol.codec import DecodeError, negotiate
from server.protocol.codes import CloseCode, ErrorCode
from server.protocol.frames import Field, FrameError
from server.protocol.session import EdgePolicy
from server.services.rate_limits import RateLimiter, Scope
from server.settings import Limits
from server.transport.wire import Disconnected, WireSocket

log = logging.getLogger("clienta.ws")

# a dependency failing (Postgres, Redis, the network): not the frame's fault, and never a
# reason to tell the client to reconnect at once; anything else raised is a bug
UNAVAILABLE = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
               asyncpg.exceptions.OperatorInterventionError,
               asyncpg.exceptions.InsufficientResourcesError)

# frames that count against the message rate as well as the frame rate of the socket
RATED = frozenset({"msg", "note", "typing", "email", "identify", "csat", "handoff"})
# a visitor's frames that store or publish, counted over all its sockets and processes
# (one pipelined EVAL each); ping and the rest are counted by the socket's buckets only
VISITOR_QUOTAS: dict[str, Scope] = {
    **dict.fromkeys(("msg", "email", "identify", "csat", "handoff", "transcript"),
                    Scope.VISITOR_MESSAGES),
    **dict.fromkeys(("read", "typing", "hello", "wait"), Scope.VISITOR_FRAMES),
}


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
        self.limiter: RateLimiter | None = None
        self.quotas: dict[str, Scope] = {}  # none until the session knows who is sending
        self.quota_subject = ""
        self.frames_in = metrics.frames_in[kind]
        self.subprotocol, self.codec = negotiate(peer.subprotocols)
        self.conn = Connection(peer.conn_id, kind, self.codec, peer.send, self._close,
                               limits.outbox_max_bytes, peer.write_now,
                               metrics.frames_out.get(kind))

    def repair_gaps_with(self, repair: Any) -> None:
        self.conn.on_gap = repair

    def limit_by(self, limiter: RateLimiter, quotas: dict[str, Scope], subject: str) -> None:
        """From now on, frames of these kinds also count against `subject`'s quotas."""
        self.limiter, self.quotas, self.quota_subject = limiter, quotas, subject

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
            kind = frame["t"]
            rated = kind in RATED
            if not self.policy.allow_frame(rated):
                self._flooding(frame, self.policy.retry_after_s(rated))
                continue
            if kind == "ping":
                self.conn.send(frames.PONG)
                continue
            scope = self.quotas.get(kind)
            if scope is not None and self.limiter is not None:
                verdict = await self.limiter.check(scope, self.quota_subject)
                if not verdict.allowed:
                    self.policy.refused()
                    self._flooding(frame, verdict.retry_after_s)
                    continue
            return frame

    def _flooding(self, frame: dict[str, Any], retry_after_s: float) -> None:
        self.rate_limited("slow down", frame.get("id"), retry_after_s)
        if self.policy.close_code() is not None:
            raise Closed(CloseCode.POLICY)

    def _bad(self, code: ErrorCode, message: str, ref: str | None) -> None:
        self.policy.bad_frame()
        self.conn.send(frames.error(code, message, ref))
        close = self.policy.close_code()
        if close is not None:
            raise Closed(close)

    def error(self, code: ErrorCode, message: str, ref: str | None = None) -> None:
        self.conn.send(frames.error(code, message, ref))

    def failed(self, frame: dict[str, Any], exc: Exception) -> None:
        """Handling `frame` raised: answer it with `error` (its `ref` tells the widget to
        stop resending it) and keep the session. A dependency down is `unavailable`; a bug
        is `bad_frame` and counts as one, so a bug every frame hits ends in 4008, never
        in 1012's reconnect-and-resend loop."""
        if isinstance(exc, (Closed, Disconnected)):
            raise exc
        ref = frame.get("id") or frame.get("conversation_id")
        extra = {"conn_id": self.conn.conn_id, "kind": self.kind, "frame": frame["t"]}
        if isinstance(exc, UNAVAILABLE):
            log.warning("a dependency failed during a frame", extra={**extra, "error": exc})
            self.error(ErrorCode.UNAVAILABLE, "the service is unavailable, try again later",
                       ref)
            return
        log.error("frame failed", extra=extra, exc_info=exc)
        self._bad(ErrorCode.BAD_FRAME, "this frame could not be handled", ref)

    def rate_limited(self, message: str, ref: str | None, retry_after_s: float) -> None:
        """`error rate_limited` with when to try again (`retry_after_ms`, an extension)."""
        frame = frames.error(ErrorCode.RATE_LIMITED, message, ref)
        frame["retry_after_ms"] = max(1, math.ceil(retry_after_s * 1000))
        self.conn.send(frame)

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
    except UNAVAILABLE as exc:  # at set-up (hello): the client backs off and comes back
        log.warning("a dependency failed during a session",
                    extra={"conn_id": sock.conn.conn_id, "kind": kind, "error": exc})
        with contextlib.suppress(Exception):
            await sock.close(CloseCode.TRY_AGAIN_LATER)
    except Exception:
        # never 1012: that says "reconnect now", and the client would resend what failed
        log.exception("session failed", extra={"conn_id": sock.conn.conn_id, "kind": kind})
        with contextlib.suppress(Exception):
            await sock.close(CloseCode.INTERNAL_ERROR)
    finally:
        await session.leave()
        await sock.finish()
        if not peer.close_sent:
            await peer.close(CloseCode.NORMAL)
