"""The console's "try the bot": the answer a visitor would get to one question, with the
passages and scores behind it, or why the bot would hand the question to a person. It takes
the bot's own steps (handoff words, the plan's limit, grounding, the chat provider) and
stores nothing: no conversation, no unanswered question, no audit entry."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from server.domain.handoff import asks_for_human
from server.domain.modes import Trigger
from server.kb.model import Passage
from server.kb.prompt import chat_request, message_sources
from server.llm.chat import ChatProvider
from server.services.grounding import Grounding, Judgement
from server.services.metering import Meter

log = logging.getLogger("clienta.bot")


@dataclass(frozen=True, slots=True)
class Preview:
    answer: str | None  # None: the bot would hand off (`handoff` says why)
    handoff: Trigger | None
    judgement: Judgement | None  # None when the question never reached retrieval

    def as_json(self) -> dict[str, Any]:
        found = self.judgement
        cited = {p.chunk_id for p in found.cited} if found else set()

        def passage(p: Passage) -> dict[str, Any]:
            return {"chunk_id": str(p.chunk_id), "document_id": str(p.document_id),
                    "title": p.title, "url": p.url, "heading": p.heading, "text": p.text,
                    "score": round(p.score, 4), "cited": p.chunk_id in cited}

        return {
            "answered": self.answer is not None,
            "answer": self.answer,
            "handoff": self.handoff.value if self.handoff else None,
            "sources": (message_sources(found.cited) or []) if found and self.answer else [],
            "threshold": found.threshold if found else None,
            "best_score": round(found.best, 4) if found else None,
            "passages": [passage(p) for p in found.passages] if found else [],
        }


class BotPreview:
    def __init__(self, grounding: Grounding, provider: ChatProvider, meter: Meter | None, *,
                 timeout_s: float) -> None:
        self.grounding = grounding
        self.provider = provider
        self.meter = meter
        self.timeout_s = timeout_s

    async def ask(self, org_id: UUID, org_name: str, question: str, locale: str | None, *,
                  org_keywords: Callable[[str], bool] | None = None) -> Preview:
        """In the visitor's order: words asking for a person, the plan's AI answers, the
        sources clearing the threshold, then the provider's answer; a failure anywhere the
        bot would hand off at is that handoff (never an error page)."""
        if asks_for_human(question) or (org_keywords is not None and org_keywords(question)):
            return Preview(None, Trigger.ASKED_FOR_HUMAN, None)
        if self.meter is not None and not await self.meter.allows_answer(org_id):
            return Preview(None, Trigger.PLAN_LIMIT, None)
        try:
            found = await self.grounding.judge(org_id, question)
        except Exception as exc:  # embeddings or rerank down: the bot hands off too
            log.warning("try-the-bot retrieval failed: %s", type(exc).__name__)
            return Preview(None, Trigger.LLM_FAILED, None)
        if not found.grounded:
            return Preview(None, Trigger.NO_ANSWER, found)
        request = chat_request(org_name, question, [], found.cited, locale)
        try:
            async with asyncio.timeout(self.timeout_s):
                text = "".join([token async for token in self.provider.stream(request)])
        except Exception as exc:  # ChatFailure, a timeout, a broken stream: as the bot does
            log.warning("try-the-bot answer failed: %s", type(exc).__name__)
            return Preview(None, Trigger.LLM_FAILED, found)
        return Preview(text.strip() or "…", None, found)
