"""Embedding providers behind one Protocol: OpenAI's API, or an offline hashed n-gram model.

The offline model needs no network or weights and handles English and Thai: features are
stemmed words, word pairs and character 3-4 grams for Latin text, character 1-3 grams for
Thai runs (no spaces between Thai words), hashed with a sign bit into `dim` buckets with
sublinear counts, then L2-normalised so cosine distance works in pgvector.
"""

from __future__ import annotations

import asyncio
import base64
import math
import sys
import zlib
from array import array
from collections import Counter
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from server.domain.text import STOP_WORDS, normalise, runs, stem, strip_particles

# dimensions of the OpenAI-compatible models we know; others are probed on start-up
KNOWN_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


@runtime_checkable
class Embedder(Protocol):
    """`name` and `dim` are recorded with every chunk; a change of either re-indexes."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def _features(text: str) -> Counter[str]:
    feats: Counter[str] = Counter()
    previous = ""
    for thai, run in runs(text):
        if thai:
            run = strip_particles(run)
            previous = ""
            for n, prefix in ((2, "2"), (3, "3")):
                feats.update(prefix + run[i : i + n] for i in range(len(run) - n + 1))
            continue
        if run in STOP_WORDS:
            previous = ""
            continue
        word = stem(run)
        feats["w" + word] += 4
        if previous:
            feats["p" + previous + " " + word] += 2
        previous = word
        padded = f"<{run}>"
        for n in (3, 4):
            feats.update("c" + padded[i : i + n] for i in range(len(padded) - n + 1))
    return feats


def hashed_vector(text: str, dim: int) -> list[float]:
    """The offline embedding of one text (pure, deterministic across processes)."""
    vec = [0.0] * dim
    for feat, count in _features(text).items():
        h = zlib.crc32(feat.encode())
        weight = 1.0 + math.log(count)
        vec[h % dim] += -weight if h & 0x80000000 else weight
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0.0:
        # an empty or all-stop-word text still needs a valid unit vector
        h = zlib.crc32(normalise(text).encode())
        vec[h % dim] = 1.0
        return vec
    return [v / norm for v in vec]


class HashingEmbedder:
    """Offline default: no network, no weights, English and Thai."""

    def __init__(self, dim: int = 512) -> None:
        self._dim = dim

    @property
    def name(self) -> str:
        return f"clienta-hash-v1-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if len(texts) <= 4:
            return [hashed_vector(t, self._dim) for t in texts]
        # a document's worth of hashing would block the event loop for a while
        return await asyncio.to_thread(lambda: [hashed_vector(t, self._dim) for t in texts])


def decoded_vector(value: str | list[float]) -> list[float]:
    """An embedding as the API sends it: base64 of little-endian float32s, or floats."""
    if isinstance(value, str):
        floats = array("f", base64.b64decode(value))
        if sys.byteorder == "big":
            floats.byteswap()
        return floats.tolist()
    return [float(x) for x in value]


class OpenAIEmbedder:
    """Any OpenAI-compatible /embeddings endpoint through the `openai` SDK."""

    def __init__(
        self,
        api_key: str,
        *,
        model: str = "text-embedding-3-small",
        base_url: str | None = None,
        timeout_s: float = 30.0,
        dim: int | None = None,
        batch: int = 128,
    ) -> None:
        from openai import BadRequestError

        from server.llm.openai_client import openai_client

        self._client = openai_client(api_key=api_key, base_url=base_url, timeout_s=timeout_s,
                                     max_retries=2)
        self._embeddings = self._client.embeddings.with_raw_response  # imported at start-up
        self._model = model
        self._dim = dim or KNOWN_DIMS.get(model, 0)
        self._batch = batch
        # until the server shows it does not speak base64 (a 400 for it)
        self._base64 = True
        self._bad_request = BadRequestError

    @property
    def name(self) -> str:
        return self._model

    @property
    def dim(self) -> int:
        return self._dim

    async def probe(self) -> int:
        """Learn the dimension of an unknown model with one tiny request."""
        if not self._dim:
            self._dim = len((await self._embed_batch(["dimension probe"]))[0])
        return self._dim

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        # base64, as the SDK asks by default: 4 bytes per dimension decoded in C, where
        # "float" is ~20 characters of JSON each, parsed in Python (a 1,536-dimension
        # query vector was ~5 % of the server's CPU per bot answer under the stream load).
        # Some OpenAI-compatible servers (Ollama, llama.cpp) reject base64: "float" from
        # then on; one that ignores it answers floats, which are read as well.
        # The raw response, parsed as plain JSON: the SDK's typed parse builds an object per
        # float.
        if self._base64:
            try:
                raw = await self._embeddings.create(
                    model=self._model, input=texts, encoding_format="base64")
            except self._bad_request:
                self._base64 = False
                return await self._embed_batch(texts)
        else:
            raw = await self._embeddings.create(
                model=self._model, input=texts, encoding_format="float")
        body = raw.http_response.json()
        rows = sorted(body["data"], key=lambda d: d["index"])
        return [decoded_vector(r["embedding"]) for r in rows]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        # the API rejects empty strings
        clean = [t if t.strip() else "." for t in texts]
        out: list[list[float]] = []
        for i in range(0, len(clean), self._batch):
            out.extend(await self._embed_batch(clean[i : i + self._batch]))
        if out and not self._dim:
            self._dim = len(out[0])
        return out

    async def close(self) -> None:
        await self._client.close()
