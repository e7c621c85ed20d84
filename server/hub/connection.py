"""One client connection: a byte-bounded outbox drained by its own writer task.

A client too slow to drain its outbox is cut off with 1012 (reconnect): it resumes from
Postgres by `seq`, so the room never waits for it and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from server.protocol.codec import Codec
from server.protocol.codes import CloseCode

log = logging.getLogger("clienta.conn")

STORED_EVENTS = frozenset({"msg", "note"})


def stored_seq(frame: dict[str, Any]) -> int | None:
    """The seq of a stored event; None for anything else (`read` carries a seq too, but
    it is not one of the conversation's events)."""
    if frame.get("t") in STORED_EVENTS and frame.get("conversation_id") is not None:
        return frame.get("seq")
    return None


class Shared:
    """One encoded room event shared by every local member. The transport builds its
    websocket frame once (`wire`) and writes the same bytes to each socket."""

    __slots__ = ("data", "wire")

    def __init__(self, data: str | bytes) -> None:
        self.data = data
        self.wire: bytes | None = None


Payload = str | bytes | Shared

Sender = Callable[[str | bytes], Awaitable[None]]
FastWrite = Callable[[Any], bool]
Closer = Callable[[int], Awaitable[None]]


class Connection:
    __slots__ = (
        "_closer",
        "_fast_write",
        "_pending",
        "_queue",
        "_queued_bytes",
        "_sender",
        "_writer",
        "close_code",
        "closed",
        "codec",
        "conn_id",
        "conversations",
        "frames_out",
        "gaps",
        "kind",
        "max_bytes",
        "on_gap",
        "org_id",
        "replaying",
        "seen_seq",
        "slow",
        "tally",
        "user_id",
    )

    def __init__(self, conn_id: str, kind: str, codec: Codec, sender: Sender, closer: Closer,
                 max_bytes: int, fast_write: FastWrite | None = None,
                 tally: Any = None) -> None:
        self.conn_id = conn_id
        self.kind = kind  # visitor | agent
        self.codec = codec
        self._sender = sender
        self._closer = closer
        # a synchronous write straight into the transport while it is not applying
        # backpressure: the common case costs no task switch and no await
        self._fast_write = fast_write
        self.max_bytes = max_bytes
        self._queue: deque[str | bytes] = deque()
        self._queued_bytes = 0
        # the writer task exists only while there is a backlog to drain
        self._writer: asyncio.Task[None] | None = None
        self.closed = False
        self.close_code: int | None = None
        self.org_id: UUID | None = None
        self.user_id: UUID | None = None
        # conversation id -> highest seq delivered; drops replay/live duplicates
        self.seen_seq: dict[str, int] = {}
        self.conversations: set[str] = set()
        # conversation id -> live frames held back while history is replayed
        self.replaying: dict[str, list[dict[str, Any]]] = {}
        self._pending: list[Any] = []
        # conversation id -> seq -> payload held behind a gap; `on_gap` asks for a repair
        self.gaps: dict[str, dict[int, Payload]] = {}
        self.on_gap: Callable[[Connection, str], None] | None = None
        self.frames_out = 0
        self.tally = tally  # the process-wide frames-out count for this kind, or None
        self.slow = False

    def send(self, frame: dict[str, Any]) -> None:
        self.send_encoded(self.codec.encode(frame))

    def send_soon(self, frame: dict[str, Any]) -> None:
        """Send in this loop iteration's write to the socket, with what else it gets
        meanwhile (an ack, then the sender's own copy of the event): one system call
        and one wake-up of the client instead of one each."""
        self.send_encoded(Shared(self.codec.encode(frame)))

    def send_encoded(self, payload: Payload) -> None:
        if self.closed:
            return
        if not self._queue and self._fast_write is not None and self._fast_write(payload):
            self.frames_out += 1
            if self.tally is not None:
                self.tally.n += 1
            return
        if isinstance(payload, Shared):
            # the slow path: the writer task hands the bytes to the transport's send
            # (transport/wire.py), which frames them for this socket alone
            payload = payload.data
        self._queue.append(payload)
        self._queued_bytes += len(payload)
        if self._queued_bytes > self.max_bytes:
            self.slow = True
            log.warning("slow consumer cut off", extra={"conn_id": self.conn_id,
                                                         "queued_bytes": self._queued_bytes})
            self.abort(CloseCode.RESTARTING)
            return
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain(), name=f"writer-{self.conn_id}")

    def deliver(self, frame: dict[str, Any], payload: Payload) -> None:
        """A room event: drop what this connection already has, hold it during replay."""
        self.deliver_keyed(frame.get("conversation_id"), stored_seq(frame), frame, payload)

    def deliver_keyed(self, conv: str | None, seq: int | None, frame: dict[str, Any],
                      payload: Payload) -> None:
        """`deliver` with the frame's conversation and stored seq already read: room
        fan-out reads them once per event, not once per member."""
        if conv is not None:
            # Every frame of a conversation being replayed waits for the replay: stored
            # events so none is sent twice or out of order, and all of them because a
            # resume joins the room before it has confirmed the conversation is the
            # visitor's (unconfirmed, the held frames are dropped unseen).
            if self.replaying:
                replay = self.replaying.get(conv)
                if replay is not None:
                    replay.append(frame)
                    return
            if seq is not None:
                last = self.seen_seq.get(conv, 0)
                if seq <= last:
                    return
                if seq != last + 1:
                    # Publishes from two processes can overtake each other: hold this one
                    # until the missing seqs arrive or are read from Postgres, so a client
                    # never sees N+1 before N (its last_seq would then skip N for good).
                    gap = self.gaps.get(conv)
                    if gap is None:
                        gap = self.gaps[conv] = {}
                        if self.on_gap is not None:
                            self.on_gap(self, conv)
                    gap[seq] = payload
                    return
                self.seen_seq[conv] = seq
                self.send_encoded(payload)
                if self.gaps and conv in self.gaps:
                    self.release(conv)
                return
        self.send_encoded(payload)

    def release(self, conversation_id: str, known_through: int = 0) -> None:
        """Send held events that are now contiguous. `known_through`: Postgres showed
        nothing this connection may see up to that seq (e.g. private notes)."""
        gap = self.gaps.get(conversation_id)
        if gap is None:
            return
        last = max(self.seen_seq.get(conversation_id, 0), known_through)
        while gap:
            nxt = min(gap)
            if nxt <= last:
                del gap[nxt]
                continue
            if nxt != last + 1:
                break
            self.send_encoded(gap.pop(nxt))
            last = nxt
        self.seen_seq[conversation_id] = last
        if not gap:
            del self.gaps[conversation_id]

    def begin_replay(self, conversation_id: str) -> None:
        self.replaying.setdefault(conversation_id, [])

    def end_replay(self, conversation_id: str) -> None:
        held = self.replaying.pop(conversation_id, [])
        for frame in held:
            self.deliver(frame, self.codec.encode(frame))

    def mark_seen(self, conversation_id: str, seq: int) -> None:
        if seq > self.seen_seq.get(conversation_id, 0):
            self.seen_seq[conversation_id] = seq

    async def _drain(self) -> None:
        try:
            while self._queue:
                payload = self._queue[0]
                await self._sender(payload)  # waits while the transport applies backpressure
                self._queue.popleft()
                self._queued_bytes -= len(payload)
                self.frames_out += 1
                if self.tally is not None:
                    self.tally.n += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            # the socket went away; the reader notices and cleans up
            self.closed = True
        finally:
            self._writer = None

    def abort(self, code: int) -> None:
        """Close without waiting on a socket that may never drain."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self._queue.clear()
        self._queued_bytes = 0
        if self._writer is not None:
            self._writer.cancel()
        task = asyncio.create_task(self._close_bounded(code))
        self._pending.append(task)

    async def _close_bounded(self, code: int) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._closer(code), 2.0)

    async def flush_and_close(self, code: int, timeout: float = 2.0) -> None:
        """Graceful: let queued frames go out (bounded), then close."""
        if self.closed:
            return
        deadline = asyncio.get_running_loop().time() + timeout
        while self._queue and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # bounded: drain is a once-per-shutdown path
        self.abort(code)
        await asyncio.gather(*self._pending, return_exceptions=True)

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
