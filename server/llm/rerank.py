"""Rerank providers behind one Protocol: Cohere's rerank API, or an offline term-coverage scorer.

Both return scores in [0, 1] where higher is better, so the answer threshold means the same
thing whichever one runs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from server.kb.text import term_set


@dataclass(frozen=True, slots=True)
class Ranked:
    index: int  # position in the documents given
    score: float  # [0, 1], higher is better


@runtime_checkable
class Reranker(Protocol):
    @property
    def name(self) -> str: ...

    async def rerank(self, query: str, documents: Sequence[str], top_n: int) -> list[Ranked]: ...


def coverage_scores(query: str, documents: Sequence[str]) -> list[float]:
    """How much of the question each document covers, in [0, 1].

    Each query term (stemmed English word, Thai character bigram) weighs its inverse
    document frequency over the candidates plus a floor, so a term every candidate has
    still counts a little and a term no candidate has lowers every score: that is what
    makes an out-of-scope question score low against the threshold.
    """
    q = term_set(query)
    if not q or not documents:
        return [0.0] * len(documents)
    doc_terms = [term_set(d) for d in documents]
    n = len(documents)
    df: Counter[str] = Counter()
    for terms in doc_terms:
        df.update(q & terms)
    weight = {t: 0.5 + math.log(1.0 + n / (df[t] + 0.5)) for t in q}
    total = sum(weight.values())
    return [sum(weight[t] for t in q & terms) / total for terms in doc_terms]


class LexicalReranker:
    """Offline default: IDF-weighted coverage of the question's terms by each passage."""

    @property
    def name(self) -> str:
        return "clienta-coverage-v1"

    async def rerank(self, query: str, documents: Sequence[str], top_n: int) -> list[Ranked]:
        scores = coverage_scores(query, documents)
        order = sorted(range(len(documents)), key=lambda i: (-scores[i], i))
        return [Ranked(i, round(scores[i], 6)) for i in order[:top_n]]


class CohereReranker:
    """Cohere's rerank endpoint (v2) through the `cohere` SDK."""

    def __init__(
        self,
        api_key: str,
        *,
        model: str = "rerank-v3.5",
        base_url: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        import cohere
        import httpx

        # our own HTTP client, so close() can release its connections
        self._http = httpx.AsyncClient(timeout=timeout_s)
        self._client = cohere.AsyncClientV2(
            api_key=api_key, base_url=base_url or None, timeout=timeout_s, httpx_client=self._http
        )
        self._model = model

    @property
    def name(self) -> str:
        return self._model

    async def rerank(self, query: str, documents: Sequence[str], top_n: int) -> list[Ranked]:
        if not documents:
            return []
        resp = await self._client.rerank(
            model=self._model, query=query, documents=list(documents),
            top_n=min(top_n, len(documents)),
        )
        out = [
            Ranked(r.index, max(0.0, min(1.0, float(r.relevance_score)))) for r in resp.results
        ]
        return sorted(out, key=lambda r: (-r.score, r.index))

    async def close(self) -> None:
        await self._http.aclose()
