"""Where the text of live bot streams is kept, so a client resuming mid-stream on any
process gets a `bot.snapshot`: Redis (`bs:{conversation}`), or memory alone. The owning
process refreshes its streams' keys every second; a key it stopped refreshing (the
process was killed mid-stream) is a dead stream and is not offered.

Redis holds no plaintext: a key is `stream id\norg id\n`, then one record per delta, each
sealed under the visitor's key (AES-GCM can't be appended to, so each delta is its own
envelope, base64, one a line; its associated data names the conversation, the stream and
the record's place, so records can't be moved or reordered)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from dataclasses import dataclass
from uuid import UUID

from server.broker.base import Command
from server.storage.db import Database
from server.storage.envelope import DataKey, Field, Undecryptable, associated

SNAPSHOT_TTL_MS = 3000  # a stream's key lapses this long after its owner's last refresh
REFRESH_S = 1.0  # each process refreshes the keys of its own live streams this often
# a key not refreshed for two rounds (its remaining life below this) has no live owner
FRESH_MS = SNAPSHOT_TTL_MS - 2000


@dataclass(slots=True)
class _Live:
    """A stream of this process: its text so far, and what seals its next record."""

    stream_id: str
    text: str
    key: DataKey | None  # None: nothing of it goes to Redis (no key: erased, or unknown)
    ad: bytes  # the records' associated data, less their place
    records: int = 0


def _record_ad(org_id: UUID | str, conversation_id: str, stream_id: str) -> bytes:
    return associated(Field.STREAM_TEXT, org_id, conversation_id, stream_id, "")


class StreamTexts:
    """Where the text of live streams is kept for snapshots: Redis, or memory alone."""

    def __init__(self, command: Command | None, db: Database | None = None) -> None:
        # the broker's pipelined command runner (every call here goes through it, so
        # concurrent streams and snapshots share round trips); None: this process only
        self.command = command
        self.db = db  # the visitors' keys (required with Redis: nothing goes there in clear)
        self._local: dict[str, _Live] = {}
        self._refresher: asyncio.Task[None] | None = None

    async def start(self, conversation_id: str, stream_id: str, org_id: UUID) -> None:
        live = _Live(stream_id, "", None, _record_ad(org_id, conversation_id, stream_id))
        self._local[conversation_id] = live
        if self.command is not None:
            with contextlib.suppress(Exception):
                await self.command("SET", f"bs:{conversation_id}",
                                   f"{stream_id}\n{org_id}\n", "PX", SNAPSHOT_TTL_MS)
            if self._refresher is None:
                self._refresher = asyncio.create_task(self._refresh(), name="stream-keys")
            # the stream is announced first (a claim racing with it must see it); its key
            # is normally cached, the visitor's message having just been sealed with it
            live.key = await self._key(org_id, conversation_id)

    async def append(self, conversation_id: str, stream_id: str, text: str) -> None:
        live = self._local.get(conversation_id)
        if live is None or live.stream_id != stream_id:
            return
        live.text += text
        if self.command is not None and live.key is not None:
            sealed = live.key.seal(text.encode(), live.ad + str(live.records).encode())
            live.records += 1
            with contextlib.suppress(Exception):
                await self.command("APPEND", f"bs:{conversation_id}",
                                   base64.b64encode(sealed).decode("ascii") + "\n")

    async def end(self, conversation_id: str, stream_id: str) -> None:
        live = self._local.get(conversation_id)
        if live is not None and live.stream_id == stream_id:
            del self._local[conversation_id]
        if self.command is not None:
            with contextlib.suppress(Exception):
                value = await self.command("GET", f"bs:{conversation_id}")
                if value is not None and value.decode().split("\n", 1)[0] == stream_id:
                    await self.command("DEL", f"bs:{conversation_id}")

    async def get(self, conversation_id: str) -> tuple[str, str] | None:
        if self.command is not None:
            try:
                # pipelined with every other command of this moment: after a deploy,
                # thousands of returning visitors ask at once
                value, ttl = await asyncio.gather(
                    self.command("GET", f"bs:{conversation_id}"),
                    self.command("PTTL", f"bs:{conversation_id}"))
            except Exception:
                value = None
            if value is not None and not 0 <= ttl < FRESH_MS:  # refreshed: its owner lives
                return await self._opened(conversation_id, value)
            return None
        live = self._local.get(conversation_id)
        return None if live is None else (live.stream_id, live.text)

    async def _key(self, org_id: UUID, conversation_id: str) -> DataKey | None:
        if self.db is None:
            return None
        conv = UUID(conversation_id)
        subject = self.db.keys.cached(org_id, conv)
        if subject is None:
            try:
                async with self.db.unit_of_work(org_id) as conn:
                    subject = await self.db.keys.for_conversation(conn, org_id, conv)
            except Exception:
                return None  # no snapshot text beats text in clear, or a failed stream
        return None if subject is None else subject.key

    async def _opened(self, conversation_id: str, value: bytes) -> tuple[str, str]:
        """(stream id, the text its records open to): up to the first that does not open
        (the visitor was erased, or it was tampered with)."""
        stream_id, _, rest = value.decode().partition("\n")
        org, _, records = rest.partition("\n")
        lines = records.split("\n")[:-1]  # the last record ends with a newline
        if not lines:
            return stream_id, ""
        try:
            org_id = UUID(org)
        except ValueError:
            return stream_id, ""
        key = await self._key(org_id, conversation_id)
        ad = _record_ad(org_id, conversation_id, stream_id)
        parts: list[str] = []
        for n, line in enumerate(lines):
            if key is None:
                break
            try:
                parts.append(key.open(base64.b64decode(line, validate=True),
                                      ad + str(n).encode()).decode())
            except (Undecryptable, binascii.Error, ValueError):
                break
        return stream_id, "".join(parts)

    async def _refresh(self) -> None:
        """Keep this process's live streams' keys alive: one pipelined PEXPIRE each."""
        assert self.command is not None
        while True:
            await asyncio.sleep(REFRESH_S)
            await asyncio.gather(*(self.command("PEXPIRE", f"bs:{key}", SNAPSHOT_TTL_MS)
                                   for key in list(self._local)), return_exceptions=True)

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
