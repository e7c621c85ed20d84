"""Connection delivery rules: no duplicates, never N+1 before N, replay holds live events,
and a full outbox cuts the connection instead of growing."""

from __future__ import annotations

import asyncio

import pytest

from server.hub.connection import Connection
from server.protocol.codec import JsonCodec

C = "conv"


def make(fast: bool = True) -> tuple[Connection, list, list]:
    sent: list = []
    gaps: list = []

    async def sender(payload: str | bytes) -> None:
        await asyncio.sleep(3600)  # a socket that never drains

    async def closer(code: int) -> None:
        return None

    conn = Connection("c1", "visitor", JsonCodec(), sender, closer, max_bytes=1000,
                      fast_write=(lambda p: sent.append(p) or True) if fast else None)
    conn.on_gap = lambda c, key: gaps.append(key)
    return conn, sent, gaps


def msg(seq: int) -> dict:
    return {"t": "msg", "seq": seq, "conversation_id": C, "text": str(seq)}


def deliver(conn: Connection, seq: int) -> None:
    frame = msg(seq)
    conn.deliver(frame, conn.codec.encode(frame))


def seqs(sent: list) -> list[int]:
    return [JsonCodec().decode(p)["seq"] for p in sent]


def test_in_order_and_duplicates_dropped() -> None:
    conn, sent, _ = make()
    for s in (1, 2, 2, 1, 3):
        deliver(conn, s)
    assert seqs(sent) == [1, 2, 3]


def test_out_of_order_is_held_until_the_gap_fills() -> None:
    conn, sent, gaps = make()
    deliver(conn, 1)
    deliver(conn, 3)
    deliver(conn, 4)
    assert seqs(sent) == [1] and gaps == [C]  # one repair asked, not one per frame
    deliver(conn, 2)
    assert seqs(sent) == [1, 2, 3, 4] and not conn.gaps


def test_a_gap_postgres_says_is_invisible_is_skipped() -> None:
    conn, sent, _ = make()
    deliver(conn, 1)
    deliver(conn, 3)  # seq 2 was a private note this visitor may not see
    conn.release(C, known_through=2)
    assert seqs(sent) == [1, 3] and conn.seen_seq[C] == 3


def test_replay_holds_live_frames_and_releases_them_once() -> None:
    conn, sent, _ = make()
    conn.begin_replay(C)
    deliver(conn, 2)  # live, during the replay
    conn.send(msg(1))
    conn.mark_seen(C, 1)
    conn.send(msg(2))
    conn.mark_seen(C, 2)
    conn.end_replay(C)
    assert seqs(sent) == [1, 2]


def test_nothing_of_a_replaying_conversation_passes_before_the_replay() -> None:
    """A resume joins the room before the owner is confirmed: every frame of it, stored or
    not (mode, typing, bot deltas), waits, and is dropped unseen if it is not theirs."""
    conn, sent, _ = make()
    conn.begin_replay(C)
    for frame in ({"t": "mode", "conversation_id": C, "mode": "queued"},
                  {"t": "typing", "conversation_id": C, "on": True}, msg(1)):
        conn.deliver(frame, conn.codec.encode(frame))
    assert sent == []
    conn.replaying.pop(C)  # not the visitor's conversation
    assert sent == []
    conn.begin_replay(C)
    mode = {"t": "mode", "conversation_id": C, "mode": "agent"}
    conn.deliver(mode, conn.codec.encode(mode))
    conn.end_replay(C)  # theirs: released after the history
    assert [JsonCodec().decode(p)["t"] for p in sent] == ["mode"]


@pytest.mark.asyncio
async def test_overflow_cuts_the_connection() -> None:
    conn, _, _ = make(fast=False)
    for i in range(1, 40):
        deliver(conn, i)
    assert conn.closed and conn.slow and conn.close_code == 1012
    await conn.stop()
