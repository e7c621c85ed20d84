"""The knowledge-base service: ingestion (inline or as owned background jobs), search,
thresholds, unanswered questions and re-indexing; `build_knowledge_base` picks providers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

import asyncpg

from server.domain.knowledge import (
    ChunkInfo,
    DocKind,
    DocStatus,
    DocumentInfo,
    UnansweredQuestion,
)
from server.kb import ingest
from server.kb.fetch import FetchPolicy, fetch_page
from server.kb.model import (
    Busy,
    DocumentNotFound,
    Ingested,
    KbError,
    Passage,
    PlanLimit,
    QuestionNotFound,
    ReindexRunning,
    TooLarge,
    Upload,
)
from server.kb.parse import ParsedDocument, detect_kind, parse_document, parse_text
from server.kb.retrieval import Retrieval, RetrievalConfig, Retriever
from server.llm.embeddings import Embedder, HashingEmbedder, OpenAIEmbedder
from server.llm.rerank import CohereReranker, OfflineReranker, Reranker
from server.settings import Settings
from server.storage import kb as store
from server.storage import kb_review as review
from server.storage.db import Database, SystemJob

log = logging.getLogger(__name__)

OFFLINE_EMBED_MODELS = ("offline", "hash", "clienta-hash")
# why one more document would exceed the org's plan (None: it fits), in the caller's
# transaction (services/metering.Meter.document_refusal; kb imports no service)
DocumentCheck = Callable[[asyncpg.Connection, UUID], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class _Job:
    org_id: UUID
    doc_id: UUID
    gen: int


class KnowledgeBase:
    def __init__(
        self, db: Database, settings: Settings, embedder: Embedder, reranker: Reranker, *,
        retrieval: RetrievalConfig | None = None, max_jobs: int = 8, concurrency: int = 2,
        reindex_on_start: bool = True, documents: DocumentCheck | None = None,
    ) -> None:
        self.db = db
        self.documents = documents
        self.settings = settings
        self.embedder = embedder
        self.reranker = reranker
        self.retriever = Retriever(db, embedder, reranker, retrieval)
        self._max_jobs = max_jobs
        self._concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None
        self._jobs: dict[asyncio.Task[None], _Job | None] = {}
        self._closing = False
        self._reindex_on_start = reindex_on_start
        self._reindexing = 0  # re-indexes asked for by staff, running in this process
        self.fetch_policy = FetchPolicy.of(settings)

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Index for the embedder's dimension, fail jobs a dead process left, and re-embed
        chunks of another model in the background."""
        self._slots = asyncio.Semaphore(self._concurrency)
        probe = getattr(self.embedder, "probe", None)
        if not self.embedder.dim and probe is not None:
            with contextlib.suppress(Exception):
                await probe()
        async with self.db.system(SystemJob.KB_RECOVERY) as conn:
            if self.embedder.dim:
                await store.ensure_hnsw_index(conn, self.embedder.dim)
            failed = await store.fail_interrupted_all_orgs(conn, older_than_s=900)
        if failed:
            log.warning("%d knowledge-base documents were left processing; marked failed", failed)
        if self._reindex_on_start:
            self._spawn(self._reindex_all(), None)

    async def close(self) -> None:
        """Cancel background jobs; documents they were writing are marked failed."""
        self._closing = True
        running = dict(self._jobs)  # done-callbacks drop finished tasks from _jobs
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        interrupted = [job for task, job in running.items()
                       if job is not None and task.cancelled()]
        self._jobs.clear()
        for job in interrupted:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2), self.db.unit_of_work(job.org_id) as conn:
                    await store.mark_failed(conn, job.org_id, job.doc_id, job.gen,
                                            "processing was interrupted by a shutdown")
        for provider in (self.embedder, self.reranker):
            closer = getattr(provider, "close", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()

    def _spawn(self, coro: Coroutine[Any, Any, None], job: _Job | None) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._jobs[task] = job
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._jobs.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("knowledge-base job failed", exc_info=task.exception())

    async def wait_idle(self) -> None:
        """Until every background job has finished (tests, the evaluation)."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs), return_exceptions=True)

    # -- search ----------------------------------------------------------------
    async def search(self, org_id: UUID, query: str, k: int = 5) -> list[Passage]:
        return await self.retriever.search(org_id, query, k)

    async def retrieve(self, org_id: UUID, query: str, k: int = 5) -> Retrieval:
        return await self.retriever.retrieve(org_id, query, k)

    async def threshold(self, org_id: UUID) -> float:
        async with self.db.unit_of_work(org_id) as conn:
            value = await store.org_threshold(conn, org_id)
        return self.settings.kb_answer_threshold if value is None else value

    async def record_unanswered(
        self, org_id: UUID, conversation_id: UUID | None, question: str,
        best_score: float | None,
    ) -> None:
        async with self.db.unit_of_work(org_id) as conn:
            await store.record_unanswered(conn, self.db.keys, org_id,
                                          conversation_id=conversation_id,
                                          question=question, best_score=best_score)

    async def unanswered(self, org_id: UUID, limit: int = 50) -> list[UnansweredQuestion]:
        async with self.db.unit_of_work(org_id) as conn:
            return await review.list_unanswered(conn, self.db.keys, org_id,
                                                limit=max(1, min(limit, 500)))

    async def answer_unanswered(self, org_id: UUID, question_id: UUID, answer: str,
                                question: str | None = None) -> Ingested:
        """A person's answer becomes a question-and-answer document (`question` rewords
        the visitor's); the question is then marked answered, once."""
        async with self.db.unit_of_work(org_id) as conn:
            asked = await review.get_unanswered(conn, self.db.keys, org_id, question_id)
        if asked is None:
            raise QuestionNotFound("no such open question")
        out = await self.add(org_id, Upload.qa(question or asked.question, answer))
        async with self.db.unit_of_work(org_id) as conn:
            if not await review.mark_answered(conn, org_id, question_id, out.document_id):
                await store.delete_document(conn, org_id, out.document_id)
                raise QuestionNotFound("this question was answered meanwhile")
        return out

    # -- documents -------------------------------------------------------------
    async def add(self, org_id: UUID, upload: Upload) -> Ingested:
        return await self._ingest(org_id, upload, None)

    async def add_page(self, org_id: UUID, url: str, title: str | None = None) -> Ingested:
        """One web page, fetched by server/kb/fetch.py's rules, kept with its final URL."""
        await self._room(org_id)  # a full plan fetches nothing
        page = await fetch_page(url, self.fetch_policy)
        return await self.add(org_id, Upload(page.data, content_type=page.content_type,
                                             title=title, url=page.url))

    async def chunks(self, org_id: UUID, doc_id: UUID, limit: int, offset: int) -> list[ChunkInfo]:
        async with self.db.unit_of_work(org_id) as conn:
            return await review.list_chunks(conn, org_id, doc_id, limit=max(1, min(limit, 500)),
                                            offset=max(0, offset))

    async def replace(self, org_id: UUID, doc_id: UUID, upload: Upload) -> Ingested:
        if await self.get_document(org_id, doc_id) is None:
            raise DocumentNotFound("no such document")
        return await self._ingest(org_id, upload, doc_id)

    async def get_document(self, org_id: UUID, doc_id: UUID) -> DocumentInfo | None:
        async with self.db.unit_of_work(org_id) as conn:
            return await store.get_document(conn, org_id, doc_id)

    async def list_documents(
        self, org_id: UUID, *, limit: int = 100, offset: int = 0
    ) -> list[DocumentInfo]:
        async with self.db.unit_of_work(org_id) as conn:
            return await store.list_documents(conn, org_id, limit=max(1, min(limit, 500)),
                                              offset=max(0, offset))

    async def delete_document(self, org_id: UUID, doc_id: UUID) -> bool:
        async with self.db.unit_of_work(org_id) as conn:
            return await store.delete_document(conn, org_id, doc_id)

    def _kind(self, upload: Upload) -> DocKind:
        size = len(upload.data)
        if size > self.settings.kb_max_upload_bytes:
            raise TooLarge(
                f"the document is {size} bytes; the limit is {self.settings.kb_max_upload_bytes}"
            )
        if upload.text is not None:
            return DocKind.TEXT
        return detect_kind(upload.filename, upload.content_type, upload.data)

    @staticmethod
    def _parse(upload: Upload, kind: DocKind) -> ParsedDocument:
        if upload.text is not None:
            return parse_text(upload.title or "", upload.text)
        return parse_document(upload.data, kind, filename=upload.filename, title=upload.title)

    async def _ingest(self, org_id: UUID, upload: Upload, doc_id: UUID | None) -> Ingested:
        kind = self._kind(upload)  # size and type errors answer at once, before any row
        title = (upload.title or upload.filename or "Untitled")[:300]
        if doc_id is None:
            await self._room(org_id)  # before parsing and embedding what cannot be kept
        if len(upload.data) > self.settings.kb_background_bytes:
            return await self._ingest_later(org_id, upload, doc_id, kind, title)
        parsed = await asyncio.to_thread(self._parse, upload, kind)
        prepared = await ingest.prepare(parsed, self.embedder, self.settings.kb_chunk_chars)
        async with self.db.unit_of_work(org_id) as conn:
            doc_id, gen = await self._begin(conn, org_id, doc_id, upload, kind, prepared.title)
            await store.store_chunks(
                conn, org_id, doc_id, gen, title=prepared.title, chunks=prepared.rows,
                model=prepared.model, dim=prepared.dim, chars=prepared.chars,
            )
        return Ingested(doc_id, DocStatus.READY, len(prepared.rows))

    async def _ingest_later(
        self, org_id: UUID, upload: Upload, doc_id: UUID | None, kind: DocKind, title: str
    ) -> Ingested:
        if self._closing:
            raise Busy("the server is shutting down; retry shortly")
        if sum(1 for j in self._jobs.values() if j is not None) >= self._max_jobs:
            raise Busy("too many documents are being processed; retry shortly")
        async with self.db.unit_of_work(org_id) as conn:
            doc_id, gen = await self._begin(conn, org_id, doc_id, upload, kind, title)
        job = _Job(org_id, doc_id, gen)
        self._spawn(self._process(job, upload, kind), job)
        return Ingested(doc_id, DocStatus.PROCESSING, 0)

    async def _room(self, org_id: UUID) -> None:
        if self.documents is not None:
            async with self.db.unit_of_work(org_id) as conn:
                if reason := await self.documents(conn, org_id):
                    raise PlanLimit(reason)

    async def _begin(self, conn: asyncpg.Connection, org_id: UUID, doc_id: UUID | None,
                     upload: Upload, kind: DocKind, title: str) -> tuple[UUID, int]:
        """The document's row, processing: a new one (if the plan holds it: checked again
        under its lock, in this transaction), or the next generation of `doc_id`."""
        fields: dict[str, Any] = {"title": title, "url": upload.url, "kind": kind, "filename":
                                  upload.filename, "status": DocStatus.PROCESSING,
                                  "byte_count": len(upload.data)}
        if doc_id is None:
            if self.documents is not None and (reason := await self.documents(conn, org_id)):
                raise PlanLimit(reason)
            return await store.insert_document(conn, org_id, **fields), 1
        gen = await store.begin_replace(conn, org_id, doc_id, **fields)
        if gen is None:  # deleted meanwhile
            raise DocumentNotFound("no such document")
        return doc_id, gen

    async def _process(self, job: _Job, upload: Upload, kind: DocKind) -> None:
        assert self._slots is not None, "KnowledgeBase.start() was not awaited"
        async with self._slots:
            try:
                parsed = await asyncio.to_thread(self._parse, upload, kind)
                prepared = await ingest.prepare(parsed, self.embedder,
                                                self.settings.kb_chunk_chars)
                await ingest.store_prepared(self.db, job.org_id, job.doc_id, job.gen, prepared)
            except KbError as exc:
                await self._fail(job, exc.message)
            except Exception:
                log.exception("processing document %s failed", job.doc_id)
                await self._fail(job, "the document could not be processed")
        task = asyncio.current_task()
        if task in self._jobs:
            self._jobs[task] = None  # done: nothing for close() to mark as interrupted

    async def _fail(self, job: _Job, message: str) -> None:
        async with self.db.unit_of_work(job.org_id) as conn:
            await store.mark_failed(conn, job.org_id, job.doc_id, job.gen, message)

    # -- re-indexing -----------------------------------------------------------
    async def reindex(self, org_id: UUID, *, force: bool = False) -> int:
        """Re-embed this organisation's chunks of another model (all of them with force)."""
        return await ingest.reembed_org(self.db, org_id, self.embedder, force=force)

    async def reindex_in_background(self, org_id: UUID, *, force: bool = False) -> None:
        """Start re-indexing this organisation, unless it is being re-indexed already on
        any process (ReindexRunning): a session lock per organisation, held by the job
        until it ends. A forced one re-embeds every chunk, paid per token."""
        if self._closing:
            raise Busy("the server is shutting down; retry shortly")
        if self._reindexing >= self.settings.kb_max_reindexes:
            raise Busy("too many re-indexes are running; retry shortly")
        self._reindexing += 1  # before the awaits: concurrent calls see it
        try:
            # the lock lives as long as this connection's open transaction
            lock_conn = await self.db.pool.acquire()
            lock_tx = lock_conn.transaction()
            try:
                await lock_tx.start()
                # the pool's proxy is a Connection to asyncpg (isinstance), not to its stubs
                locked = await store.try_org_reindex_lock(
                    cast(asyncpg.Connection, lock_conn), org_id)
            except BaseException:
                await self.db.pool.release(lock_conn)  # its reset rolls the transaction back
                raise
            if not locked:
                await self.db.pool.release(lock_conn)
                raise ReindexRunning("this knowledge base is being re-indexed already; "
                                     "try again when that is done")
        except BaseException:
            self._reindexing -= 1
            raise
        self._spawn(self._reindex_locked(lock_conn, lock_tx, org_id, force), None)

    async def _reindex_locked(self, lock_conn: Any, lock_tx: Any, org_id: UUID,
                              force: bool) -> None:
        try:
            count = await self.reindex(org_id, force=force)
            log.info("re-embedded %d chunks of org %s", count, org_id)
        except Exception as exc:  # the embedding service failing: staff may ask again
            log.warning("re-indexing org %s failed: %s", org_id, type(exc).__name__)
        finally:
            try:
                await lock_tx.rollback()  # ends the transaction, and the lock with it
            except BaseException:
                lock_conn.terminate()  # a closed session holds no lock
                raise
            finally:
                await self.db.pool.release(lock_conn)
                self._reindexing -= 1

    async def _reindex_all(self) -> None:
        # one worker of several does it: the others skip while the lock is held (locks
        # are transaction-level, held by open transactions, so a pooler keeps them)
        async with self.db.pool.acquire() as lock_conn, lock_conn.transaction():
            # the pool's proxy is a Connection to asyncpg (isinstance), not to its stubs
            if not await store.try_reindex_lock(cast(asyncpg.Connection, lock_conn)):
                return
            async with self.db.system(SystemJob.KB_RECOVERY) as conn:
                orgs = await store.orgs_with_stale_chunks_all_orgs(conn, self.embedder.name)
            for org_id in orgs:
                async with self.db.pool.acquire() as org_conn, org_conn.transaction():
                    if not await store.try_org_reindex_lock(cast(asyncpg.Connection, org_conn),
                                                            org_id):
                        continue  # staff asked for one: it is running already
                    count = await self.reindex(org_id)
                log.info("re-embedded %d chunks of org %s with %s", count, org_id,
                         self.embedder.name)


def build_knowledge_base(
    settings: Settings, db: Database, *, retrieval: RetrievalConfig | None = None,
    documents: DocumentCheck | None = None,
) -> KnowledgeBase:
    """The one place providers are chosen: OpenAI embeddings and Cohere rerank when their
    keys are set (CLIENTA_EMBED_MODEL=offline keeps the offline embedder), else offline."""
    embedder: Embedder
    if settings.openai_api_key and settings.embed_model not in OFFLINE_EMBED_MODELS:
        embedder = OpenAIEmbedder(
            settings.openai_api_key, model=settings.embed_model,
            base_url=settings.openai_base_url, timeout_s=settings.llm_timeout_s,
        )
    else:
        embedder = HashingEmbedder()
    reranker: Reranker
    if settings.cohere_api_key:
        reranker = CohereReranker(
            settings.cohere_api_key, model=settings.rerank_model,
            base_url=settings.cohere_base_url, timeout_s=settings.llm_timeout_s,
        )
    else:
        reranker = OfflineReranker()
    # on by default through settings.kb_reindex_on_start (CLIENTA_KB_REINDEX_ON_START);
    # several configurations sharing one database (tests) must not re-embed each other's
    # chunks back and forth, so they turn it off and use the admin call
    return KnowledgeBase(db, settings, embedder, reranker, retrieval=retrieval,
                         reindex_on_start=settings.kb_reindex_on_start, documents=documents)
