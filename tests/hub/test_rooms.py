"""Rooms: local fan-out encodes once, agents-only frames skip visitors; a publish reaches
this process's members before the broker has it and other processes' through the broker,
each once; a failed publish is retried for the other processes, never handled twice here."""

from __future__ import annotations

import asyncio

import msgpack
import pytest

from server.hub.connection import Connection
from server.hub.rooms import AUDIENCE_AGENTS, Hub
from server.protocol.codec import JsonCodec, MsgpackCodec
from tests.support.pubsub import InProcessPubSub

pytestmark = pytest.mark.asyncio(loop_scope="session")


class FlakyBroker(InProcessPubSub):
    """Fails the first publish, and records what other processes would have received."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1
        self.sent: list[dict] = []

    async def publish(self, channel: str, data: bytes) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("redis is down")
        self.sent.append(msgpack.unpackb(data, raw=False))
        await super().publish(channel, data)


def member(kind: str, codec=None) -> tuple[Connection, list]:
    got: list = []

    async def never(payload: object) -> None:
        raise AssertionError("the fast path should take it")

    async def closer(code: int) -> None:
        return None

    conn = Connection(kind, kind, codec or JsonCodec(), never, closer, 1 << 20,
                      fast_write=lambda p: got.append(p.data) or True)
    return conn, got


async def test_fan_out_and_audience() -> None:
    hub = Hub(InProcessPubSub())
    await hub.broker.start(hub.on_message, lambda: asyncio.sleep(0))
    visitor, v_got = member("visitor")
    agent_json, a_got = member("agent")
    agent_mp, m_got = member("agent", MsgpackCodec())
    for conn in (visitor, agent_json, agent_mp):
        await hub.join("c:1", conn)
    await hub.publish("c:1", {"t": "typing", "conversation_id": "1", "on": True})
    await hub.publish("c:1", {"t": "note", "seq": 1, "conversation_id": "1"}, AUDIENCE_AGENTS)
    await asyncio.sleep(0)  # the local fan-out runs in the callback after the publish
    assert len(v_got) == 1 and len(a_got) == 2 and len(m_got) == 2
    assert isinstance(m_got[0], bytes) and isinstance(a_got[0], str)


async def test_failed_publish_is_local_now_and_retried_for_others() -> None:
    broker = FlakyBroker()
    hub = Hub(broker)
    await broker.start(hub.on_message, lambda: asyncio.sleep(0))
    conn, got = member("visitor")
    await hub.join("c:9", conn)
    await hub.publish("c:9", {"t": "mode", "conversation_id": "9", "mode": "queued"})
    await asyncio.sleep(0)
    assert len(got) == 1  # delivered locally at once
    for _ in range(50):
        if broker.sent:
            break
        await asyncio.sleep(0.02)
    assert broker.sent and broker.sent[0]["o"] == hub.instance_id  # others get it later
    assert len(got) == 1  # and this process does not deliver it a second time
    await hub.close()


class HeldBroker:
    """Redis for two processes, holding every publish until `release()`: what a member
    gets meanwhile did not come through the broker."""

    def __init__(self) -> None:
        self.handlers: list = []
        self.held: list[tuple[str, bytes]] = []

    def process(self) -> InProcessPubSub:
        broker = self

        class Attached(InProcessPubSub):
            async def start(self, on_message, on_resync) -> None:  # type: ignore[no-untyped-def]
                await super().start(on_message, on_resync)
                broker.handlers.append(on_message)

            async def publish(self, channel: str, data: bytes) -> None:
                broker.held.append((channel, data))

        return Attached()

    def release(self) -> None:
        held, self.held = self.held, []
        for channel, data in held:
            for handler in self.handlers:
                handler(channel, data)


async def test_local_members_first_then_the_other_process_through_the_broker() -> None:
    redis = HeldBroker()
    here, there = Hub(redis.process()), Hub(redis.process())
    for hub in (here, there):
        await hub.broker.start(hub.on_message, lambda: asyncio.sleep(0))
    sender, s_got = member("visitor")
    agent_here, h_got = member("agent")
    agent_there, t_got = member("agent")
    await here.join("c:3", sender)
    await here.join("c:3", agent_here)
    await there.join("c:3", agent_there)
    event = {"t": "msg", "seq": 1, "conversation_id": "3", "text": "hi"}
    note = {"t": "note", "seq": 2, "conversation_id": "3", "text": "private"}
    # a preview frame has no seq: only the echo check keeps it from arriving twice
    delta = {"t": "bot.delta", "conversation_id": "3", "stream_id": "s1", "text": "Hel",
             "offset": 0}
    await here.publish("c:3", event)
    await here.publish("c:3", note, AUDIENCE_AGENTS)  # a visitor never gets a note
    await here.publish("c:3", delta)
    await asyncio.sleep(0)  # the local fan-out runs in the callback after the publish
    assert len(s_got) == 2 and len(h_got) == 3 and not t_got  # nothing has left this process
    redis.release()
    assert len(t_got) == 3  # the other process's member, through the broker
    assert len(s_got) == 2 and len(h_got) == 3  # the echo here is dropped: once each
    # a control signal is handled by every process, this one included, via the broker
    seen: list[tuple[str, str]] = []
    for name, hub in (("here", here), ("there", there)):
        hub.on_control(lambda channel, message, name=name: seen.append((name, message["op"])))
    await here.control("c:3", {"op": "cancel_bot"})
    assert not seen
    redis.release()
    assert sorted(seen) == [("here", "cancel_bot"), ("there", "cancel_bot")]


async def test_a_failed_control_signal_is_handled_here_now_and_once() -> None:
    broker = FlakyBroker()
    hub = Hub(broker)
    await broker.start(hub.on_message, lambda: asyncio.sleep(0))
    await hub.join("c:5", member("agent")[0])  # subscribed, so the retry's echo comes back
    seen: list[str] = []
    hub.on_control(lambda channel, message: seen.append(message["op"]))
    await hub.control("c:5", {"op": "cancel_bot"})
    assert seen == ["cancel_bot"]  # Redis is down: handled here at once
    for _ in range(50):
        if broker.sent:
            break
        await asyncio.sleep(0.02)
    assert broker.sent and broker.sent[0]["o"] == hub.instance_id  # retried for the others
    assert seen == ["cancel_bot"]  # and its echo is not handled a second time
    await hub.close()


async def test_the_sender_first_then_the_publish_then_the_other_local_members() -> None:
    order: list[str] = []

    class Recording(InProcessPubSub):
        def publish(self, channel: str, data: bytes):  # type: ignore[no-untyped-def, override]
            order.append("publish issued")  # what a live Redis connection does: at once
            return super().publish(channel, data)

    def recorded(name: str, kind: str) -> Connection:
        async def never(payload: object) -> None:
            raise AssertionError("the fast path should take it")

        async def closer(code: int) -> None:
            return None

        return Connection(name, kind, JsonCodec(), never, closer, 1 << 20,
                          fast_write=lambda p: order.append(f"{name} got") or True)

    hub = Hub(Recording())
    await hub.broker.start(hub.on_message, lambda: asyncio.sleep(0))
    sender, other = recorded("sender", "visitor"), recorded("other", "agent")
    await hub.join("c:4", sender)
    await hub.join("c:4", other)
    event = {"t": "msg", "seq": 1, "conversation_id": "4", "text": "hi"}
    await hub.publish("c:4", event, sender=sender)
    await asyncio.sleep(0)
    # other processes are not kept waiting by this one's fan-out; the sender's copy is
    # not sent twice by it
    assert order == ["sender got", "publish issued", "other got"]
