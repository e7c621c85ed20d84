"""Rooms: local fan-out encodes once, agents-only frames skip visitors, and a failed publish
is delivered locally at once and retried for the other processes, never twice here;
one member can get its copy ahead of the broker (the sender, with its ack)."""

from __future__ import annotations

import asyncio

import msgpack
import pytest

from server.broker.memory import MemoryBroker
from server.hub.connection import Connection
from server.hub.rooms import AUDIENCE_AGENTS, Hub
from server.protocol.codec import JsonCodec, MsgpackCodec

pytestmark = pytest.mark.asyncio(loop_scope="session")


class FlakyBroker(MemoryBroker):
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
    hub = Hub(MemoryBroker())
    await hub.broker.start(hub.on_message, lambda: asyncio.sleep(0))
    visitor, v_got = member("visitor")
    agent_json, a_got = member("agent")
    agent_mp, m_got = member("agent", MsgpackCodec())
    for conn in (visitor, agent_json, agent_mp):
        await hub.join("c:1", conn)
    await hub.publish("c:1", {"t": "typing", "conversation_id": "1", "on": True})
    await hub.publish("c:1", {"t": "note", "seq": 1, "conversation_id": "1"}, AUDIENCE_AGENTS)
    assert len(v_got) == 1 and len(a_got) == 2 and len(m_got) == 2
    assert isinstance(m_got[0], bytes) and isinstance(a_got[0], str)


async def test_failed_publish_is_local_now_and_retried_for_others() -> None:
    broker = FlakyBroker()
    hub = Hub(broker)
    await broker.start(hub.on_message, lambda: asyncio.sleep(0))
    conn, got = member("visitor")
    await hub.join("c:9", conn)
    await hub.publish("c:9", {"t": "mode", "conversation_id": "9", "mode": "queued"})
    assert len(got) == 1  # delivered locally at once
    for _ in range(50):
        if broker.sent:
            break
        await asyncio.sleep(0.02)
    assert broker.sent and broker.sent[0]["o"] == hub.instance_id  # others get it later
    assert len(got) == 1  # and this process does not deliver it a second time
    await hub.close()


async def test_deliver_to_one_member_ahead_of_the_broker() -> None:
    hub = Hub(MemoryBroker())
    await hub.broker.start(hub.on_message, lambda: asyncio.sleep(0))
    sender, s_got = member("visitor")
    other, o_got = member("agent")
    outsider, x_got = member("visitor")
    for conn in (sender, other):
        await hub.join("c:3", conn)
    event = {"t": "msg", "seq": 1, "conversation_id": "3", "text": "hi"}
    hub.deliver_to("c:3", sender, event)
    hub.deliver_to("c:3", outsider, event)  # not in the room: nothing
    note = {"t": "note", "seq": 2, "conversation_id": "3", "text": "private"}
    hub.deliver_to("c:3", sender, note, AUDIENCE_AGENTS)  # a visitor never gets a note
    assert len(s_got) == 1 and not o_got and not x_got
    await hub.publish("c:3", event)  # the broker's copy: the others get it, the sender not twice
    await hub.publish("c:3", note, AUDIENCE_AGENTS)
    assert len(s_got) == 1 and len(o_got) == 2 and not x_got
    await hub.close()
