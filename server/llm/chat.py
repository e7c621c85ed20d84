"""The chat provider interface, the offline extractive bot, and the choice between them.

Providers know nothing of the knowledge base: a request arrives with its prompt built, and
the offline bot is given the function that picks its answer from the passages."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from server.settings import Settings


class ChatFailure(Exception):
    """The model failed or timed out; the conversation goes to a person."""


@dataclass(slots=True)
class TokenUsage:
    """What the model reports it used for one answer; the provider fills it in as the
    stream ends (the offline bot uses no model and leaves it at 0)."""

    prompt: int = 0
    completion: int = 0


@dataclass(frozen=True, slots=True)
class ChatRequest:
    # the grounded system prompt, then the conversation: {"role", "content"} dicts
    messages: list[dict[str, str]]
    question: str
    passages: Sequence[Any] = ()  # what an offline answer may quote (the KB's passages)
    locale: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)


# (question, passages, locale) -> the text to quote, "" when the passages do not cover it
OfflineAnswer = Callable[[str, Sequence[Any], str | None], str]


class ChatProvider(Protocol):
    name: str

    def stream(self, request: ChatRequest) -> AsyncIterator[str]: ...

    async def close(self) -> None: ...


NO_ANSWER_EN = "I could not find that in our help content. You can ask for a person at any time."
NO_ANSWER_TH = "ขออภัย ไม่พบคำตอบในข้อมูลของเรา คุณสามารถขอคุยกับพนักงานได้ตลอดเวลา"

_TOKEN = re.compile(r"\S+\s*|\s+")


def _tokens(text: str) -> list[str]:
    """Word-sized pieces, like a model's tokens; Thai runs are cut every few characters."""
    out: list[str] = []
    for piece in _TOKEN.findall(text):
        while len(piece) > 8:
            out.append(piece[:6])
            piece = piece[6:]
        out.append(piece)
    return out


class OfflineChat:
    """Answers from the knowledge base with no network: the best passages, quoted.

    Streams word by word with a short pause so the product behaves as with a real model.
    """

    name = "offline"

    def __init__(self, answer: OfflineAnswer, token_delay_s: float = 0.01) -> None:
        self.answer = answer
        self.token_delay_s = token_delay_s

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        text = self.answer(request.question, request.passages, request.locale).strip()
        if not text:
            text = NO_ANSWER_TH if (request.locale or "").startswith("th") else NO_ANSWER_EN
        for token in _tokens(text):
            if self.token_delay_s:
                await asyncio.sleep(self.token_delay_s)
            yield token

    async def close(self) -> None:
        return None


def build_chat_provider(settings: Settings, offline_answer: OfflineAnswer) -> ChatProvider:
    if settings.llm_online:
        from server.llm.openai_chat import OpenAIChat

        return OpenAIChat(settings)
    return OfflineChat(offline_answer)
