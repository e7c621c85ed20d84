"""A returning visitor's question that nothing answers (the process that stored it stopped
first, or died mid-stream): found in the background and answered once."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from uuid import UUID

from server.domain.roles import Author
from server.services.stream_texts import REFRESH_S
from server.storage import messages

if TYPE_CHECKING:
    from server.services.bot import BotRunner

log = logging.getLogger("clienta.bot")


class PendingAnswers:
    def __init__(self, bot: BotRunner) -> None:
        self.bot = bot
        self._checks: set[asyncio.Task[None]] = set()

    def cancel(self) -> list[asyncio.Task[None]]:
        """Cancel every check in flight; the tasks, for a caller that awaits them."""
        tasks = list(self._checks)
        for task in tasks:
            task.cancel()
        return tasks

    def check(self, org_id: UUID, org_name: str, conversation_id: UUID,
              locale: str | None) -> None:
        """A visitor is back: if the last message of its conversation is its own question
        and nothing answers it (the process that stored it stopped first, as in a
        deploy), answer it now. Checked in the background, after a storm's set-ups."""
        if self.bot.stopping or str(conversation_id) in self.bot.live:
            return
        task = asyncio.create_task(
            self._check(org_id, org_name, conversation_id, locale))
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _check(self, org_id: UUID, org_name: str, conversation_id: UUID,
                     locale: str | None) -> None:
        key = str(conversation_id)
        try:
            lapsed = await self._outlast_remote_stream(key)
            async with self.bot.admission.background():
                if key in self.bot.live:
                    return
                async with self.bot.db.unit_of_work(org_id) as conn:
                    last = await messages.recent_turns(conn, self.bot.db.keys, org_id,
                                                       conversation_id, limit=1)
            if not last or last[0][0] != Author.VISITOR or key in self.bot.live:
                return
            if lapsed is not None and lapsed[1].strip():
                # its process died mid-stream (nothing stored for it): what the visitor
                # was shown of it is closed as interrupted, once however many processes
                # find it, and only the one that stored it answers
                stored = await self.bot.conversations.store(
                    org_id, conversation_id, kind="msg", author_role=Author.BOT,
                    text=lapsed[1], client_id=f"lapsed-{lapsed[0]}", stream_id=lapsed[0],
                    meta={"interrupted": True})
                if stored is None or stored.event.duplicate:
                    return
            self.bot.answer(org_id, org_name, conversation_id, last[0][1], locale)
        except Exception:
            log.exception("could not check for an unanswered question",
                          extra={"conversation_id": key})

    async def _outlast_remote_stream(self, key: str) -> tuple[str, str] | None:
        """Wait while another process streams this conversation's answer (its key stays
        fresh while that process lives); the last (stream id, text) seen, if any."""
        seen = None
        while key not in self.bot.live and (got := await self.bot.texts.get(key)) is not None:
            seen = got
            await asyncio.sleep(REFRESH_S / 2)  # the owner refreshes its key each REFRESH_S
        return seen
