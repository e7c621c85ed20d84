"""The OpenAI chat provider through the official SDK against the fake OpenAI server."""

from __future__ import annotations

import asyncio
import time

import pytest

from server.llm.chat import NO_ANSWER_EN, ChatFailure, ChatRequest, OfflineChat
from server.llm.openai_chat import OpenAIChat
from server.settings import Settings
from tests.fakes import FakeOpenAI

pytestmark = pytest.mark.asyncio(loop_scope="session")

REPLY = "Refunds reach your card within five business days."


def provider(fake: FakeOpenAI, **overrides: object) -> OpenAIChat:
    settings = Settings(openai_api_key="sk-test", openai_base_url=fake.base_url,
                        llm_first_token_timeout_s=1.0, llm_timeout_s=5.0)
    for key, value in overrides.items():
        object.__setattr__(settings, key, value)
    return OpenAIChat(settings)


def request() -> ChatRequest:
    return ChatRequest([{"role": "user", "content": "refunds?"}], "refunds?", [], "en")


async def collect(chat: OpenAIChat) -> str:
    return "".join([t async for t in chat.stream(request())])


async def test_streams_the_reply_token_by_token() -> None:
    async with FakeOpenAI(reply=REPLY) as fake:
        chat = provider(fake)
        assert await collect(chat) == REPLY
        body = fake.chat_requests[-1]
        assert body["stream"] is True and body["store"] is False
        assert body["model"] == "gpt-4o"
        await chat.close()


async def test_a_stream_cut_midway_is_a_failure_not_an_answer() -> None:
    async with FakeOpenAI(reply=REPLY, mode="cut", cut_after=2) as fake:
        chat = provider(fake)
        with pytest.raises(ChatFailure):
            await collect(chat)
        await chat.close()


async def test_no_first_token_times_out() -> None:
    async with FakeOpenAI(reply=REPLY, mode="hang", hang_s=30) as fake:
        chat = provider(fake)
        started = time.monotonic()
        with pytest.raises(ChatFailure, match="timed out"):
            await collect(chat)
        assert time.monotonic() - started < 5  # the first-token budget, not the SDK's
        await chat.close()


@pytest.mark.parametrize("status", [500, 429])
async def test_http_errors_fail_fast(status: int) -> None:
    async with FakeOpenAI(reply=REPLY, mode="error", error_status=status) as fake:
        chat = provider(fake)
        with pytest.raises(ChatFailure):
            await collect(chat)
        assert len(fake.chat_requests) == 1  # no silent retries behind a waiting visitor
        await chat.close()


async def test_cancellation_mid_stream_closes_the_response() -> None:
    async with FakeOpenAI(reply=" ".join(["word"] * 200), tps=50) as fake:
        chat = provider(fake)
        got: list[str] = []
        three = asyncio.Event()

        async def consume() -> None:
            async for token in chat.stream(request()):
                got.append(token)
                if len(got) == 3:
                    three.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(three.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.2)
        assert fake.streams[-1].done is False  # the server saw the client go away
        await chat.close()


async def test_offline_bot_streams_an_answer_without_a_network() -> None:
    def answer(question: str, passages: object, locale: str | None) -> str:
        return f"quoted for {question}"

    tokens = [t async for t in OfflineChat(answer, token_delay_s=0).stream(request())]
    assert len(tokens) > 1 and "".join(tokens) == "quoted for refunds?"
    # nothing to quote: it says so (in the visitor's language) rather than stay silent
    silent = OfflineChat(lambda question, passages, locale: "", token_delay_s=0)
    assert "".join([t async for t in silent.stream(request())]) == NO_ANSWER_EN


async def test_the_sdk_runs_on_its_aiohttp_transport() -> None:
    # httpx's pure-Python HTTP parsing cost ~2.5x the CPU per streamed answer
    # (docs/performance.md); a dependency change that loses the extra must show here
    import openai

    from server.llm.embeddings import OpenAIEmbedder

    async with FakeOpenAI(reply=REPLY) as fake:
        chat = provider(fake)
        embedder = OpenAIEmbedder("sk-test", base_url=fake.base_url)
        assert isinstance(chat.client._client, openai.DefaultAioHttpClient)
        assert isinstance(embedder._client._client, openai.DefaultAioHttpClient)
        assert await collect(chat) == REPLY
        assert len((await embedder.embed(["refunds"]))[0]) == embedder.dim
        await chat.close()
        await embedder.close()
