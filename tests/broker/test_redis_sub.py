"""The raw subscription connection against the session's real Redis."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis

from server.broker.redis_sub import SubscriberProtocol, command, open_subscriber

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_commands_are_resp_arrays_of_bulk_strings() -> None:
    assert command("SUBSCRIBE", "c:1", b"\x00b") == (
        b"*3\r\n$9\r\nSUBSCRIBE\r\n$3\r\nc:1\r\n$2\r\n\x00b\r\n")
    # numbers go as their decimal text, as redis-py sends them (SET ... EX 300)
    assert command("EX", 300, 1.5) == b"*3\r\n$2\r\nEX\r\n$3\r\n300\r\n$3\r\n1.5\r\n"
    with pytest.raises(TypeError):
        command("SET", None)  # type: ignore[arg-type]


async def test_pushes_split_anywhere_are_parsed_whole() -> None:
    got: list[tuple[str, bytes]] = []
    confirmed: list[str] = []
    proto = SubscriberProtocol(lambda c, d: got.append((c, d)), confirmed.append)
    wire = (b"*3\r\n$9\r\nsubscribe\r\n$3\r\nc:1\r\n:1\r\n"
            b"*3\r\n$7\r\nmessage\r\n$3\r\nc:1\r\n$5\r\nhe\r\nl\r\n"
            b"*3\r\n$7\r\nmessage\r\n$3\r\nc:1\r\n$0\r\n\r\n")
    for i in range(len(wire)):  # one byte at a time
        proto.data_received(wire[i:i + 1])
    assert confirmed == ["c:1"]
    assert got == [("c:1", b"he\r\nl"), ("c:1", b"")]


async def test_subscribe_then_receive_what_is_published(redis_url: str) -> None:
    channel = f"t:{uuid.uuid4().hex}"
    got: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    confirmed = asyncio.Event()
    sub = await open_subscriber(redis_url, lambda c, d: got.put_nowait((c, d)),
                                lambda c: confirmed.set())
    client = aioredis.from_url(redis_url)
    try:
        sub.send("SUBSCRIBE", channel)
        await asyncio.wait_for(confirmed.wait(), 5)
        payload = bytes(range(256)) * 300  # binary, and larger than one read
        assert await client.publish(channel, payload) == 1
        assert await asyncio.wait_for(got.get(), 5) == (channel, payload)
    finally:
        sub.close()
        await client.aclose()
    await asyncio.wait_for(sub.closed, 5)


async def test_username_and_password_from_the_url(redis_url: str) -> None:
    user = f"u{uuid.uuid4().hex[:8]}"
    admin = aioredis.from_url(redis_url)
    await admin.execute_command("ACL", "SETUSER", user, "on", ">s3cret", "~*", "&*", "+@all")
    parts = urlsplit(redis_url)
    netloc = f"{user}:{{}}@{parts.hostname}:{parts.port}"
    try:
        good = urlunsplit(parts._replace(netloc=netloc.format("s3cret")))
        sub = await open_subscriber(good, lambda c, d: None, lambda c: None)
        sub.close()
        bad = urlunsplit(parts._replace(netloc=netloc.format("wrong")))
        with pytest.raises(ConnectionError):
            await open_subscriber(bad, lambda c, d: None, lambda c: None)
    finally:
        await admin.execute_command("ACL", "DELUSER", user)
        await admin.aclose()
