"""Where the text of live bot streams is kept, so a client resuming mid-stream on any
process gets a `bot.snapshot`: Redis (`bs:{conversation}`), or memory alone."""

from __future__ import annotations

import contextlib

from server.broker.base import Command

SNAPSHOT_TTL_S = 300


class StreamTexts:
    """Where the text of live streams is kept for snapshots: Redis, or memory alone."""

    def __init__(self, command: Command | None) -> None:
        # the broker's pipelined command runner (every call here goes through it, so
        # concurrent streams and snapshots share round trips); None: this process only
        self.command = command
        self._local: dict[str, tuple[str, str]] = {}

    async def start(self, conversation_id: str, stream_id: str) -> None:
        self._local[conversation_id] = (stream_id, "")
        if self.command is not None:
            with contextlib.suppress(Exception):
                await self.command("SET", f"bs:{conversation_id}", stream_id + "\n",
                                   "EX", SNAPSHOT_TTL_S)

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
                value = await self.command("GET", f"bs:{conversation_id}")
            except Exception:
                value = None
            if value is not None:
                stream_id, _, text = value.decode().partition("\n")
                return stream_id, text
            return None
        return self._local.get(conversation_id)
