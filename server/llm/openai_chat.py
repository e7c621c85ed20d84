"""OpenAI-compatible streaming chat completions through the official SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

import httpx
import openai

from server.llm.chat import ChatFailure, ChatRequest
from server.llm.openai_client import openai_client

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

# the SDK's transport: httpx, or its fork httpx2 in recent SDK releases
try:
    import httpx2

    HTTP_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx2.HTTPError)
except ImportError:  # pragma: no cover - older SDKs
    HTTP_ERRORS = (httpx.HTTPError,)
from server.settings import Settings

FAILURES: tuple[type[Exception], ...] = (openai.OpenAIError, *HTTP_ERRORS, ValueError)


class OpenAIChat:
    name = "openai"

    def __init__(self, settings: Settings) -> None:
        self.model = settings.chat_model
        self.first_token_timeout_s = settings.llm_first_token_timeout_s
        self.timeout_s = settings.llm_timeout_s
        # retries would hide a failing model behind a waiting visitor: fail fast, hand off
        self.client = openai_client(
            api_key=settings.openai_api_key, base_url=settings.openai_base_url,
            timeout_s=settings.llm_timeout_s, max_retries=0,
        )
        # the SDK imports its resource modules on first use: here at start-up, not in the
        # first visitor's answer
        self._completions = self.client.chat.completions.with_streaming_response

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        try:
            async with asyncio.timeout(self.first_token_timeout_s) as budget:
                # The SDK makes the call (auth, errors, timeouts); the SSE lines are read
                # raw: its typed parse of every chunk cost more CPU than the rest of the
                # token path together.
                async with self._completions.create(
                    model=self.model, stream=True, store=False,
                    # role/content dicts: the SDK's TypedDicts, built as plain ones
                    messages=cast("list[ChatCompletionMessageParam]", request.messages),
                    # the last chunk then carries the tokens used (metered per org)
                    stream_options={"include_usage": True},
                ) as response:
                    got_first = False
                    finished = False
                    async for line in response.http_response.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        data = line[5:].strip()
                        if data == "[DONE]":
                            break
                        chunk = json.loads(data)
                        if "error" in chunk:
                            raise ChatFailure("the model reported an error mid-stream")
                        usage = chunk.get("usage")
                        if usage:
                            request.usage.prompt = int(usage.get("prompt_tokens") or 0)
                            request.usage.completion = int(usage.get("completion_tokens") or 0)
                        choices = chunk.get("choices") or ()
                        if not choices:
                            continue
                        if choices[0].get("finish_reason") is not None:
                            finished = True
                        text = (choices[0].get("delta") or {}).get("content")
                        if not text:
                            continue
                        if not got_first:
                            got_first = True
                            budget.reschedule(deadline)
                        yield text
                    if not finished:
                        # a stream cut mid-way can end quietly: never store it as whole
                        raise ChatFailure("the model's stream ended before it finished")
        except TimeoutError as exc:
            raise ChatFailure("the model timed out") from exc
        except FAILURES as exc:
            raise ChatFailure(f"the model failed: {type(exc).__name__}") from exc

    async def close(self) -> None:
        await self.client.close()
