"""What the bot may answer from: the org's passages that clear its answer threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from server.kb.model import Passage
from server.kb.prompt import cited
from server.kb.service import KnowledgeBase


@dataclass(frozen=True, slots=True)
class Judgement:
    """What retrieval found for a question and whether the bot may answer from it."""

    passages: list[Passage]  # all found, best first, with their scores
    threshold: float
    grounded: bool
    cited: list[Passage]  # what an answer is built from and cites (empty when ungrounded)

    @property
    def best(self) -> float:
        return self.passages[0].score if self.passages else 0.0


class Grounding:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb

    async def judge(self, org_id: UUID, question: str) -> Judgement:
        """The bot's decision, recording nothing (the console's "try the bot" shows it)."""
        passages = await self.kb.search(org_id, question)
        threshold = await self.kb.threshold(org_id)
        grounded = bool(passages) and passages[0].score >= threshold
        # the bot answers from, and cites, only the passages that clear the bar
        return Judgement(passages, threshold, grounded,
                         cited(passages, threshold) if grounded else [])

    async def __call__(self, org_id: UUID, conversation_id: UUID,
                       question: str) -> tuple[list[Any], bool]:
        """(passages, grounded). Ungrounded questions are recorded for the business."""
        found = await self.judge(org_id, question)
        if not found.grounded:
            await self.kb.record_unanswered(org_id, conversation_id, question, found.best)
            return found.passages, False
        return found.cited, True
