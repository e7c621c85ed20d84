"""The bot: one answer stream per conversation, coalesced deltas, the final msg as record.

A stream is owned by the process that started it. Any process can stop it: a `cancel`
control on the room reaches the owner, which keeps the partial text as an interrupted
bot message. The text so far lives in Redis so a client resuming on any process gets a
`bot.snapshot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from server.domain.modes import Mode, Trigger
from server.domain.roles import Author
from server.domain.system_text import system_text
from server.hub.rooms import Hub, room
from server.kb.prompt import chat_request, message_sources
from server.llm.chat import ChatFailure, ChatProvider
from server.metrics import Metrics
from server.protocol import frames
from server.services.admission import Admission
from server.services.conversations import ConversationService
from server.services.metering import Meter
from server.services.pending_answers import PendingAnswers
from server.services.stream_texts import StreamTexts
from server.storage import conversations as convs
from server.storage import messages
from server.storage.db import Database

log = logging.getLogger("clienta.bot")

@dataclass(slots=True)
class LiveStream:
    stream_id: str
    task: asyncio.Task[None]
    text: str = ""
    streaming: bool = False  # bot.start sent: past retrieval


KnowledgeLookup = Callable[[UUID, UUID, str], Awaitable[tuple[list[Any], bool]]]


class BotRunner:
    def __init__(self, db: Database, hub: Hub, conversations: ConversationService,
                 provider: ChatProvider, metrics: Metrics, texts: StreamTexts, *,
                 delta_window_s: float, max_unresolved_turns: int,
                 knowledge: KnowledgeLookup | None = None,
                 admission: Admission | None = None, meter: Meter | None = None) -> None:
        self.db = db
        self.hub = hub
        self.conversations = conversations
        self.provider = provider
        self.metrics = metrics
        self.texts = texts
        self.window = delta_window_s
        self.max_unresolved = max_unresolved_turns
        # (org, conversation, question) -> (passages, grounded); set when the KB exists
        self.knowledge = knowledge
        self.admission = admission or Admission()
        # the plan's AI-answer limit: past it, questions go to people (services/metering)
        self.meter = meter
        self.live: dict[str, LiveStream] = {}
        self.stopping = False
        self.pending = PendingAnswers(self)
        self._stopped: dict[str, asyncio.Future[None]] = {}
        hub.on_control(self._on_control)

    def _on_control(self, channel: str, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "cancel_bot":
            if message.get("origin") == self.hub.instance_id:
                # this process cancels its own streams directly; its message, coming back
                # late through Redis, would only hit a newer stream (a question asked
                # meanwhile), and that question would go unanswered
                return
            live = self.live.get(channel[2:])
            if live is not None and message.get("except") != live.stream_id:
                live.task.cancel()
                ack = message.get("ack")
                if ack:
                    # tell the canceller once the partial text is stored and published
                    live.task.add_done_callback(lambda _t: asyncio.ensure_future(
                        self.hub.control(channel, {"op": "bot_stopped", "ack": ack})))
        elif op == "bot_stopped":
            waiter = self._stopped.pop(message.get("ack", ""), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _cancel_message(self, *, ack: str | None = None,
                        except_stream: str | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"op": "cancel_bot", "origin": self.hub.instance_id}
        if ack is not None:
            message["ack"] = ack
        if except_stream is not None:
            message["except"] = except_stream
        return message

    async def cancel(self, conversation_id: str, timeout: float = 3.0) -> None:
        """Stop the conversation's stream wherever it runs; return once it has stopped.

        A stream on this process is awaited; one on another process is asked to stop and
        answers `bot_stopped` after keeping its partial text (the caller must be a member of
        the room to hear it). Callers publish their mode change only after this returns, so
        no bot frame follows it.
        """
        live = self.live.get(conversation_id)
        if live is not None:
            live.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await live.task
        remote = await self.texts.get(conversation_id)
        if remote is None:
            await self.hub.control(room(conversation_id), self._cancel_message())
            return
        ack = uuid.uuid4().hex
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stopped[ack] = waiter
        await self.hub.control(room(conversation_id), self._cancel_message(ack=ack))
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            log.warning("bot stream did not confirm its stop",
                        extra={"conversation_id": conversation_id})
        finally:
            self._stopped.pop(ack, None)

    def answer(self, org_id: UUID, org_name: str, conversation_id: UUID, question: str,
               locale: str | None) -> None:
        if self.stopping:  # the next process answers it when the visitor is back
            return
        key = str(conversation_id)
        previous = self.live.get(key)
        if previous is not None:
            previous.task.cancel()
        stream_id = uuid.uuid4().hex
        task = asyncio.create_task(
            self._run(org_id, org_name, conversation_id, stream_id, question, locale, previous),
            name=f"bot-{key}",
        )
        self.live[key] = LiveStream(stream_id, task)

    async def _run(self, org_id: UUID, org_name: str, conversation_id: UUID, stream_id: str,
                   question: str, locale: str | None, previous: LiveStream | None) -> None:
        # Its own entry is taken before the first await: looked up after a wait it may be
        # a newer question's, or gone (a burst of questions cancels each answer while it
        # waits for the one before), and its clean-up would remove the newer one's entry
        # or find none (a KeyError nobody retrieved).
        key = str(conversation_id)
        live = self.live.get(key)
        if live is not None and live.stream_id != stream_id:
            live = None  # already replaced (and so cancelled)
        try:
            if previous is not None:
                # the previous answer keeps its partial text first; wait() does not raise
                # its exception, nor swallow this task's own cancellation
                await asyncio.wait({previous.task})
            # a stream of this conversation on another process stops too
            await self.hub.control(room(key), self._cancel_message(except_stream=stream_id))
            await self._stream(org_id, org_name, conversation_id, stream_id, question, locale,
                               live)
        finally:
            if live is not None and self.live.get(key) is live:
                del self.live[key]

    async def _context(self, org_id: UUID, conversation_id: UUID) -> list[tuple[str, str]]:
        async with self.db.unit_of_work(org_id) as conn:
            return await messages.recent_turns(conn, self.db.keys, org_id, conversation_id)

    async def _prepare(self, org_id: UUID, conversation_id: UUID, stream_id: str,
                       question: str, locale: str | None,
                       ) -> tuple[list[Any], list[tuple[str, str]]] | None:
        """The mode check, the knowledge lookup and the history; None: no stream to run."""
        key = str(conversation_id)
        # announce the stream before checking the mode: a claim racing with this start
        # either sees the stream (and stops it) or this check sees the agent
        await self.texts.start(key, stream_id, org_id)
        async with self.db.unit_of_work(org_id) as conn:
            conv = await convs.get(conn, org_id, conversation_id)
        if conv is None or conv.mode != Mode.BOT:
            await self.texts.end(key, stream_id)
            return None
        if self.meter is not None and not await self.meter.allows_answer(org_id):
            await self.texts.end(key, stream_id)
            await self.conversations.change_mode(org_id, conversation_id, Trigger.PLAN_LIMIT)
            return None
        passages: list[Any] = []
        grounded = True
        if self.knowledge is not None:
            try:
                passages, grounded = await self.knowledge(org_id, conversation_id, question)
            except Exception as exc:  # embeddings or rerank down: a person answers instead
                await self.texts.end(key, stream_id)
                log.error("knowledge lookup failed",
                          extra={"conversation_id": key, "error": exc})
                await self.conversations.change_mode(org_id, conversation_id,
                                                     Trigger.LLM_FAILED)
                return None
        if not grounded:
            await self.texts.end(key, stream_id)
            await self._no_answer(org_id, conversation_id, conv.auto_handoff, locale)
            return None
        return passages, await self._context(org_id, conversation_id)

    async def _stream(self, org_id: UUID, org_name: str, conversation_id: UUID, stream_id: str,
                      question: str, locale: str | None, live: LiveStream | None) -> None:
        key = str(conversation_id)
        # the work before the first token waits while sessions are being set up
        try:
            async with self.admission.background():
                prepared = await self._prepare(org_id, conversation_id, stream_id, question,
                                               locale)
        except BaseException:
            # cut off before bot.start (a deploy, a new question, a claim): the stream it
            # announced must not outlive it, or a resuming visitor gets a snapshot of a
            # stream that never comes and its question is taken as being answered
            await asyncio.shield(self.texts.end(key, stream_id))
            raise
        if prepared is None:
            return
        passages, history = prepared
        started = time.monotonic()
        if live is not None:
            live.streaming = True
        await self.hub.publish(room(key), frames.bot_start(stream_id, key))
        parts: list[str] = []
        offset = 0
        failed: ChatFailure | None = None
        request = chat_request(org_name, question, history, passages, locale)
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1024)

        async def pump() -> None:
            try:
                async for token in self.provider.stream(request):
                    await queue.put(token)
            finally:
                await queue.put(None)

        reader = asyncio.create_task(pump())
        pending: list[str] = []
        loop = asyncio.get_running_loop()
        last_flush = 0.0
        oldest = 0.0
        first = True

        async def flush() -> None:
            nonlocal offset, last_flush
            if not pending:
                return
            text = "".join(pending)
            pending.clear()
            parts.append(text)
            if live is not None:
                live.text += text
            # both join the same Redis pipeline: one round trip per delta
            await asyncio.gather(
                self.hub.publish(room(key), frames.bot_delta(stream_id, text, offset, key)),
                self.texts.append(key, stream_id, text))
            offset += len(text)
            last_flush = loop.time()

        try:
            while True:
                # A token is sent at once when the last delta is a window old; otherwise
                # it waits for the next token past the window (so the newest token of a
                # delta is never held) or, if none comes, until it is a window old itself.
                timeout = None if not pending else max(0.0, oldest + self.window - loop.time())
                try:
                    token = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    await flush()
                    continue
                if token is None:
                    break
                if first:
                    first = False
                    self.metrics.bot_ttft.observe(time.monotonic() - started)
                if not pending:
                    oldest = loop.time()
                pending.append(token)
                if loop.time() - last_flush >= self.window:
                    await flush()
            await flush()
            await asyncio.wait({reader})
            exc = reader.exception()
            if isinstance(exc, ChatFailure):
                raise exc
            if exc is not None:
                raise ChatFailure(f"provider error: {exc!r}") from exc
        except ChatFailure as exc:
            failed = exc
        except asyncio.CancelledError:
            reader.cancel()
            await asyncio.shield(self._keep_partial(org_id, conversation_id, stream_id,
                                                    "".join(parts) + "".join(pending)))
            raise
        finally:
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            await self.texts.end(key, stream_id)
            self.metrics.bot_duration.observe(time.monotonic() - started)
        if failed is not None:
            log.error("bot stream failed", extra={"conversation_id": key, "error": failed})
            if parts:
                await self._keep_partial(org_id, conversation_id, stream_id, "".join(parts))
            await self.conversations.change_mode(org_id, conversation_id, Trigger.LLM_FAILED)
            return
        text = "".join(parts).strip() or "…"
        sources = message_sources(passages)
        await self.conversations.store(
            org_id, conversation_id, kind="msg", author_role=Author.BOT, text=text,
            stream_id=stream_id, sources=sources,
        )
        if self.meter is not None:
            await self.meter.answered(org_id, stream_id, request.usage.prompt,
                                      request.usage.completion)

    async def _no_answer(self, org_id: UUID, conversation_id: UUID, auto_handoff: bool,
                         locale: str | None) -> None:
        """Nothing in the org's sources covers it: say so, never guess."""
        if auto_handoff:
            await self.conversations.change_mode(org_id, conversation_id, Trigger.NO_ANSWER)
            return
        # the visitor chose the bot over waiting: no second trip to the queue on its own
        await self.conversations.store(
            org_id, conversation_id, kind="msg", author_role=Author.BOT,
            text=system_text("no_answer_stay", locale), meta={"no_answer": True},
        )

    async def _keep_partial(self, org_id: UUID, conversation_id: UUID, stream_id: str,
                            text: str) -> None:
        if not text.strip():
            return
        try:
            await self.conversations.store(
                org_id, conversation_id, kind="msg", author_role=Author.BOT, text=text,
                stream_id=stream_id, meta={"interrupted": True},
            )
        except Exception:
            log.exception("could not keep an interrupted bot message")

    def answer_pending(self, org_id: UUID, org_name: str, conversation_id: UUID,
                       locale: str | None) -> None:
        """A visitor is back: answer its last question if nothing does (`PendingAnswers`)."""
        self.pending.check(org_id, org_name, conversation_id, locale)

    def stop_new_work(self) -> None:
        """The process is stopping: answers still in retrieval are dropped (the next
        process answers them when their visitors come back); streams already running
        get the graceful window to finish."""
        self.stopping = True
        for live in list(self.live.values()):
            if not live.streaming:
                live.task.cancel()
        self.pending.cancel()

    async def note_unresolved(self, org_id: UUID, conversation_id: UUID,
                              limit: int | None = None) -> bool:
        """Count an unresolved turn; True after the org's `limit` (else the server's)."""
        async with self.db.unit_of_work(org_id) as conn:
            turns = await convs.bump_unresolved(conn, org_id, conversation_id, resolved=False)
        return turns >= (limit or self.max_unresolved)

    async def snapshot(self, conversation_id: str) -> dict[str, Any] | None:
        got = await self.texts.get(conversation_id)
        if got is None:
            return None
        stream_id, text = got
        return frames.bot_snapshot(stream_id, text, conversation_id)

    async def close(self) -> None:
        self.stopping = True
        tasks = [live.task for live in self.live.values()] + self.pending.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.texts.close()
        await self.provider.close()
