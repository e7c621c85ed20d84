"""Hybrid retrieval for one organisation: a pgvector channel and a lexical channel, fused by
reciprocal rank, then reranked into passages whose score means the same for the threshold.

Small tenants on the shared HNSW index: pgvector 0.6 filters HNSW results after the
graph walk, so a tenant holding 0.1% of the rows may get nothing back. The vector channel
therefore scans a small tenant's rows exactly, raises `hnsw.ef_search` in proportion to
how thinly a large tenant is spread, and falls back to the exact scan when too few come back.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from server.domain.text import terms
from server.kb.model import Passage
from server.llm.embeddings import Embedder
from server.llm.rerank import OfflineReranker, Ranked, RerankContext, Reranker, idf
from server.storage import kb as store
from server.storage.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    candidates: int = 40  # rows asked of each channel
    rerank_top: int = 20  # fused candidates handed to the reranker
    rrf_k: int = 60
    exact_scan_max: int = 20000  # tenant rows up to which the vector channel scans exactly
    ef_search_max: int = 1000  # pgvector's ceiling
    # a slow embedding service must not hold the answer: past this, lexical only
    query_embed_timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class VectorPlan:
    exact: bool
    ef_search: int


@dataclass(slots=True)
class Trace:
    """How one search went, for tests and the evaluation."""

    vector_ids: list[UUID] = field(default_factory=list)
    lexical_ids: list[UUID] = field(default_factory=list)
    fused_ids: list[UUID] = field(default_factory=list)
    plan: VectorPlan | None = None
    fell_back: bool = False
    reranker: str = ""


@dataclass(frozen=True, slots=True)
class Retrieval:
    passages: list[Passage]
    trace: Trace


def rrf(rankings: Sequence[Sequence[UUID]], k: int = 60) -> list[tuple[UUID, float]]:
    """Reciprocal rank fusion: sum of 1/(k + rank) over the rankings, best first."""
    scores: dict[UUID, float] = {}
    first_seen: dict[UUID, int] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            first_seen.setdefault(item, len(first_seen))
    return sorted(scores.items(), key=lambda kv: (-kv[1], first_seen[kv[0]]))


def plan_vector_scan(
    org_rows: int, total_rows: int, want: int, *, exact_max: int, ef_max: int = 1000
) -> VectorPlan:
    """Exact scan for a tenant small enough to read whole; otherwise HNSW with ef_search
    sized so that, after the tenant filter, about twice `want` rows survive."""
    if org_rows <= exact_max:
        return VectorPlan(True, 0)
    share = org_rows / max(total_rows, org_rows, 1)
    ef = math.ceil(2 * want / share)
    return VectorPlan(False, max(40, want, min(ef, ef_max)))


def order_passages(hits: Sequence[store.ChunkHit], ranked: Sequence[Ranked], k: int
                   ) -> list[Passage]:
    out = []
    for r in ranked[:k]:
        h = hits[r.index]
        out.append(Passage(h.chunk_id, h.document_id, h.title, h.url, h.body, r.score,
                           h.heading, h.kind))
    return out


class Retriever:
    def __init__(
        self, db: Database, embedder: Embedder, reranker: Reranker,
        config: RetrievalConfig | None = None,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.reranker = reranker
        self.config = config or RetrievalConfig()
        self._fallback_reranker = OfflineReranker()

    async def _query_vector(self, query: str) -> list[float] | None:
        try:
            async with asyncio.timeout(self.config.query_embed_timeout_s):
                return (await self.embedder.embed([query]))[0]
        except Exception:
            # the lexical channel still answers while the embedding service is down
            log.warning("query embedding failed; lexical channel only", exc_info=True)
            return None

    async def retrieve(self, org_id: UUID, query: str, k: int = 5) -> Retrieval:
        cfg = self.config
        trace = Trace()
        query = query.strip()[:2000]
        if not query:
            return Retrieval([], trace)
        qvec = await self._query_vector(query)
        want = max(cfg.candidates, k)
        async with self.db.unit_of_work(org_id) as conn:
            if qvec is not None:
                model, dim = self.embedder.name, self.embedder.dim
                org_rows = await store.org_chunk_count(conn, org_id, model)
                if org_rows:
                    total = await store.estimated_total_chunks(conn)
                    plan = plan_vector_scan(org_rows, total, want, exact_max=cfg.exact_scan_max,
                                            ef_max=cfg.ef_search_max)
                    trace.plan = plan
                    hits = await store.vector_search(
                        conn, org_id, model=model, dim=dim, query=qvec, limit=want,
                        exact=plan.exact, ef_search=plan.ef_search,
                    )
                    if not plan.exact and len(hits) < min(want, org_rows):
                        trace.fell_back = True
                        hits = await store.vector_search(
                            conn, org_id, model=model, dim=dim, query=qvec, limit=want, exact=True
                        )
                    trace.vector_ids = [h[0] for h in hits]
            query_terms = terms(query)
            total, term_df = await store.term_stats(conn, org_id, query_terms)
            weights = {t: idf(n, total) for t, n in term_df.items() if n > 0}
            lexical = await store.lexical_search(conn, org_id, weights, limit=want)
            trace.lexical_ids = [h[0] for h in lexical]
            fused = rrf([trace.vector_ids, trace.lexical_ids], cfg.rrf_k)[: cfg.rerank_top]
            trace.fused_ids = [cid for cid, _ in fused]
            found = await store.fetch_chunks(conn, org_id, trace.fused_ids, query=qvec,
                                             model=self.embedder.name)
        hits_in_order = [found[cid] for cid in trace.fused_ids if cid in found]
        if not hits_in_order:
            return Retrieval([], trace)
        context = RerankContext([h.cosine for h in hits_in_order], term_df, total)
        ranked = await self._rerank(query, hits_in_order, context, trace)
        return Retrieval(order_passages(hits_in_order, ranked, k), trace)

    async def _rerank(self, query: str, hits: list[store.ChunkHit], context: RerankContext,
                      trace: Trace) -> list[Ranked]:
        docs = [f"{h.heading}\n{h.body}" if h.heading else h.body for h in hits]
        try:
            ranked = await self.reranker.rerank(query, docs, len(docs), context=context)
            trace.reranker = self.reranker.name
        except Exception:
            log.warning("reranker %s failed; offline scoring", self.reranker.name, exc_info=True)
            ranked = await self._fallback_reranker.rerank(query, docs, len(docs),
                                                          context=context)
            trace.reranker = self._fallback_reranker.name
        return ranked

    async def search(self, org_id: UUID, query: str, k: int = 5) -> list[Passage]:
        return (await self.retrieve(org_id, query, k)).passages
