"""Decoded event frames memoized by their bytes, one memo per load-generator process;
and the send-time stamps inside message texts that latencies are measured from.

A server encodes a broadcast once and writes the same bytes to every member socket, so a
load generator holding hundreds of members decoded each broadcast hundreds of times: at
100,000 delivered frames/s that was most of its CPU, on the two cores the servers
measured also need. Decoding is a pure function of the bytes, so remembering it changes
nothing that is measured: every socket still frames, times and accounts (seq, loss,
duplicates) each frame it receives, and a frame whose bytes differ is decoded on its own.
Used alike by our clients and the socket.io peers' (`bench/sio_client.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgpack

Key = TypeVar("Key", bytes, str)
LIMIT = 4096  # distinct payloads kept; a broadcast is needed only while its copies arrive


def stamp(tag: str, pad: int = 0) -> str:
    """Message text carrying its sender tag and wall-clock send time: latency is measured
    across processes on one host."""
    return f"{tag}|{time.time():.6f}|" + "x" * pad


def unstamp(text: str) -> tuple[str, float] | None:
    parts = text.split("|", 2)
    if len(parts) < 3:
        return None
    try:
        return parts[0], float(parts[1])
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Event:
    """What a member needs of one `msg`/`note` frame: shared by every socket that
    received the same bytes, so read-only."""

    kind: str
    conversation_id: str
    seq: int
    sent_at: float | None  # the send time in the text's stamp, if it has one


class DecodeMemo(Generic[Key]):
    """payload → decoded value (or None: not an event), for up to LIMIT payloads."""

    def __init__(self, decode: Callable[[Key], Any], limit: int = LIMIT) -> None:
        self.decode = decode
        self.limit = limit
        self.items: dict[Key, Any] = {}
        self.misses = 0

    def get(self, payload: Key) -> Any:
        try:
            return self.items[payload]
        except KeyError:
            pass
        self.misses += 1
        if len(self.items) >= self.limit:
            self.items.clear()  # older broadcasts have reached every member by now
        value = self.items[payload] = self.decode(payload)
        return value


def to_event(frame: dict[str, Any]) -> Event | None:
    """Our `msg`/`note` frame as an Event; None for any other frame."""
    seq = frame.get("seq")
    t = frame.get("t")
    if (t != "msg" and t != "note") or type(seq) is not int:
        return None
    text = frame.get("text")
    found = unstamp(text) if type(text) is str else None
    return Event(t, frame.get("conversation_id", ""), seq, found[1] if found else None)


def event_memo() -> DecodeMemo[bytes]:
    """A memo for our clients of one process: bytes → Event, or None (not an event)."""
    unpack = msgpack.unpackb
    return DecodeMemo(lambda data: to_event(unpack(data)))
