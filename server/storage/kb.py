"""Knowledge-base SQL: documents, chunks (lexical tsvector + pgvector embedding), unanswered
questions. Every function takes a connection from `Database.unit_of_work(org_id)` and
filters by org_id itself; the few cross-tenant maintenance queries say so in their names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg

from server.domain.knowledge import ChunkKind, DocKind, DocStatus, DocumentInfo
from server.storage.envelope import Field, associated
from server.storage.keys import Keyring

# tsvector keeps at most 256 positions per lexeme and positions up to 16383
_MAX_POSITIONS = 255
_MAX_POSITION = 16383
# pgvector's HNSW indexes vectors of at most 2000 dimensions
HNSW_MAX_DIM = 2000


@dataclass(frozen=True, slots=True)
class ChunkRow:
    ord: int
    kind: ChunkKind
    heading: str
    body: str
    terms: list[str]
    embedding: list[float]


@dataclass(frozen=True, slots=True)
class ChunkHit:
    chunk_id: UUID
    document_id: UUID
    title: str
    url: str | None
    heading: str
    body: str
    kind: ChunkKind
    cosine: float | None = None


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(terms: Sequence[str]) -> str:
    """tsvector input text with positions, built in Python so Thai bigrams survive intact
    (Postgres' parsers do not segment Thai)."""
    positions: dict[str, list[int]] = {}
    for i, term in enumerate(terms, start=1):
        slots = positions.setdefault(term, [])
        if len(slots) < _MAX_POSITIONS:
            slots.append(min(i, _MAX_POSITION))
    return " ".join(f"{_quote(t)}:{','.join(map(str, p))}" for t, p in positions.items())


def tsquery_terms(terms: Sequence[str]) -> list[str]:
    return [_quote(t) for t in dict.fromkeys(terms)]


def _document(row: asyncpg.Record) -> DocumentInfo:
    return DocumentInfo(
        id=row["id"], title=row["title"], url=row["url"], kind=DocKind(row["kind"]),
        filename=row["filename"], status=DocStatus(row["status"]), error=row["error"],
        chunks=row["chunk_count"], chars=row["char_count"], bytes=row["byte_count"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


_DOC_COLUMNS = """id, title, url, kind, filename, status, error, chunk_count, char_count,
    byte_count, created_at, updated_at"""


async def insert_document(
    conn: asyncpg.Connection, org_id: UUID, *, title: str, url: str | None, kind: DocKind,
    filename: str | None, status: DocStatus, byte_count: int, document_id: UUID | None = None,
) -> UUID:
    doc_id = document_id or uuid4()
    await conn.execute(
        """INSERT INTO kb_documents (id, org_id, title, url, kind, filename, status, byte_count)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        doc_id, org_id, title, url, kind.value, filename, status.value, byte_count,
    )
    return doc_id


async def begin_replace(
    conn: asyncpg.Connection, org_id: UUID, doc_id: UUID, *, title: str, url: str | None,
    kind: DocKind, filename: str | None, status: DocStatus, byte_count: int,
) -> int | None:
    """New metadata and a new generation for a document; None when it does not exist.
    Its old chunks stay searchable until `store_chunks` swaps them."""
    return await conn.fetchval(
        """UPDATE kb_documents SET title = $3, url = $4, kind = $5, filename = $6, status = $7,
                  error = NULL, byte_count = $8, generation = generation + 1, updated_at = now()
           WHERE org_id = $1 AND id = $2 RETURNING generation""",
        org_id, doc_id, title, url, kind.value, filename, status.value, byte_count,
    )


async def generation(conn: asyncpg.Connection, org_id: UUID, doc_id: UUID) -> int | None:
    return await conn.fetchval(
        "SELECT generation FROM kb_documents WHERE org_id = $1 AND id = $2", org_id, doc_id
    )


async def store_chunks(
    conn: asyncpg.Connection, org_id: UUID, doc_id: UUID, gen: int, *, title: str,
    chunks: Sequence[ChunkRow], model: str, dim: int, chars: int,
) -> bool:
    """Swap a document's chunks for these, if it still exists at generation `gen`
    (a newer replace or a delete wins over a slower ingest)."""
    current = await conn.fetchval(
        "SELECT generation FROM kb_documents WHERE org_id = $1 AND id = $2 FOR UPDATE",
        org_id, doc_id,
    )
    if current != gen:
        return False
    await conn.execute("DELETE FROM kb_chunks WHERE org_id = $1 AND document_id = $2",
                       org_id, doc_id)
    await conn.executemany(
        """INSERT INTO kb_chunks (id, org_id, document_id, ord, kind, heading, body, lex,
                                  embed_model, embed_dim, embedding)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::tsvector, $9, $10, $11::vector)""",
        [
            (uuid4(), org_id, doc_id, c.ord, c.kind.value, c.heading, c.body,
             tsvector_literal(c.terms), model, dim, c.embedding)
            for c in chunks
        ],
    )
    await conn.execute(
        """UPDATE kb_documents SET status = 'ready', error = NULL, chunk_count = $3,
                  char_count = $4, title = $5, updated_at = now()
           WHERE org_id = $1 AND id = $2""",
        org_id, doc_id, len(chunks), chars, title,
    )
    return True


async def mark_failed(
    conn: asyncpg.Connection, org_id: UUID, doc_id: UUID, gen: int, error: str
) -> None:
    await conn.execute(
        """UPDATE kb_documents SET status = 'failed', error = $4, updated_at = now()
           WHERE org_id = $1 AND id = $2 AND generation = $3""",
        org_id, doc_id, gen, error[:500],
    )


async def fail_interrupted_all_orgs(conn: asyncpg.Connection, older_than_s: float) -> int:
    """Cross-tenant maintenance: documents left processing by a process that died. Only
    inside Database.system (a job function of migrations/0011)."""
    return await conn.fetchval("SELECT clienta_kb_fail_interrupted($1)", older_than_s)


async def get_document(conn: asyncpg.Connection, org_id: UUID, doc_id: UUID) -> DocumentInfo | None:
    row = await conn.fetchrow(
        f"SELECT {_DOC_COLUMNS} FROM kb_documents WHERE org_id = $1 AND id = $2", org_id, doc_id
    )
    return _document(row) if row else None


async def list_documents(
    conn: asyncpg.Connection, org_id: UUID, *, limit: int, offset: int
) -> list[DocumentInfo]:
    rows = await conn.fetch(
        f"""SELECT {_DOC_COLUMNS} FROM kb_documents WHERE org_id = $1
            ORDER BY created_at DESC, id LIMIT $2 OFFSET $3""",
        org_id, limit, offset,
    )
    return [_document(r) for r in rows]


async def delete_document(conn: asyncpg.Connection, org_id: UUID, doc_id: UUID) -> bool:
    # chunks and their embeddings go with it (ON DELETE CASCADE); said explicitly anyway
    await conn.execute("DELETE FROM kb_chunks WHERE org_id = $1 AND document_id = $2",
                       org_id, doc_id)
    result = await conn.execute("DELETE FROM kb_documents WHERE org_id = $1 AND id = $2",
                                org_id, doc_id)
    return result.endswith(" 1")


async def org_chunk_count(conn: asyncpg.Connection, org_id: UUID, model: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM kb_chunks WHERE org_id = $1 AND embed_model = $2", org_id, model
    )


async def estimated_total_chunks(conn: asyncpg.Connection) -> int:
    """The planner's row estimate for the shared table (no count(*) across tenants)."""
    value = await conn.fetchval(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = 'kb_chunks'::regclass"
    )
    return max(int(value or 0), 0)


async def vector_search(
    conn: asyncpg.Connection, org_id: UUID, *, model: str, dim: int, query: list[float],
    limit: int, exact: bool, ef_search: int = 40,
) -> list[tuple[UUID, float]]:
    """(chunk_id, cosine distance) nearest first.

    The column is an untyped `vector`; each dimension has a partial HNSW index on
    `embedding::vector(dim)`, matched here by writing the same expression and predicate
    (the dimension is an int, formatted in because a typmod cannot be a parameter).
    `exact` reads the tenant's rows through a materialised CTE so the planner cannot
    choose the shared index, whose post-filtering may leave a small tenant empty-handed.
    """
    d = int(dim)
    if exact or d > HNSW_MAX_DIM:
        sql = f"""WITH c AS MATERIALIZED (
                      SELECT id, embedding FROM kb_chunks
                      WHERE org_id = $1 AND embed_model = $3 AND embed_dim = {d})
                  SELECT id, embedding::vector({d}) <=> $2::vector({d}) AS dist
                  FROM c ORDER BY dist, id LIMIT $4"""
    else:
        await conn.execute("SELECT set_config('hnsw.ef_search', $1, true)", str(int(ef_search)))
        sql = f"""SELECT id, embedding::vector({d}) <=> $2::vector({d}) AS dist
                  FROM kb_chunks
                  WHERE embed_dim = {d} AND org_id = $1 AND embed_model = $3
                  ORDER BY embedding::vector({d}) <=> $2::vector({d}) LIMIT $4"""
    rows = await conn.fetch(sql, org_id, query, model, limit)
    return [(r["id"], float(r["dist"])) for r in rows]


async def term_stats(
    conn: asyncpg.Connection, org_id: UUID, terms: Sequence[str]
) -> tuple[int, dict[str, int]]:
    """The organisation's chunk count and, per term, how many of its chunks contain it."""
    total = await conn.fetchval("SELECT count(*) FROM kb_chunks WHERE org_id = $1", org_id)
    unique = list(dict.fromkeys(terms))[:64]
    if not unique:
        return total, {}
    rows = await conn.fetch(
        """SELECT u.i, (SELECT count(*) FROM kb_chunks c
                        WHERE c.org_id = $1 AND c.lex @@ u.t::tsquery) AS df
           FROM unnest($2::text[]) WITH ORDINALITY AS u(t, i)""",
        org_id, tsquery_terms(unique),
    )
    return total, {unique[r["i"] - 1]: r["df"] for r in rows}


async def lexical_search(
    conn: asyncpg.Connection, org_id: UUID, weights: dict[str, float], *, limit: int
) -> list[tuple[UUID, float]]:
    """(chunk_id, score) best first: the summed weights (IDF) of the query terms a chunk
    contains; the GIN index finds the chunks holding any of them."""
    terms = [t for t, w in weights.items() if w > 0]
    if not terms:
        return []
    quoted = tsquery_terms(terms)
    rows = await conn.fetch(
        """WITH q AS (SELECT t::tsquery AS tq, w FROM unnest($2::text[], $3::float8[]) AS u(t, w))
           SELECT c.id, sum(q.w) AS score
           FROM kb_chunks c JOIN q ON c.lex @@ q.tq
           WHERE c.org_id = $1 AND c.lex @@ $4::tsquery
           GROUP BY c.id ORDER BY score DESC, c.id LIMIT $5""",
        org_id, quoted, [weights[t] for t in terms], " | ".join(quoted), limit,
    )
    return [(r["id"], float(r["score"])) for r in rows]


async def fetch_chunks(
    conn: asyncpg.Connection, org_id: UUID, ids: Sequence[UUID], *,
    query: list[float] | None = None, model: str = "",
) -> dict[UUID, ChunkHit]:
    """The chunks with their document, and their cosine similarity to `query` where they
    were embedded by `model` (None otherwise, e.g. while re-indexing)."""
    rows = await conn.fetch(
        """SELECT c.id, c.document_id, d.title, d.url, c.heading, c.body, c.kind,
                  CASE WHEN c.embed_model = $3 THEN 1 - (c.embedding <=> $4::vector) END AS cos
           FROM kb_chunks c JOIN kb_documents d ON d.org_id = c.org_id AND d.id = c.document_id
           WHERE c.org_id = $1 AND c.id = ANY($2::uuid[])""",
        org_id, list(ids), model, query,
    )
    return {
        r["id"]: ChunkHit(r["id"], r["document_id"], r["title"], r["url"], r["heading"],
                          r["body"], ChunkKind(r["kind"]),
                          None if r["cos"] is None else float(r["cos"]))
        for r in rows
    }


async def org_threshold(conn: asyncpg.Connection, org_id: UUID) -> float | None:
    value = await conn.fetchval("SELECT kb_threshold FROM orgs WHERE id = $1", org_id)
    return None if value is None else float(value)


async def seal_question(conn: asyncpg.Connection, keys: Keyring, org_id: UUID,
                        conversation_id: UUID | None, row_id: UUID, text: str) -> str | None:
    """An unanswered question is the visitor's words: sealed under their key when the
    conversation is known, else under the org's. None: the visitor's key is erased."""
    ad = associated(Field.UNANSWERED, org_id, row_id)
    if conversation_id is not None:
        subject = await keys.for_conversation(conn, org_id, conversation_id)
        if subject is not None:
            return None if subject.key is None else subject.key.seal_text(text, ad)
    return (await keys.org_key(conn, org_id)).seal_text(text, ad)


async def record_unanswered(
    conn: asyncpg.Connection, keys: Keyring, org_id: UUID, *, conversation_id: UUID | None,
    question: str, best_score: float | None,
) -> UUID | None:
    """None: not kept (the asker was erased meanwhile)."""
    row_id = uuid4()
    sealed = await seal_question(conn, keys, org_id, conversation_id, row_id, question[:4000])
    if sealed is None:
        return None
    await conn.execute(
        """INSERT INTO kb_unanswered (id, org_id, conversation_id, question, best_score)
           VALUES ($1, $2, $3, $4, $5)""",
        row_id, org_id, conversation_id, sealed, best_score,
    )
    return row_id


async def orgs_with_stale_chunks_all_orgs(conn: asyncpg.Connection, model: str) -> list[UUID]:
    """Cross-tenant maintenance: which organisations have chunks of another model. Only
    inside Database.system."""
    rows = await conn.fetch("SELECT org_id FROM clienta_kb_stale_orgs($1) AS org_id", model)
    return [r["org_id"] for r in rows]


async def stale_chunks(
    conn: asyncpg.Connection, org_id: UUID, model: str, *, limit: int, after: UUID | None,
    force: bool = False,
) -> list[tuple[UUID, str]]:
    """(chunk_id, indexed text) of chunks embedded by another model (any, with force),
    in id order after `after` (keyset pages)."""
    rows = await conn.fetch(
        """SELECT id, CASE WHEN heading = '' THEN body ELSE heading || E'\\n' || body END AS t
           FROM kb_chunks
           WHERE org_id = $1 AND (embed_model <> $2 OR $3) AND ($5::uuid IS NULL OR id > $5)
           ORDER BY id LIMIT $4""",
        org_id, model, force, limit, after,
    )
    return [(r["id"], r["t"]) for r in rows]


async def set_embeddings(
    conn: asyncpg.Connection, org_id: UUID, rows: Sequence[tuple[UUID, list[float]]], *,
    model: str, dim: int,
) -> None:
    await conn.executemany(
        """UPDATE kb_chunks SET embedding = $3::vector, embed_model = $4, embed_dim = $5
           WHERE org_id = $1 AND id = $2""",
        [(org_id, chunk_id, vec, model, dim) for chunk_id, vec in rows],
    )


async def ensure_hnsw_index(conn: asyncpg.Connection, dim: int) -> bool:
    """A partial HNSW index for one dimension (migrations make 512 and 1536); under an
    advisory lock so workers starting together do not race on the catalog. The serving
    role owns no table, so the owner's function makes it, inside Database.system."""
    d = int(dim)
    if d > HNSW_MAX_DIM:
        return False
    await conn.execute("SELECT clienta_kb_ensure_hnsw($1)", d)
    return True


async def chunk_documents(conn: asyncpg.Connection, org_id: UUID) -> dict[UUID, UUID]:
    """chunk_id -> document_id for one organisation (the evaluation maps hits to documents)."""
    rows = await conn.fetch("SELECT id, document_id FROM kb_chunks WHERE org_id = $1", org_id)
    return {r["id"]: r["document_id"] for r in rows}


async def try_reindex_lock(conn: asyncpg.Connection) -> bool:
    """One worker of several runs the start-up re-index. Transaction-level, held until
    the caller's open transaction on conn ends: a session lock would not hold through a
    transaction pooler (its unlock may reach another server connection, or none)."""
    return await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtext('clienta.kb.reindex'))")


async def try_org_reindex_lock(conn: asyncpg.Connection, org_id: UUID) -> bool:
    """One re-index of an organisation's chunks at a time, on any process (the two-key
    form: apart from the start-up lock's key space). Transaction-level, as above."""
    return await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtext('clienta.kb.reindex'), hashtext($1::text))",
        str(org_id))
