"""The knowledge base's records as the store keeps them: document kinds and states, chunk
kinds, a document's summary, a chunk and an unanswered question. Shared by kb and storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID


class DocKind(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    PDF = "pdf"
    CSV = "csv"


class DocStatus(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class ChunkKind(StrEnum):
    TEXT = "text"
    QA = "qa"  # a question,answer row of a CSV: heading is the question, text the answer


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    id: UUID
    title: str
    url: str | None
    kind: DocKind
    filename: str | None
    status: DocStatus
    error: str | None
    chunks: int
    chars: int
    bytes: int
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, object]:
        return {
            "document_id": str(self.id),
            "title": self.title,
            "url": self.url,
            "kind": self.kind.value,
            "filename": self.filename,
            "status": self.status.value,
            "error": self.error,
            "chunks": self.chunks,
            "chars": self.chars,
            "bytes": self.bytes,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ChunkInfo:
    """One stored chunk as the console shows it."""

    id: UUID
    ord: int
    kind: ChunkKind
    heading: str
    text: str
    embed_model: str

    def as_json(self) -> dict[str, object]:
        return {"chunk_id": str(self.id), "ord": self.ord, "kind": self.kind.value,
                "heading": self.heading, "text": self.text, "chars": len(self.text),
                "embed_model": self.embed_model}


@dataclass(frozen=True, slots=True)
class UnansweredQuestion:
    id: UUID
    conversation_id: UUID | None
    question: str
    best_score: float | None
    created_at: datetime

    def as_json(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "conversation_id": str(self.conversation_id) if self.conversation_id else None,
            "question": self.question,
            "best_score": self.best_score,
            "created_at": self.created_at.isoformat(),
        }
