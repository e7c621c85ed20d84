"""Where the text of live bot streams is kept, so a client resuming mid-stream on any
process gets a `bot.snapshot`: Redis (`bs:{conversation}`), or memory alone. The owning
process refreshes its streams' keys every second; a key it stopped refreshing (the
process was killed mid-stream) is a dead stream and is not offered."""

from __future__ import annotations

import asyncio
import contextlib

from server.broker.base import Command

SNAPSHOT_TTL_MS = 3000  # a stream's key lapses this long after its owner's last refresh
REFRESH_S = 1.0  # each process refreshes the keys of its own live streams this often
# a key not refreshed for two rounds (its remaining life below this) has no live owner
FRESH_MS = SNAPSHOT_TTL_MS - 2000


class StreamTexts:
    """Where the text of live streams is kept for snapshots: Redis, or memory alone."""

    def __init__(self, command: Command | None) -> None:
        # the broker's pipelined command runner (every call here goes through it, so
        # concurrent streams and snapshots share round trips); None: this process only
        self.command = command
        self._local: dict[str, tuple[str, str]] = {}
        self._refresher: asyncio.Task[None] | None = None

    async def start(self, conversation_id: str, stream_id: str) -> None:
        self._local[conversation_id] = (stream_id, "")
        if self.command is not None:
            with contextlib.suppress(Exception):
                await self.command("SET", f"bs:{conversation_id}", stream_id + "\n",
                                   "PX", SNAPSHOT_TTL_MS)
            if self._refresher is None:
                self._refresher = asyncio.create_task(self._refresh(), name="stream-keys")

    async def append(self, conversation_id: str, stream_id: str, text: str) -> None:
        sid, so_far = self._local.get(conversation_id, (stream_id, ""))
        self._local[conversation_id] = (sid, so_far + text)
        if self.command is not None:
            with contextlib.suppress(Exception):
                await self.command("APPEND", f"bs:{conversation_id}", text)

    async def end(self, conversation_id: str, stream_id: str) -> None:
        if self._local.get(conversation_id, ("",))[0] == stream_id:
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
                stream_id, _, text = value.decode().partition("\n")
                return stream_id, text
            return None
        return self._local.get(conversation_id)

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
