"""The bot when its process stops (a deploy): answers still in retrieval are dropped for
the next process to take up, streams already running keep their graceful window, and
nothing new starts. The next process's side is tests/e2e/test_bot_stream.py."""

from __future__ import annotations

import asyncio
import uuid

import msgpack
import pytest

from server.hub.rooms import Hub
from server.kb.extractive import extractive_answer
from server.llm.chat import OfflineChat
from server.metrics import Metrics
from server.services.appender import Appender
from server.services.bot import BotRunner, LiveStream
from server.services.conversations import ConversationService
from server.services.resume_reads import ResumeReads
from server.services.stream_texts import StreamTexts
from server.storage.db import Database
from tests.support.pubsub import InProcessPubSub

pytestmark = pytest.mark.asyncio(loop_scope="session")


def offline_bot(db: Database, hub: Hub) -> BotRunner:
    metrics = Metrics()
    conversations = ConversationService(db, hub, metrics, Appender(db), ResumeReads(db))
    return BotRunner(db, hub, conversations, OfflineChat(extractive_answer), metrics,
                     StreamTexts(None), delta_window_s=0.04, max_unresolved_turns=3)


async def test_stopping_drops_answers_in_retrieval_and_keeps_running_streams(
        db: Database) -> None:
    hub = Hub(InProcessPubSub())
    bot = offline_bot(db, hub)
    never = asyncio.get_running_loop().create_future()
    retrieving = asyncio.ensure_future(asyncio.shield(never))
    streaming = asyncio.ensure_future(asyncio.shield(never))
    bot.live["a"] = LiveStream("s-a", retrieving)
    bot.live["b"] = LiveStream("s-b", streaming, streaming=True)

    bot.stop_new_work()
    await asyncio.sleep(0)
    assert retrieving.cancelled()
    assert not streaming.done()  # its graceful window: it may still finish
    bot.answer(uuid.uuid4(), "Shop", uuid.uuid4(), "refunds?", "en")
    bot.answer_pending(uuid.uuid4(), "Shop", uuid.uuid4(), "en")
    assert set(bot.live) == {"a", "b"}  # nothing new started
    assert not bot.pending._checks
    streaming.cancel()
    await asyncio.gather(retrieving, streaming, return_exceptions=True)
    never.cancel()


async def test_a_late_cancel_from_this_process_spares_its_newer_stream(db: Database) -> None:
    """Answer A sends cancel_bot (except A) for the other processes; a newer question's
    answer B replaces A here. When A's message comes back through Redis after B started,
    it must not cancel B: that question would go unanswered (seen in the resume bench).
    Another process's cancel still stops B."""
    hub = Hub(InProcessPubSub())
    bot = offline_bot(db, hub)
    never = asyncio.get_running_loop().create_future()
    newer = asyncio.ensure_future(asyncio.shield(never))
    bot.live["c1"] = LiveStream("s-b", newer)

    def arrives(message: dict[str, object]) -> None:  # as the broker hands it to the hub
        hub.on_message("c:c1", msgpack.packb({"c": message}, use_bin_type=True))

    arrives(bot._cancel_message(except_stream="s-a"))
    await asyncio.sleep(0)
    assert not newer.done()
    arrives({"op": "cancel_bot", "except": "s-a", "origin": "another-process"})
    await asyncio.sleep(0)
    assert newer.cancelled()
    never.cancel()
