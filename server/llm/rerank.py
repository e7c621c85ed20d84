"""Rerank providers behind one Protocol: Cohere's rerank API, or an offline hybrid scorer.

Both return scores in [0, 1] where higher is better, so the answer threshold means the same
thing whichever one runs.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from server.domain.text import term_set


@dataclass(frozen=True, slots=True)
class Ranked:
    index: int  # position in the documents given
    score: float  # [0, 1], higher is better


@dataclass(frozen=True, slots=True)
class RerankContext:
    """What retrieval already knows about the candidates; providers may ignore it.

    cosines: each candidate's embedding similarity to the query (None: not comparable);
    term_df / total: how many of the organisation's chunks hold each query term, out of
    how many, so term weights are the organisation's own IDF.
    """

    cosines: Sequence[float | None] = ()
    term_df: Mapping[str, int] = field(default_factory=dict)
    total: int = 0


@runtime_checkable
class Reranker(Protocol):
    @property
    def name(self) -> str: ...

    async def rerank(
        self, query: str, documents: Sequence[str], top_n: int, *,
        context: RerankContext | None = None,
    ) -> list[Ranked]: ...


def idf(df: int, total: int) -> float:
    """BM25's inverse document frequency; a term no chunk holds weighs the most."""
    return math.log(1.0 + (max(total, df) - df + 0.5) / (df + 0.5))


def coverage_scores(
    query: str, documents: Sequence[str], term_df: Mapping[str, int] | None = None,
    total: int = 0, terms_of: Callable[[str], AbstractSet[str]] = term_set,
) -> list[float]:
    """How much of the question each document covers, in [0, 1]: the IDF mass of the
    question's terms (stemmed English words, Thai cluster bigrams) found in it.

    IDF comes from the organisation's chunks when given, else from the candidates. A
    question term the knowledge base never mentions keeps its full weight and lowers every
    score: that is what makes an out-of-scope question fall under the threshold.
    """
    q = term_set(query)
    if not q or not documents:
        return [0.0] * len(documents)
    doc_terms = [terms_of(d) for d in documents]
    if term_df is None or total <= 0:
        counts: Counter[str] = Counter()
        for terms in doc_terms:
            counts.update(q & terms)
        term_df, total = counts, len(documents)
    weight = {t: idf(term_df.get(t, 0), total) for t in q}
    mass = sum(weight.values()) or 1.0
    return [sum(weight[t] for t in q & terms) / mass for terms in doc_terms]


class OfflineReranker:
    """Offline default: half term coverage (organisation IDF), half embedding cosine.

    Measured on bench/kb_eval: either signal alone separates answerable from out-of-scope
    questions worse than the blend, and the blend keeps Thai and English on one scale.
    """

    def __init__(self, coverage_weight: float = 0.5, cache_size: int = 8192) -> None:
        self.coverage_weight = coverage_weight
        # chunk text -> its terms. Stemming ~30 candidates took ~20 ms per question on the
        # event loop (every other stream's deltas waited behind it); the same chunks come
        # back question after question. Derived from the text alone, so no tenant data
        # can cross through it.
        self._terms: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._cache_size = cache_size

    @property
    def name(self) -> str:
        return "clienta-hybrid-v1"

    def scores(self, query: str, documents: Sequence[str],
               context: RerankContext | None = None) -> list[float]:
        ctx = context or RerankContext()
        cover = coverage_scores(query, documents, ctx.term_df or None, ctx.total,
                                self._terms_of)
        out = []
        for i, c in enumerate(cover):
            cos = ctx.cosines[i] if i < len(ctx.cosines) else None
            if cos is None:
                out.append(c)
            else:
                w = self.coverage_weight
                out.append(w * c + (1 - w) * max(0.0, min(1.0, cos)))
        return out

    def _terms_of(self, text: str) -> frozenset[str]:
        cache = self._terms
        found = cache.get(text)
        if found is not None:
            cache.move_to_end(text)
            return found
        found = cache[text] = frozenset(term_set(text))
        if len(cache) > self._cache_size:
            cache.popitem(last=False)
        return found

    async def rerank(
        self, query: str, documents: Sequence[str], top_n: int, *,
        context: RerankContext | None = None,
    ) -> list[Ranked]:
        scores = self.scores(query, documents, context)
        # ties keep the fused order the documents came in
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

    async def rerank(
        self, query: str, documents: Sequence[str], top_n: int, *,
        context: RerankContext | None = None,
    ) -> list[Ranked]:
        del context  # the model reads the texts themselves
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
