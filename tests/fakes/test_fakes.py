"""The fakes, driven through the official SDKs exactly as the server's providers use them."""

from __future__ import annotations

import base64
import math
import struct
import subprocess
import sys
import time
from pathlib import Path

import cohere
import httpx
import openai
import pytest

from tests.fakes import FakeCohere, FakeOpenAI
from tests.fakes.text import split_tokens

ROOT = Path(__file__).resolve().parents[2]


def client(fake: FakeOpenAI, **kwargs: object) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key="x", max_retries=0, **kwargs)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


async def test_streaming_chat_matches_openai_wire_format() -> None:
    async with FakeOpenAI(reply="Refunds take five days.", ttft_ms=50, tps=200) as fake:
        started = time.monotonic()
        stream = await client(fake).chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "how long do refunds take?"},
            ],
            stream=True,
        )
        chunks = [chunk async for chunk in stream]
        assert time.monotonic() - started >= 0.05
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "Refunds take five days."
    assert fake.chat_requests[0]["messages"][1]["content"] == "how long do refunds take?"
    record = fake.streams[0]
    assert record.done and record.last_user == "how long do refunds take?"
    assert [c[3] for c in record.chunks] == ["Refunds ", "take ", "five ", "days."]
    assert [c[2] for c in record.chunks] == [0, 8, 13, 18]
    walls = [c[0] for c in record.chunks]
    assert walls == sorted(walls)
    # Paced at 200 tokens/s: no token leaves before its deadline (a stall of the test's own
    # loop may only make tokens late, never early; 2 ms is the loop's clock slack).
    for i, sent in enumerate(c[1] for c in record.chunks):
        assert sent >= record.paced_from + i / 200 - 0.002


async def test_include_usage_and_token_count() -> None:
    async with FakeOpenAI(tokens=7) as fake:
        stream = await client(fake).chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 7
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 7


def test_split_tokens_cycles_with_spaces() -> None:
    assert split_tokens("a b", 5) == ["a ", "b ", "a ", "b ", "a"]
    assert split_tokens("one two", None) == ["one ", "two"]


async def test_non_stream_chat_and_callable_reply() -> None:
    async with FakeOpenAI(reply=lambda body: f"echo: {body['messages'][-1]['content']}") as fake:
        answer = await client(fake).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}]
        )
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content == "echo: ping"
    assert answer.choices[0].finish_reason == "stop"


async def test_embeddings_float_and_base64_are_deterministic_and_similar() -> None:
    async with FakeOpenAI() as fake:
        api = client(fake)
        texts = ["How do I reset my password?", "how can I reset my password", "Pricing in THB"]
        floats = await api.embeddings.create(
            model="text-embedding-3-small", input=texts, encoding_format="float"
        )
        b64 = await api.embeddings.create(
            model="text-embedding-3-small", input=texts, encoding_format="base64"
        )
        small = await api.embeddings.create(model="m", input="hello", dimensions=256)
    vectors = [d.embedding for d in floats.data]
    assert [d.index for d in floats.data] == [0, 1, 2]
    assert len(vectors[0]) == 1536 and abs(cosine(vectors[0], vectors[0]) - 1) < 1e-9
    assert cosine(vectors[0], vectors[1]) > 0.5 > cosine(vectors[0], vectors[2])
    raw = base64.b64decode(b64.data[0].embedding)
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert len(decoded) == 1536
    assert max(abs(x - y) for x, y in zip(decoded, vectors[0], strict=True)) < 1e-6
    assert len(small.data[0].embedding) == 256
    assert floats.usage.total_tokens > 0
    assert fake.embedding_requests[0]["input"] == texts


async def test_cut_mode_breaks_the_stream_without_done() -> None:
    async with FakeOpenAI(tokens=20, mode="cut", cut_after=3) as fake:
        stream = await client(fake).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        got: list[str] = []
        with pytest.raises((httpx.HTTPError, openai.APIError)):
            async for chunk in stream:
                got.append(chunk.choices[0].delta.content or "")
    assert len([g for g in got if g]) == 3
    assert fake.streams[0].cut and not fake.streams[0].done


