"""The raw command connection, alone and inside the broker, against the session's real
Redis (and, for a hung server, a TCP peer that stops answering)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis

from server.broker.redis import RedisBroker
from server.broker.redis_cmd import CommandProtocol, RedisReplyError
from server.broker.redis_sub import open_redis

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False


async def test_one_write_per_iteration_and_replies_split_anywhere_resolve_in_order() -> None:
    proto = CommandProtocol()
    transport = Transport()
    proto.connection_made(transport)
    first = proto.call("GET", "a")
    second = proto.call("INCR", "b")
    third = proto.call("LPUSH", "a", "x")
    await asyncio.sleep(0)
    assert len(transport.writes) == 1  # three commands, one write
    assert transport.writes[0].startswith(b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$4\r\nINCR")
    wire = b"$5\r\nhe\r\nl\r\n:7\r\n-WRONGTYPE not a list\r\n"
    for i in range(len(wire)):
        proto.data_received(wire[i:i + 1])
    assert await first == b"he\r\nl"
    assert await second == 7
    with pytest.raises(RedisReplyError, match="WRONGTYPE"):
        await third  # an error reply fails its own caller only
    assert proto.oldest_wait() == 0.0


async def test_a_lost_connection_fails_every_waiting_caller() -> None:
    proto = CommandProtocol()
    proto.connection_made(Transport())
    waiting = [proto.call("GET", f"k{i}") for i in range(3)]
    proto.connection_lost(None)
    for fut in waiting:
        with pytest.raises(ConnectionError):
            await fut
    with pytest.raises(ConnectionError):
        proto.call("GET", "k")


async def test_broker_commands_against_redis_in_the_urls_database(redis_url: str) -> None:
    key = f"t:{uuid.uuid4().hex}"
    url = urlunsplit(urlsplit(redis_url)._replace(path="/3"))
    broker = RedisBroker(url)
    db3 = aioredis.from_url(url)
    db0 = aioredis.from_url(urlunsplit(urlsplit(redis_url)._replace(path="/0")))
    try:
        got = await asyncio.gather(*(broker.command("APPEND", key, f"{i},") for i in range(50)))
        assert got == [len(",".join(str(j) for j in range(i + 1))) + 1 for i in range(50)]
        assert await broker.command("GET", key) == await db3.get(key)
        assert await db0.get(key) is None  # SELECT 3 took effect
        assert await broker.command("DEL", key) == 1
        # the connection dropped under it: the next command reconnects
        assert broker._cmd is not None
        broker._cmd.abort()
        await asyncio.sleep(0)
        assert await broker.command("PING") == b"PONG"
    finally:
        await broker.close()
        await db3.aclose()
        await db0.aclose()


async def test_a_redis_that_stops_answering_fails_the_waiting_commands() -> None:
    answered_ping = asyncio.Event()

    async def mute_after_ping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"PING\r\n")
        writer.write(b"+PONG\r\n")
        answered_ping.set()
        with contextlib.suppress(Exception):
            await reader.read()  # then silence, until the client gives up
        writer.close()

    server = await asyncio.start_server(mute_after_ping, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    broker = RedisBroker(f"redis://127.0.0.1:{port}", command_timeout_s=0.3)
    broker._watchdog = asyncio.create_task(broker._watch_commands())
    try:
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(broker.command("GET", "k"), 10)
        assert answered_ping.is_set()
    finally:
        await broker.close()
        server.close()
        await server.wait_closed()


async def test_a_wrong_password_is_a_connection_error(redis_url: str) -> None:
    user = f"u{uuid.uuid4().hex[:8]}"
    admin = aioredis.from_url(redis_url)
    await admin.execute_command("ACL", "SETUSER", user, "on", ">s3cret", "~*", "&*", "+@all")
    host_port = urlsplit(redis_url).netloc.rpartition("@")[2]
    try:
        good = await open_redis(f"redis://{user}:s3cret@{host_port}", CommandProtocol)
        assert await good.call("PING") == b"PONG"
        good.close()
        with pytest.raises(ConnectionError):
            await open_redis(f"redis://{user}:wrong@{host_port}", CommandProtocol)
    finally:
        await admin.execute_command("ACL", "DELUSER", user)
        await admin.aclose()
