"""Rooms: local membership per channel, one broker subscription per channel per process,
fan-out that encodes each event once per codec and never awaits a member's socket."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

import msgpack

from server.broker.base import Broker
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
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.members: dict[str, set[Connection]] = {}
        self._control: list[ControlHandler] = []
        self.frames_fanned_out = 0
        self.instance_id = uuid.uuid4().hex[:12]
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
                      audience: str = AUDIENCE_ALL) -> None:
        await self._publish(channel, {"f": frame, "a": audience})

    async def control(self, channel: str, message: dict[str, Any]) -> None:
        """A process-to-process signal (cancel a bot stream, ...): never sent to clients."""
        await self._publish(channel, {"c": message})

    async def _publish(self, channel: str, envelope: dict[str, Any]) -> None:
        data = msgpack.packb(envelope, use_bin_type=True)
        try:
            await self.broker.publish(channel, data)
        except Exception as exc:
            # Degrade, never drop: local members get it now, and the publish is retried
            # for the other processes (marked, so this process does not deliver it twice).
            log.warning("publish failed, delivering locally", extra={"error": repr(exc)})
            self.on_message(channel, data)
            if len(self._retries) < MAX_RETRIES_PENDING:
                retry = dict(envelope, o=self.instance_id)
                task = asyncio.create_task(self._retry(channel, retry))
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

    def deliver_to(self, channel: str, conn: Connection, frame: dict[str, Any],
                   audience: str = AUDIENCE_ALL) -> None:
        """One local member's copy of a room event, now, ahead of the broker's (the
        sender's own, right behind its ack): the broker's copy then finds the seq seen
        and is dropped. Ignored unless `conn` is a member that the audience includes."""
        members = self.members.get(channel)
        if members is None or conn not in members:
            return
        if audience == AUDIENCE_AGENTS and conn.kind != "agent":
            return
        conn.deliver(frame, Shared(conn.codec.encode(frame)))

    def on_message(self, channel: str, data: bytes) -> None:
        envelope = msgpack.unpackb(data, raw=False)
        if envelope.get("o") == self.instance_id:
            return  # our own retried publish: delivered locally when it first failed
        control = envelope.get("c")
        if control is not None:
            for handler in self._control:
                handler(channel, control)
            return
        members = self.members.get(channel)
        if not members:
            return
        frame = envelope["f"]
        conv = frame.get("conversation_id")
        seq = stored_seq(frame)
        agents_only = envelope.get("a") == AUDIENCE_AGENTS
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
            conn.deliver_keyed(conv, seq, frame, payload)  # type: ignore[arg-type]
            sent += 1
        self.frames_fanned_out += sent