async def test_hang_mode_times_out_and_stops_quickly() -> None:
    fake = FakeOpenAI(mode="hang")
    async with fake:
        api = client(fake, timeout=0.3)
        with pytest.raises(openai.APITimeoutError):
            await api.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
        # Streaming: headers arrive, then nothing; the read timeout fires while iterating.
        stream = await api.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        with pytest.raises((httpx.ReadTimeout, openai.APITimeoutError)):
            async for _ in stream:
                pass
        started = time.monotonic()
    assert time.monotonic() - started < 3


async def test_error_modes_use_openai_error_shape() -> None:
    async with FakeOpenAI(mode="error", error_status=429) as fake:
        with pytest.raises(openai.RateLimitError) as rate:
            await client(fake).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
        assert rate.value.code == "rate_limit_exceeded"
        fake.configure(error_status=500)
        with pytest.raises(openai.InternalServerError):
            await client(fake).embeddings.create(model="m", input="x")
        fake.configure(error_count=1)  # one failure, then normal: the SDK's retry succeeds
        retrying = openai.AsyncOpenAI(base_url=fake.base_url, api_key="x", max_retries=1)
        answer = await retrying.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content


async def test_control_endpoints() -> None:
    async with FakeOpenAI() as fake, httpx.AsyncClient(base_url=fake.origin) as http:
        changed = await http.post("/_config", json={"reply": "changed", "tps": 1000})
        assert changed.status_code == 200 and changed.json()["reply"] == "changed"
        assert (await http.post("/_config", json={"nope": 1})).status_code == 400
        answer = await client(fake).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "q-123"}], stream=True
        )
        assert "".join([c.choices[0].delta.content or "" async for c in answer]) == "changed"
        stats = (await http.get("/_stats")).json()
        assert stats["chat_requests"] == 1
        assert stats["streams"][0]["last_user"] == "q-123"
        assert stats["streams"][0]["chunks"][0][3] == "changed"
        await http.post("/_reset")
        assert (await http.get("/_stats")).json()["streams"] == []


def test_threaded_fakes_for_sync_code() -> None:
    with FakeOpenAI(reply="sync ok").threaded() as fake, FakeCohere().threaded() as co:
        api = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
        answer = api.chat.completions.create(model="m", messages=[{"role": "user", "content": "?"}])
        assert answer.choices[0].message.content == "sync ok"
        ranked = cohere.ClientV2(base_url=co.base_url, api_key="x").rerank(
            model="rerank-v3.5", query="q", documents=["q"]
        )
        assert ranked.results[0].index == 0


async def test_cohere_rerank_v2_through_sdk() -> None:
    async with FakeCohere() as fake:
        co = cohere.AsyncClientV2(base_url=fake.base_url, api_key="x")
        docs = [
            "Shipping to Chiang Mai takes three days.",
            "Refunds are processed within five business days.",
            "Our office is closed on Sundays.",
        ]
        answer = await co.rerank(
            model="rerank-v3.5", query="how many days for refunds", documents=docs, top_n=2
        )
    assert [r.index for r in answer.results] == [1, 0]
    scores = [r.relevance_score for r in answer.results]
    assert scores == sorted(scores, reverse=True) and 0 <= scores[-1] <= scores[0] <= 1
    assert answer.meta.api_version.version == "2"
    assert answer.meta.billed_units.search_units == 1
    assert fake.requests[0].path == "/v2/rerank"
    assert fake.requests[0].body["query"] == "how many days for refunds"


async def test_cohere_v1_and_error_mode() -> None:
    async with FakeCohere() as fake, httpx.AsyncClient(base_url=fake.origin) as http:
        v1 = await http.post(
            "/v1/rerank",
            json={"query": "red", "documents": [{"text": "blue"}, "red"], "return_documents": True},
        )
        assert v1.json()["results"][0] == {
            "index": 1,
            "relevance_score": v1.json()["results"][0]["relevance_score"],
            "document": {"text": "red"},
        }
        fake.configure(mode="error", error_status=429)
        with pytest.raises(cohere.errors.TooManyRequestsError):
            await cohere.AsyncClientV2(base_url=fake.base_url, api_key="x").rerank(
                model="m", query="q", documents=["d"], request_options={"max_retries": 0}
            )


def test_cli_serves_and_reports() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--tokens", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
        api = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=10)
        stream = api.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert len([c for c in stream if c.choices and c.choices[0].delta.content]) == 3
    finally:
        proc.terminate()
        proc.wait(10)
