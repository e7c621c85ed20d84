"""What a person reviews in the knowledge base beyond its documents: a document's chunks,
and the unanswered questions still open, opened when sealed, and their answering. Every
function takes a connection from `Database.unit_of_work(org_id)` and filters by org_id."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from server.domain.knowledge import ChunkInfo, ChunkKind, UnansweredQuestion
from server.storage.envelope import Field, Undecryptable, associated, is_sealed
from server.storage.keys import Keyring


async def _opened(conn: asyncpg.Connection, keys: Keyring, org_id: UUID,
                  rows: Sequence[asyncpg.Record]) -> list[UnansweredQuestion]:
    """The rows' questions in clear: sealed ones under the asker's key when the conversation
    is known, else the org's (storage/backfill.py); those whose key is erased are left out."""
    sealed = [r for r in rows if is_sealed(r["question"])]
    subjects = await keys.for_conversations(
        conn, {(org_id, r["conversation_id"]) for r in sealed if r["conversation_id"]})
    org_key = await keys.org_key(conn, org_id) if any(
        r["conversation_id"] is None or r["conversation_id"] not in subjects
        for r in sealed) else None
    out: list[UnansweredQuestion] = []
    for r in rows:
        text = r["question"]
        if is_sealed(text):
            subject = subjects.get(r["conversation_id"]) if r["conversation_id"] else None
            key = subject.key if subject is not None else org_key
            if key is None:
                continue
            try:
                text = key.open_text(text, associated(Field.UNANSWERED, org_id, r["id"]))
            except Undecryptable:
                continue
        out.append(UnansweredQuestion(
            r["id"], r["conversation_id"], text,
            None if r["best_score"] is None else float(r["best_score"]), r["created_at"]))
    return out


async def list_unanswered(
    conn: asyncpg.Connection, keys: Keyring, org_id: UUID, *, limit: int
) -> list[UnansweredQuestion]:
    """The questions nobody has answered yet, newest first."""
    rows = await conn.fetch(
        """SELECT id, conversation_id, question, best_score, created_at FROM kb_unanswered
           WHERE org_id = $1 AND answered_at IS NULL
           ORDER BY created_at DESC, id DESC LIMIT $2""",
        org_id, limit,
    )
    return await _opened(conn, keys, org_id, rows)


async def get_unanswered(conn: asyncpg.Connection, keys: Keyring, org_id: UUID,
                         question_id: UUID) -> UnansweredQuestion | None:
    """An open question (not answered yet), opened."""
    rows = await conn.fetch(
        """SELECT id, conversation_id, question, best_score, created_at FROM kb_unanswered
           WHERE org_id = $1 AND id = $2 AND answered_at IS NULL""",
        org_id, question_id,
    )
    found = await _opened(conn, keys, org_id, rows)
    return found[0] if found else None


async def mark_answered(conn: asyncpg.Connection, org_id: UUID, question_id: UUID,
                        document_id: UUID) -> bool:
    result = await conn.execute(
        """UPDATE kb_unanswered SET answered_at = now(), answer_document_id = $3
           WHERE org_id = $1 AND id = $2 AND answered_at IS NULL""",
        org_id, question_id, document_id,
    )
    return result.endswith(" 1")


async def list_chunks(conn: asyncpg.Connection, org_id: UUID, doc_id: UUID, *, limit: int,
                      offset: int) -> list[ChunkInfo]:
    """A document's chunks in order, as stored (the text the bot quotes and cites)."""
    rows = await conn.fetch(
        """SELECT id, ord, kind, heading, body, embed_model FROM kb_chunks
           WHERE org_id = $1 AND document_id = $2 ORDER BY ord LIMIT $3 OFFSET $4""",
        org_id, doc_id, limit, offset,
    )
    return [ChunkInfo(r["id"], r["ord"], ChunkKind(r["kind"]), r["heading"], r["body"],
                      r["embed_model"]) for r in rows]
