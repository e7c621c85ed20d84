"""From a parsed document to stored chunks: chunk, compute terms, embed, swap in atomically."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from server.domain.text import terms
from server.kb.chunking import chunk_sections
from server.kb.model import EmptyDocument
from server.kb.parse import ParsedDocument
from server.llm.embeddings import Embedder
from server.storage import kb as store
from server.storage.db import Database


@dataclass(frozen=True, slots=True)
class Prepared:
    title: str
    rows: list[store.ChunkRow]
    chars: int
    model: str
    dim: int


async def prepare(parsed: ParsedDocument, embedder: Embedder, max_chars: int) -> Prepared:
    """Chunks with their terms and embeddings; no database connection is held meanwhile."""
    chunks = chunk_sections(parsed.sections, max_chars)
    if not chunks:
        raise EmptyDocument("the document has no text to learn from")
    vectors = await embedder.embed([c.indexed for c in chunks])
    rows = [
        store.ChunkRow(c.ord, c.kind, c.heading, c.text, terms(c.indexed), v)
        for c, v in zip(chunks, vectors, strict=True)
    ]
    # the dimension is read after embedding: a probed model learns it on its first call
    return Prepared(parsed.title, rows, parsed.chars, embedder.name, embedder.dim or
                    len(vectors[0]))


async def store_prepared(
    db: Database, org_id: UUID, doc_id: UUID, gen: int, prepared: Prepared
) -> bool:
    async with db.unit_of_work(org_id) as conn:
        return await store.store_chunks(
            conn, org_id, doc_id, gen, title=prepared.title, chunks=prepared.rows,
            model=prepared.model, dim=prepared.dim, chars=prepared.chars,
        )


async def reembed_org(
    db: Database, org_id: UUID, embedder: Embedder, *, force: bool = False, page: int = 128
) -> int:
    """Re-embed an organisation's chunks whose model differs (every chunk with force)."""
    done = 0
    after: UUID | None = None
    while True:
        async with db.unit_of_work(org_id) as conn:
            rows = await store.stale_chunks(conn, org_id, embedder.name, limit=page,
                                            after=after, force=force)
        if not rows:
            return done
        vectors = await embedder.embed([t for _, t in rows])
        async with db.unit_of_work(org_id) as conn:
            await store.set_embeddings(
                conn, org_id, [(cid, v) for (cid, _), v in zip(rows, vectors, strict=True)],
                model=embedder.name, dim=embedder.dim or len(vectors[0]),
            )
        done += len(rows)
        after = rows[-1][0]
