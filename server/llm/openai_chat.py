"""OpenAI-compatible streaming chat completions through the official SDK."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import openai

from server.llm.chat import ChatFailure, ChatRequest
from server.settings import Settings


class OpenAIChat:
    name = "openai"

    def __init__(self, settings: Settings) -> None:
        self.model = settings.chat_model
        self.first_token_timeout_s = settings.llm_first_token_timeout_s
        self.timeout_s = settings.llm_timeout_s
        # retries would hide a failing model behind a waiting visitor: fail fast, hand off
        self.client = openai.AsyncOpenAI(
            api_key=settings.openai_api_key, base_url=settings.openai_base_url,
            timeout=settings.llm_timeout_s, max_retries=0,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        from server.kb.prompt import build_chat_messages

        messages = build_chat_messages(request.history, request.passages,
                                       org_name=request.org_name, locale=request.locale)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        try:
            async with asyncio.timeout(self.first_token_timeout_s) as budget:
                stream = await self.client.chat.completions.create(
                    model=self.model, messages=messages, stream=True, store=False,
                )
                try:
                    got_first = False
                    finished = False
                    async for chunk in stream:
                        if not chunk.choices:
                            continue
                        if chunk.choices[0].finish_reason is not None:
                            finished = True
                        text = chunk.choices[0].delta.content
                        if not text:
                            continue
                        if not got_first:
                            got_first = True
                            budget.reschedule(deadline)
                        yield text
                    if not finished:
                        # a stream cut mid-way can end quietly: never store it as whole
                        raise ChatFailure("the model's stream ended before it finished")
                finally:
                    await stream.close()
        except TimeoutError as exc:
            raise ChatFailure("the model timed out") from exc
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            raise ChatFailure(f"the model failed: {type(exc).__name__}") from exc

    async def close(self) -> None:
        await self.client.close()
