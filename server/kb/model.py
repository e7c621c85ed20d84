"""The knowledge base's values: uploads, passages, what an upload produced, and its client
errors."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from uuid import UUID

from server.domain.knowledge import ChunkKind, DocStatus


@dataclass(frozen=True, slots=True)
class Upload:
    """One document as received: a file's bytes, or JSON text."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None
    title: str | None = None
    url: str | None = None
    text: str | None = None  # set for JSON uploads: parsed as Markdown, no type sniffing

    @classmethod
    def from_text(cls, title: str, text: str, url: str | None = None) -> Upload:
        return cls(text.encode(), title=title, url=url, text=text)

    @classmethod
    def qa(cls, question: str, answer: str) -> Upload:
        """One question and its answer as a question,answer CSV: one `qa` chunk whose
        heading is the question, titled with it."""
        question, answer = question.strip(), answer.strip()
        rows = io.StringIO()
        csv.writer(rows).writerows([("question", "answer"), (question, answer)])
        return cls(rows.getvalue().encode(), filename="answer.csv", content_type="text/csv",
                   title=question[:300])


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


class ReindexRunning(KbError):
    status = 409
    code = "conflict"


class QuestionNotFound(KbError):
    status = 404
    code = "not_found"


class PlanLimit(KbError):
    """The org's plan holds no more documents (existing ones stay)."""

    status = 403
    code = "plan_limit"
