"""Decoded event frames memoized by their bytes, one memo per load-generator process.

A server encodes a broadcast once and writes the same bytes to every member socket, so a
load generator holding hundreds of members decoded each broadcast hundreds of times: at
100,000 delivered frames/s that was most of its CPU, on the two cores the servers
measured also need. Decoding is a pure function of the bytes, so remembering it changes
nothing that is measured: every socket still frames, times and accounts (seq, loss,
duplicates) each frame it receives, and a frame whose bytes differ is decoded on its own.
Used alike by our clients and the socket.io peers' (`bench/sio_client.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Key = TypeVar("Key", bytes, str)
LIMIT = 4096  # distinct payloads kept; a broadcast is needed only while its copies arrive


@dataclass(frozen=True, slots=True)
class Event:
    """What a member needs of one `msg`/`note` frame: shared by every socket that
    received the same bytes, so read-only."""

    kind: str
    conversation_id: str
    seq: int
    sent_at: float | None  # the stamp's send time (`clients.stamp`), if the text has one


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
