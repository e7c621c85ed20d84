"""Members decode a broadcast once per load-generator process (bench/memo.py), and each
socket still accounts for every frame it receives: the memo must not hide a duplicate."""

from __future__ import annotations

import json

import msgpack

from bench.clients import Agent
from bench.memo import Event, event_memo, stamp
from bench.sio_client import msg_event


def member(name: str, memo: object, got: list[tuple[str, int, bool]]) -> Agent:
    def on_event(event: Event, new: bool, _: float) -> None:
        got.append((name, event.seq, new))

    return Agent("ws://127.0.0.1:1", "token", name, memo, on_event)  # type: ignore[arg-type]


def test_one_decode_per_payload_and_duplicates_still_counted_per_socket() -> None:
    memo = event_memo()
    got: list[tuple[str, int, bool]] = []
    a, b = member("a", memo, got), member("b", memo, got)
    first = msgpack.packb({"t": "msg", "seq": 1, "conversation_id": "c", "text": stamp("s")})
    second = msgpack.packb({"t": "msg", "seq": 2, "conversation_id": "c", "text": stamp("s")})
    to_a, to_b = a.receiver(), b.receiver()
    for receive, payload in ((to_a, first), (to_b, first), (to_a, second), (to_a, first)):
        receive(payload)
    assert memo.misses == 2  # two distinct payloads, four deliveries
    assert got == [("a", 1, True), ("b", 1, True), ("a", 2, True), ("a", 1, False)]
    assert (a.duplicated, b.duplicated) == (1, 0)
    assert a.seqs("c") == {1, 2} and a.last_seqs["c"] == 2


def test_frames_that_are_not_events_take_the_ordinary_path() -> None:
    memo = event_memo()
    agent = member("a", memo, [])
    frames: list[dict[str, object]] = []
    agent.handlers.append(lambda frame, _: frames.append(frame))
    agent.receiver()(msgpack.packb({"t": "mode", "conversation_id": "c", "mode": "agent"}))
    assert [f["t"] for f in frames] == ["mode"]


def test_socket_io_msg_packets_are_read_alike_whatever_their_spacing() -> None:
    text = stamp("s")
    for packet in ("42" + json.dumps(["msg", {"room": "r", "seq": 3, "text": text}]),
                   "42" + json.dumps(["msg", {"room": "r", "seq": 3, "text": text}],
                                     separators=(",", ":"))):
        event = msg_event(packet)
        assert event is not None and (event.conversation_id, event.seq) == ("r", 3)
        assert event.sent_at is not None
    assert msg_event('42["join",["r"]]') is None
    assert msg_event("3") is None
