"""What the bot may answer from: the org's passages that clear its answer threshold."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from server.kb.prompt import cited
from server.kb.service import KnowledgeBase


class Grounding:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb

    async def __call__(self, org_id: UUID, conversation_id: UUID,
                       question: str) -> tuple[list[Any], bool]:
        """(passages, grounded). Ungrounded questions are recorded for the business."""
        passages = await self.kb.search(org_id, question)
        best = passages[0].score if passages else 0.0
        threshold = await self.kb.threshold(org_id)
        if not passages or best < threshold:
            await self.kb.record_unanswered(org_id, conversation_id, question, best)
            return passages, False
        # the bot answers from, and cites, only the passages that clear the bar
        return cited(passages, threshold), True
