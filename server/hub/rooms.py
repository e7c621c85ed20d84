"""Rooms: local membership per channel, one broker subscription per channel per process,
fan-out that encodes each event once per codec and never awaits a member's socket.
A publish reaches this process's members at once and the other processes via the broker."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

import msgpack

from server.broker.base import PubSub
from server.hub.connection import Connection, Shared, stored_seq
from server.protocol.codec import Codec

log = logging.getLogger("clienta.hub")

ControlHandler = Callable[[str, dict[str, Any]], None]

# a failed publish is retried for the other processes a few times, with a bounded backlog
RETRY_DELAYS_S = (0.1, 0.3, 1.0, 3.0)
MAX_RETRIES_PENDING = 10_000

AUDIENCE_ALL = "all"
AUDIENCE_AGENTS = "agents"


def room(conversation_id: str) -> str:
    return f"c:{conversation_id}"


def org_channel(org_id: str) -> str:
    return f"o:{org_id}"


class Hub:
    def __init__(self, broker: PubSub) -> None:
        self.broker = broker
        self.members: dict[str, set[Connection]] = {}
        self._control: list[ControlHandler] = []
        self.frames_fanned_out = 0
        self.instance_id = uuid.uuid4().hex[:12]
        # how this process's own publishes begin once packed ({"o": instance_id, ...}
        # after the map's first byte): their echo is recognised without unpacking it
        self._echo_tag = msgpack.packb({"o": self.instance_id})[1:]
        # set when the process is stopping: members leave without unsubscribing room by room
        # (thousands of UNSUBSCRIBEs would only delay the exit; the connection goes anyway)
        self.stopping = False
        self._retries: set[asyncio.Task[None]] = set()

    def on_control(self, handler: ControlHandler) -> None:
        self._control.append(handler)

    async def join(self, channel: str, conn: Connection) -> None:
        members = self.members.get(channel)
        if members is None:
            members = self.members[channel] = set()
            members.add(conn)
            await self.broker.subscribe(channel)
        else:
            members.add(conn)

    async def leave(self, channel: str, conn: Connection) -> None:
        members = self.members.get(channel)
        if members is None:
            return
        members.discard(conn)
        if not members:
            del self.members[channel]
            if not self.stopping:
                await self.broker.unsubscribe(channel)

    async def publish(self, channel: str, frame: dict[str, Any],
                      audience: str = AUDIENCE_ALL, sender: Connection | None = None) -> None:
        """Publish for the other processes and deliver to this process's members without
        waiting for the broker, whose echo here is dropped unread (it carries this
        process as origin): local members never wait for Redis, nor lose frames while it
        is down, and get each frame once.

        Order within this loop iteration: the `sender` (a member whose event this is)
        gets its copy now, in the same socket write as an ack it was just sent; the
        PUBLISH is issued next, so other processes do not wait for this one's fan-out;
        the other local members get theirs in the callback after, behind the writes
        already queued (acks of messages stored in the same group)."""
        agents_only = audience == AUDIENCE_AGENTS
        if sender is not None:
            self._deliver_one(channel, sender, frame, agents_only)
        envelope = {"o": self.instance_id, "f": frame, "a": audience}
        data = msgpack.packb(envelope, use_bin_type=True)
        try:
            sent = self.broker.publish(channel, data)
        except Exception as exc:  # a closed connection refuses the command at once
            sent = None
            self._publish_failed(channel, envelope, exc)
        asyncio.get_running_loop().call_soon(self._fan_out, channel, frame, agents_only)
        if sent is not None:
            try:
                await sent
            except Exception as exc:
                self._publish_failed(channel, envelope, exc)

    async def control(self, channel: str, message: dict[str, Any]) -> None:
        """A process-to-process signal (cancel a bot stream, ...): never sent to clients.
        Handled by every process, this one included, when the broker delivers it; if
        the publish fails, here at once and for the others when a retry gets through."""
        envelope = {"c": message}
        data = msgpack.packb(envelope, use_bin_type=True)
        try:
            await self.broker.publish(channel, data)
        except Exception as exc:
            self.on_message(channel, data)
            self._publish_failed(channel, dict(envelope, o=self.instance_id), exc)

    def _publish_failed(self, channel: str, envelope: dict[str, Any], exc: Exception) -> None:
        # Degrade, never drop: local members have it; the publish is retried for the
        # other processes, marked so that this process does not handle it twice.
        log.warning("publish failed, retrying for other processes", extra={"error": exc})
        if len(self._retries) < MAX_RETRIES_PENDING:
            task = asyncio.create_task(self._retry(channel, envelope))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)

    async def _retry(self, channel: str, envelope: dict[str, Any]) -> None:
        data = msgpack.packb(envelope, use_bin_type=True)
        for delay in RETRY_DELAYS_S:
            await asyncio.sleep(delay)
            try:
                await self.broker.publish(channel, data)
                return
            except Exception:
                continue
        # still failing: members elsewhere catch up on the next event (gap repair), on the
        # broker's resync, or when they resume by last_seq
        log.warning("publish retries exhausted", extra={"channel": channel[:2]})

    async def close(self) -> None:
        for task in list(self._retries):
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)

    def on_message(self, channel: str, data: bytes) -> None:
        if data[1:16] == self._echo_tag:
            return  # this process's own publish: its members had it before it went out
        envelope = msgpack.unpackb(data, raw=False)
        if envelope.get("o") == self.instance_id:
            return  # our own retried control signal: handled here when it first failed
        control = envelope.get("c")
        if control is not None:
            for handler in self._control:
                handler(channel, control)
            return
        self._fan_out(channel, envelope["f"], envelope.get("a") == AUDIENCE_AGENTS)

    def _deliver_one(self, channel: str, conn: Connection, frame: dict[str, Any],
                     agents_only: bool) -> None:
        """`conn`'s copy now, if it is a member the audience includes; the fan-out after
        finds its seq delivered (stored events are the only frames with a sender)."""
        members = self.members.get(channel)
        if members is None or conn not in members or (agents_only and conn.kind != "agent"):
            return
        conn.deliver(frame, Shared(conn.codec.encode(frame)))

    def _fan_out(self, channel: str, frame: dict[str, Any], agents_only: bool) -> None:
        members = self.members.get(channel)
        if not members:
            return
        conv = frame.get("conversation_id")
        seq = stored_seq(frame)
        # members nearly always share one codec: keep the last one's payload at hand
        last_codec: Codec | None = None
        payload: Shared | None = None
        encoded: dict[str, Shared] = {}
        sent = 0
        for conn in tuple(members):
            if agents_only and conn.kind != "agent":
                continue
            codec = conn.codec
            if codec is not last_codec:
                payload = encoded.get(codec.name)
                if payload is None:
                    payload = encoded[codec.name] = Shared(codec.encode(frame))
                last_codec = codec
            conn.deliver_keyed(conv, seq, frame, payload)  # type: ignore[arg-type]  # set with last_codec
            sent += 1
        self.frames_fanned_out += sent
