"""The knowledge-base service on real Postgres + pgvector: ingestion of every format,
replace, delete, background jobs, organisation isolation, Thai, thresholds, unanswered."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from uuid import UUID

import pytest

from server.domain.knowledge import ChunkKind, DocStatus
from server.kb.extractive import extractive_answer
from server.kb.model import DocumentNotFound, EmptyDocument, TooLarge, UnsupportedType
from server.kb.service import KnowledgeBase, Upload, build_knowledge_base
from server.llm.embeddings import HashingEmbedder, OpenAIEmbedder
from server.llm.rerank import CohereReranker, OfflineReranker
from server.settings import Settings
from server.storage.db import Database
from tests.fakes import FakeCohere, FakeOpenAI
from tests.fakes.cohere_server import overlap_score
from tests.kb.conftest import MakeOrg, make_pdf

REFUNDS = ("# Returns\n## Refunds\nRefunds are issued within five business days after the item "
           "reaches our warehouse.\n## Exchanges\n"
           "We exchange an unopened bag once, free of charge.")
HOURS_HTML = ("<html><head><title>Hours</title><script>var a=1</script></head><body>"
              "<nav>Home Shop</nav><h1>Opening hours</h1><p>The Ari café opens at 7:00 every day."
              "</p><footer>Copyright</footer></body></html>")
FAQ_CSV = ("question,answer\nCan I pay with PromptPay?,Yes: scan the QR code at checkout.\n"
           "Do you sell capsules?,\"Yes, Nespresso-compatible capsules in boxes of 10.\"\n")
THAI = ("# การจัดส่ง\nจัดส่งทั่วประเทศไทยด้วยเคอรี่ ใช้เวลา 1-2 วันทำการในกรุงเทพฯ "
        "และ 2-4 วันทำการสำหรับต่างจังหวัด\n\n# การคืนเงิน\nคืนเงินเข้าบัตรเครดิตภายใน 5-10 วันทำการ")


async def chunk_rows(db: Database, org_id: UUID, doc_id: UUID | None = None) -> list:
    async with db.unit_of_work(org_id) as conn:
        return await conn.fetch(
            """SELECT id, org_id, document_id, heading, body, embed_model, embed_dim
               FROM kb_chunks WHERE org_id = $1 AND ($2::uuid IS NULL OR document_id = $2)
               ORDER BY ord""", org_id, doc_id)


@pytest.mark.parametrize(("filename", "data", "question", "expect"), [
    ("refunds.md", REFUNDS.encode(), "how long until I get my refund", "five business days"),
    ("notes.txt", b"Parking: two cars behind the building.", "is there parking", "two cars"),
    ("hours.html", HOURS_HTML.encode(), "when does the Ari cafe open", "7:00"),
    ("faq.csv", FAQ_CSV.encode(), "can I pay by PromptPay", "scan the QR code"),
    ("warranty.pdf", make_pdf(["Grinders carry a one-year warranty.", "Burrs are wear parts."]),
     "warranty on grinders", "one-year warranty"),
])
async def test_each_format_is_ingested_and_found(
    kb: KnowledgeBase, org_id: UUID, db: Database, filename: str, data: bytes, question: str,
    expect: str,
) -> None:
    out = await kb.add(org_id, Upload(data, filename=filename))
    assert out.status is DocStatus.READY and out.chunks >= 1
    rows = await chunk_rows(db, org_id, out.document_id)
    assert len(rows) == out.chunks
    assert {(r["embed_model"], r["embed_dim"]) for r in rows} == {("clienta-hash-v1-512", 512)}
    passages = await kb.search(org_id, question)
    assert passages and passages[0].document_id == out.document_id
    assert expect in passages[0].text
    assert 0.0 < passages[0].score <= 1.0
    assert expect in extractive_answer(question, passages, "en")
    if filename.endswith(".csv"):
        assert passages[0].kind is ChunkKind.QA
    if filename.endswith(".html"):
        assert all("var a" not in r["body"] and "Home Shop" not in r["body"] for r in rows)
    doc = await kb.get_document(org_id, out.document_id)
    assert doc is not None and doc.status is DocStatus.READY and doc.chunks == out.chunks


async def test_json_text_upload_keeps_title_and_url(kb: KnowledgeBase, org_id: UUID) -> None:
    out = await kb.add(org_id, Upload.from_text("Refund policy", REFUNDS, "https://x.example/r"))
    passages = await kb.search(org_id, "refund")
    assert passages[0].title == "Refund policy" and passages[0].url == "https://x.example/r"
    assert passages[0].heading == "Returns › Refunds"
    docs = await kb.list_documents(org_id)
    assert [d.id for d in docs] == [out.document_id]


@pytest.mark.parametrize(("upload", "error"), [
    (Upload(b"\x89PNG\r\n\x1a\n", filename="x.png", content_type="image/png"), UnsupportedType),
    (Upload(b"   ", filename="empty.txt"), EmptyDocument),
    (Upload.from_text("Empty", "  \n "), EmptyDocument),
    (Upload(b"a" * 2048, filename="big.txt"), TooLarge),
])
async def test_bad_uploads_are_client_errors_and_store_nothing(
    db: Database, org_id: UUID, upload: Upload, error: type[Exception]
) -> None:
    kb = KnowledgeBase(db, Settings(kb_max_upload_bytes=1024), HashingEmbedder(),
                       OfflineReranker(), reindex_on_start=False)
    await kb.start()
    try:
        with pytest.raises(error):
            await kb.add(org_id, upload)
        assert await kb.list_documents(org_id) == []
    finally:
        await kb.close()


async def test_delete_removes_every_chunk_and_embedding(
    kb: KnowledgeBase, org_id: UUID, db: Database
) -> None:
    keep = await kb.add(org_id, Upload.from_text("Hours", "We open at 7:00 every day."))
    gone = await kb.add(org_id, Upload.from_text("Refunds", REFUNDS))
    assert await chunk_rows(db, org_id, gone.document_id)
    assert await kb.delete_document(org_id, gone.document_id)
    assert await chunk_rows(db, org_id, gone.document_id) == []
    assert await kb.get_document(org_id, gone.document_id) is None
    assert all(p.document_id != gone.document_id for p in await kb.search(org_id, "refund"))
    assert len(await chunk_rows(db, org_id)) == keep.chunks
    assert not await kb.delete_document(org_id, gone.document_id)


async def test_replace_swaps_content(kb: KnowledgeBase, org_id: UUID, db: Database) -> None:
    out = await kb.add(org_id, Upload.from_text("Hours", "We open at 7:00 every day."))
    again = await kb.replace(org_id, out.document_id,
                             Upload.from_text("Hours", "We now open at 8:30 on weekdays."))
    assert again.document_id == out.document_id and again.status is DocStatus.READY
    bodies = [r["body"] for r in await chunk_rows(db, org_id, out.document_id)]
    assert bodies == ["We now open at 8:30 on weekdays."]
    with pytest.raises(DocumentNotFound):
        await kb.replace(org_id, uuid.uuid4(), Upload.from_text("x", "y"))


async def test_large_uploads_are_processed_in_the_background(
    db: Database, org_id: UUID
) -> None:
    settings = Settings(kb_background_bytes=1000)
    kb = KnowledgeBase(db, settings, HashingEmbedder(), OfflineReranker(),
                       reindex_on_start=False)
    await kb.start()
    try:
        big = ("## Section\n" + "Our espresso blend is roasted every Tuesday. " * 40) * 3
        out = await kb.add(org_id, Upload(big.encode(), filename="blend.md"))
        assert out.status is DocStatus.PROCESSING
        doc = await kb.get_document(org_id, out.document_id)
        assert doc is not None and doc.status in (DocStatus.PROCESSING, DocStatus.READY)
        bad = await kb.add(org_id, Upload(b"%PDF-1.4 broken" + b"x" * 2000, filename="b.pdf"))
        await kb.wait_idle()
        ready = await kb.get_document(org_id, out.document_id)
        assert ready is not None and ready.status is DocStatus.READY and ready.chunks > 1
        failed = await kb.get_document(org_id, bad.document_id)
        assert failed is not None and failed.status is DocStatus.FAILED
        assert failed.error and "PDF" in failed.error
        assert (await kb.search(org_id, "when is the espresso blend roasted"))[0].document_id \
            == out.document_id
    finally:
        await kb.close()


async def test_shutdown_cancels_jobs_and_marks_them_failed(db: Database, org_id: UUID) -> None:
    class SlowEmbedder(HashingEmbedder):
        async def embed(self, texts: list[str]) -> list[list[float]]:  # type: ignore[override]
            await asyncio.sleep(30)
            return await super().embed(texts)

    kb = KnowledgeBase(db, Settings(kb_background_bytes=10), SlowEmbedder(), OfflineReranker(),
                       reindex_on_start=False)
    await kb.start()
    out = await kb.add(org_id, Upload.from_text("Slow", "This takes a while to embed."))
    assert out.status is DocStatus.PROCESSING
    await asyncio.sleep(0.2)
    await asyncio.wait_for(kb.close(), 5)
    doc = await kb.get_document(org_id, out.document_id)
    assert doc is not None and doc.status is DocStatus.FAILED and "shutdown" in (doc.error or "")


async def test_an_org_never_sees_another_orgs_chunks(kb: KnowledgeBase, make_org: MakeOrg) -> None:
    a, b, empty = await make_org("A"), await make_org("B"), await make_org("Empty")
    doc_a = await kb.add(a, Upload.from_text("A refunds", "Refunds at A take three days."))
    doc_b = await kb.add(b, Upload.from_text("B refunds", "Refunds at B take three days. "
                                             "Refunds refunds refunds take take days."))
    for question in ("how long do refunds take", "Refunds at B take three days", "B"):
        found = await kb.search(a, question, k=10)
        assert found and {p.document_id for p in found} == {doc_a.document_id}
    assert {p.document_id for p in await kb.search(b, "refunds", k=10)} == {doc_b.document_id}
    assert await kb.search(empty, "refunds") == []
    assert await kb.get_document(a, doc_b.document_id) is None
    assert not await kb.delete_document(a, doc_b.document_id)
    with pytest.raises(DocumentNotFound):
        await kb.replace(a, doc_b.document_id, Upload.from_text("x", "hijack"))


async def test_thai_document_and_question(kb: KnowledgeBase, org_id: UUID) -> None:
    await kb.add(org_id, Upload.from_text("English", REFUNDS))
    out = await kb.add(org_id, Upload.from_text("นโยบาย", THAI))
    passages = await kb.search(org_id, "ส่งของไปต่างจังหวัดใช้เวลากี่วันคะ")
    assert passages[0].document_id == out.document_id
    assert passages[0].heading == "การจัดส่ง"
    assert passages[0].score >= await kb.threshold(org_id)
    answer = extractive_answer("ส่งของไปต่างจังหวัดใช้เวลากี่วันคะ", passages, "th")
    assert "2-4 วันทำการ" in answer
    refund = await kb.search(org_id, "คืนเงินเข้าบัตรกี่วัน")
    assert refund[0].heading == "การคืนเงิน"


async def test_threshold_and_unanswered_questions(
    kb: KnowledgeBase, make_org: MakeOrg, db: Database
) -> None:
    org = await make_org()
    strict = await make_org(threshold=0.9)
    assert await kb.threshold(org) == Settings().kb_answer_threshold
    assert await kb.threshold(strict) == pytest.approx(0.9)
    await kb.add(org, Upload.from_text("Hours", "Our cafés open at 7:00 and close at 18:00."))
    inside = await kb.search(org, "what time do the cafés open")
    assert inside[0].score >= await kb.threshold(org)
    outside = await kb.search(org, "what is the capital of Australia")
    best = outside[0].score if outside else 0.0
    assert best < await kb.threshold(org)
    # the bot records what it could not answer; conversation_id may be unknown (None)
    for i in range(3):
        await kb.record_unanswered(org, None, f"question {i}", 0.1 * i)
    await kb.record_unanswered(strict, None, "other org", 0.0)
    rows = await kb.unanswered(org, limit=2)
    assert [r.question for r in rows] == ["question 2", "question 1"]
    assert rows[0].best_score == pytest.approx(0.2)
    assert [r.question for r in await kb.unanswered(strict)] == ["other org"]


async def test_model_change_reindexes(kb: KnowledgeBase, org_id: UUID, db: Database) -> None:
    await kb.add(org_id, Upload.from_text("Refunds", REFUNDS))
    other = KnowledgeBase(db, Settings(), HashingEmbedder(256), OfflineReranker(),
                          reindex_on_start=False)
    await other.start()  # creates the 256-dimension HNSW index
    try:
        retrieval = await other.retrieve(org_id, "refund days")
        assert retrieval.trace.vector_ids == []  # old-model chunks are not compared
        assert retrieval.passages  # the lexical channel still answers
        assert await other.reindex(org_id) == len(await chunk_rows(db, org_id))
        rows = await chunk_rows(db, org_id)
        assert {(r["embed_model"], r["embed_dim"]) for r in rows} == {("clienta-hash-v1-256",
                                                                       256)}
        retrieval = await other.retrieve(org_id, "refund days")
        assert retrieval.trace.vector_ids
        assert await other.reindex(org_id) == 0
    finally:
        await other.close()
    assert await kb.reindex(org_id, force=True) == len(rows)


async def test_online_providers_through_the_service(
    db: Database, org_id: UUID
) -> None:
    async with FakeOpenAI() as openai_fake, FakeCohere() as cohere_fake:
        settings = Settings(openai_api_key="sk-test", openai_base_url=openai_fake.base_url,
                            cohere_api_key="co-test", cohere_base_url=cohere_fake.base_url)
        kb = build_knowledge_base(settings, db)
        assert isinstance(kb.embedder, OpenAIEmbedder)
        assert isinstance(kb.reranker, CohereReranker)
        kb = KnowledgeBase(db, settings, kb.embedder, kb.reranker, reindex_on_start=False)
        await kb.start()
        try:
            out = await kb.add(org_id, Upload.from_text("Refunds", REFUNDS))
            passages = await kb.search(org_id, "refunds within five business days")
            assert passages[0].document_id == out.document_id
            assert cohere_fake.requests and openai_fake.embedding_requests
            # Cohere's relevance score is the passage score
            for p in passages:
                sent = f"{p.heading}\n{p.text}" if p.heading else p.text
                assert p.score == pytest.approx(
                    overlap_score("refunds within five business days", sent))
            cohere_fake.configure(mode="error")
            fallback = await kb.retrieve(org_id, "refunds within five business days")
            assert fallback.trace.reranker == "clienta-hybrid-v1"
            assert fallback.passages[0].document_id == out.document_id
        finally:
            await kb.close()


def test_provider_choice() -> None:
    offline = build_knowledge_base(Settings(), db=None)  # type: ignore[arg-type]
    assert isinstance(offline.embedder, HashingEmbedder)
    assert isinstance(offline.reranker, OfflineReranker)
    forced = build_knowledge_base(
        dataclasses.replace(Settings(), openai_api_key="sk", embed_model="offline"),
        db=None,  # type: ignore[arg-type]
    )
    assert isinstance(forced.embedder, HashingEmbedder)


async def test_a_hanging_embedding_service_leaves_the_lexical_channel(
    db: Database, org_id: UUID
) -> None:
    from server.kb.retrieval import RetrievalConfig

    class Hanging(HashingEmbedder):
        hang = False

        async def embed(self, texts: list[str]) -> list[list[float]]:  # type: ignore[override]
            if self.hang:
                await asyncio.sleep(60)
            return await super().embed(texts)

    emb = Hanging()
    kb = KnowledgeBase(db, Settings(), emb, OfflineReranker(), reindex_on_start=False,
                       retrieval=RetrievalConfig(query_embed_timeout_s=0.2))
    await kb.start()
    try:
        out = await kb.add(org_id, Upload.from_text("Refunds", REFUNDS))
        emb.hang = True
        result = await asyncio.wait_for(kb.retrieve(org_id, "refund business days"), 5)
        assert result.trace.vector_ids == [] and result.trace.plan is None
        assert result.passages[0].document_id == out.document_id
    finally:
        await kb.close()


def test_reindex_on_start_follows_settings() -> None:
    @dataclasses.dataclass(frozen=True)
    class WithFlag(Settings):
        kb_reindex_on_start: bool = True

    assert build_knowledge_base(WithFlag(), db=None)._reindex_on_start is True  # type: ignore[arg-type]
    assert build_knowledge_base(WithFlag(kb_reindex_on_start=False),  # type: ignore[arg-type]
                                db=None)._reindex_on_start is False
