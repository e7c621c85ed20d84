"""The knowledge base's values: passages, documents, their states, and its client errors."""

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
class Passage:
    """One retrieved chunk. `score` is in [0, 1], higher is better, comparable to the
    answer threshold; `heading` is the section path the text sits under."""

    chunk_id: UUID
    document_id: UUID
    title: str
    url: str | None
    text: str
    score: float
    heading: str = ""
    kind: ChunkKind = ChunkKind.TEXT


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


@dataclass(frozen=True, slots=True)
class Ingested:
    """What an upload produced: ready now with its chunk count, or still processing."""

    document_id: UUID
    status: DocStatus
    chunks: int


class KbError(Exception):
    """A client's mistake, rendered by the HTTP layer as {"error": {code, message}}."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedType(KbError):
    status = 415
    code = "unsupported_type"


class EmptyDocument(KbError):
    status = 422
    code = "empty_document"


class UnreadableDocument(KbError):
    status = 422
    code = "unreadable_document"


class TooLarge(KbError):
    status = 413
    code = "too_large"


class DocumentNotFound(KbError):
    status = 404
    code = "not_found"


class Busy(KbError):
    status = 503
    code = "busy"
