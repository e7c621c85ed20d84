"""A tiny tenant beside a big one on the shared HNSW index still gets its own top results."""

from __future__ import annotations

import pytest

from server.kb.retrieval import RetrievalConfig, VectorPlan, plan_vector_scan
from server.kb.service import KnowledgeBase, Upload
from server.llm.embeddings import HashingEmbedder
from server.llm.rerank import OfflineReranker
from server.settings import Settings
from server.storage.db import Database
from tests.kb.conftest import MakeOrg


@pytest.mark.parametrize(("org_rows", "total", "want", "exact_max", "plan"), [
    (3, 100_000, 40, 20_000, VectorPlan(True, 0)),  # small tenant: read it whole
    (20_000, 100_000, 40, 20_000, VectorPlan(True, 0)),
    (50_000, 100_000, 40, 20_000, VectorPlan(False, 160)),  # half the rows: 2*40/0.5
    (30_000, 3_000_000, 40, 20_000, VectorPlan(False, 1000)),  # thinly spread: ceiling
    (90_000, 90_000, 40, 20_000, VectorPlan(False, 80)),  # alone on the index
    (10, 0, 5, 0, VectorPlan(False, 40)),  # stale statistics: never below pgvector's default
])
def test_plan_vector_scan(org_rows: int, total: int, want: int, exact_max: int,
                          plan: VectorPlan) -> None:
    assert plan_vector_scan(org_rows, total, want, exact_max=exact_max) == plan


async def test_small_org_beside_a_big_org(db: Database, make_org: MakeOrg) -> None:
    big, small = await make_org("Big B"), await make_org("Tiny A")
    settings = Settings(kb_background_bytes=50 * 1024 * 1024, kb_max_upload_bytes=50 * 1024 * 1024)
    loader = KnowledgeBase(db, settings, HashingEmbedder(), OfflineReranker(),
                           reindex_on_start=False)
    await loader.start()
    # B: thousands of chunks about the very topic A will ask about
    sections = "\n".join(
        f"## Product {i} refunds\nRefunds for product {i} take {i % 9 + 2} business days "
        f"after the parcel reaches warehouse {i % 7}." for i in range(2500))
    b_doc = await loader.add(big, Upload(sections.encode(), filename="b.md"))
    assert b_doc.chunks >= 2500
    a_doc = await loader.add(small, Upload.from_text(
        "A refunds", "# Refunds\nRefunds take five business days after your parcel arrives."))
    await loader.add(small, Upload.from_text("A hours", "We open at 7:00."))
    await loader.close()
    async with db.unscoped() as conn:
        await conn.execute("ANALYZE kb_chunks")

    question = "how many business days do refunds take"
    for config in (RetrievalConfig(), RetrievalConfig(exact_scan_max=0)):
        kb = KnowledgeBase(db, settings, HashingEmbedder(), OfflineReranker(),
                           retrieval=config, reindex_on_start=False)
        result = await kb.retrieve(small, question, k=5)
        plan = result.trace.plan
        assert plan is not None and plan.exact is (config.exact_scan_max > 0)
        if not plan.exact:
            # A is a sliver of the index: ef_search goes to the ceiling
            assert plan.ef_search == config.ef_search_max
        assert len(result.trace.vector_ids) == a_doc.chunks + 1  # all of A's chunks
        assert result.passages[0].document_id == a_doc.document_id
        assert {p.document_id for p in result.passages} <= {a_doc.document_id,
                                                           result.passages[-1].document_id}
        own = await kb.retrieve(big, question, k=5)
        assert own.passages and all(p.document_id == b_doc.document_id for p in own.passages)
        assert len(own.trace.vector_ids) == config.candidates
