"""Knowledge-base endpoints: documents (upload, fetch a page by URL, list, read, replace,
delete, their chunks), a search probe, "try the bot", re-indexing, and the questions the
bot could not answer, with "answer this"."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.domain.audit import AuditAction, Target, TargetKind
from server.domain.knowledge import DocStatus
from server.domain.roles import MANAGERS, STAFF
from server.http.audit import audited
from server.http.auth import authenticate
from server.http.body_limits import RouteLimit
from server.http.errors import ApiError
from server.http.params import clean_text, json_body, query_int, query_text, require_str
from server.kb.model import Ingested, KbError
from server.kb.prompt import sources_of
from server.kb.service import KnowledgeBase, Upload
from server.settings import Settings

EDITORS = MANAGERS
READERS = STAFF
_ENVELOPE = 64 * 1024  # multipart boundaries and form fields around the file


def _kb(request: Request) -> KnowledgeBase:
    kb = getattr(request.app.state.services, "kb", None)
    if kb is None:
        raise ApiError(503, "unavailable", "the knowledge base is not configured")
    return kb


def _doc_id(request: Request) -> UUID:
    try:
        return UUID(request.path_params["id"])
    except ValueError as exc:
        raise ApiError(404, "not_found", "no such document") from exc


def _upload_cap(limit: int, json: bool) -> int:
    # JSON escapes can take six bytes for a Thai character of three
    return (2 * limit if json else limit) + _ENVELOPE


def body_limits(settings: Settings) -> tuple[RouteLimit, ...]:
    """Uploads may be larger than the JSON default; the exact cap is checked in `_upload`."""
    cap = _upload_cap(settings.kb_max_upload_bytes, json=True)
    return (RouteLimit(frozenset({"POST", "PUT"}), "/v1/kb/documents", cap),)


def _url(value: Any) -> str | None:
    """Only http(s) links: they are shown to visitors as sources."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 2000:
        raise ApiError(422, "bad_request", "url must be an http(s) URL of at most 2000 chars")
    clean_text(value, "url")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(422, "bad_request", "url must be an http(s) URL")
    return value.strip()


def _title(value: Any, *, required: bool) -> str | None:
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 300:
        raise ApiError(422, "bad_request", "title must be a string of 1-300 characters")
    return clean_text(value.strip(), "title")


async def _read_capped(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise ApiError(413, "too_large", f"the upload is larger than the limit of {cap} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise ApiError(413, "too_large", f"the upload is larger than the limit of {cap} bytes")
        parts.append(chunk)
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class _PageAsked:
    """JSON {fetch_url, title?}: a page for the server to fetch (server/kb/fetch.py)."""

    url: str
    title: str | None


async def _upload(request: Request, kb: KnowledgeBase) -> Upload | _PageAsked:
    limit = kb.settings.kb_max_upload_bytes
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        raw = await _read_capped(request, _upload_cap(limit, json=True))
        try:
            body = json.loads(raw or b"null")
        except RecursionError as exc:
            raise ApiError(400, "bad_request", "the JSON body is nested too deeply") from exc
        except ValueError as exc:
            raise ApiError(400, "bad_request", "the body must be JSON") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "the body must be a JSON object")
        if body.get("fetch_url") not in (None, ""):
            url = _url(body.get("fetch_url"))
            assert url is not None
            return _PageAsked(url, _title(body.get("title"), required=False))
        text = body.get("text")
        if not isinstance(text, str):
            raise ApiError(422, "bad_request", "text must be a string")
        clean_text(text, "text")
        title = _title(body.get("title"), required=True)
        assert title is not None
        return Upload.from_text(title, text, _url(body.get("url")))
    if ctype != "multipart/form-data":
        raise ApiError(415, "unsupported_type", "send multipart/form-data with a `file` field, "
                       "or JSON {title, text, url?} or {fetch_url, title?}")
    raw = await _read_capped(request, _upload_cap(limit, json=False))
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=8)
    except Exception as exc:
        raise ApiError(400, "bad_request", "the multipart body could not be read") from exc
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise ApiError(422, "bad_request", "the multipart body needs a `file` field")
        if file.filename is not None:
            clean_text(file.filename, "filename")
        data = await file.read(limit + 1)
        return Upload(
            data, filename=file.filename, content_type=file.content_type,
            title=_title(form.get("title"), required=False), url=_url(form.get("url")),
        )
    finally:
        await form.close()


def _ingested(out: Ingested, created: bool) -> JSONResponse:
    if out.status is DocStatus.PROCESSING:
        return JSONResponse({"document_id": str(out.document_id), "status": out.status.value},
                            status_code=202)
    return JSONResponse({"document_id": str(out.document_id), "chunks": out.chunks},
                        status_code=201 if created else 200)


async def create_document(request: Request) -> Response:
    principal = await authenticate(request, EDITORS)
    kb = _kb(request)
    upload = await _upload(request, kb)
    try:
        if isinstance(upload, _PageAsked):
            out = await kb.add_page(principal.org_id, upload.url, upload.title)
        else:
            out = await kb.add(principal.org_id, upload)
    except KbError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    await audited(request, principal, AuditAction.KB_DOCUMENT_ADDED,
                  Target(TargetKind.DOCUMENT, out.document_id))
    return _ingested(out, created=True)


async def replace_document(request: Request) -> Response:
    principal = await authenticate(request, EDITORS)
    kb = _kb(request)
    doc_id = _doc_id(request)
    upload = await _upload(request, kb)
    if isinstance(upload, _PageAsked):
        raise ApiError(422, "bad_request", "fetch_url adds a new document; send its text here")
    try:
        out = await kb.replace(principal.org_id, doc_id, upload)
    except KbError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    await audited(request, principal, AuditAction.KB_DOCUMENT_REPLACED,
                  Target(TargetKind.DOCUMENT, doc_id))
    return _ingested(out, created=False)


async def list_documents(request: Request) -> Response:
    principal = await authenticate(request, EDITORS)
    docs = await _kb(request).list_documents(
        principal.org_id, limit=query_int(request, "limit", 100, 1, 500),
        offset=query_int(request, "offset", 0, 0, 1_000_000),
    )
    return JSONResponse({"documents": [d.as_json() for d in docs]})


async def get_document(request: Request) -> Response:
    principal = await authenticate(request, EDITORS)
    doc = await _kb(request).get_document(principal.org_id, _doc_id(request))
    if doc is None:
        raise ApiError(404, "not_found", "no such document")
    return JSONResponse(doc.as_json())


async def delete_document(request: Request) -> Response:
    principal = await authenticate(request, EDITORS)
    doc_id = _doc_id(request)
    if not await _kb(request).delete_document(principal.org_id, doc_id):
        raise ApiError(404, "not_found", "no such document")
    await audited(request, principal, AuditAction.KB_DOCUMENT_DELETED,
                  Target(TargetKind.DOCUMENT, doc_id))
    return Response(status_code=204)


async def document_chunks(request: Request) -> Response:
    """A document's chunks in order: what the bot searches, quotes and cites."""
    principal = await authenticate(request, EDITORS)
    kb = _kb(request)
    doc_id = _doc_id(request)
    doc = await kb.get_document(principal.org_id, doc_id)
    if doc is None:
        raise ApiError(404, "not_found", "no such document")
    chunks = await kb.chunks(principal.org_id, doc_id,
                             limit=query_int(request, "limit", 100, 1, 500),
                             offset=query_int(request, "offset", 0, 0, 1_000_000))
    return JSONResponse({"document_id": str(doc_id), "total": doc.chunks,
                         "chunks": [c.as_json() for c in chunks]})


async def try_bot(request: Request) -> Response:
    """The answer a visitor would get, its sources and scores, or why the bot would hand
    off; nothing is stored and nothing audited (services/bot_preview.py)."""
    principal = await authenticate(request, READERS)
    body = await json_body(request)
    question = require_str(body, "question", max_len=4000)
    assert question is not None
    locale = require_str(body, "locale", max_len=8, optional=True)
    if locale is not None and locale.split("-")[0].lower() not in ("en", "th"):
        raise ApiError(422, "bad_request", "locale must be en or th")
    services = request.app.state.services
    org = await services.orgs.by_id(principal.org_id)
    if org is None:
        raise ApiError(404, "not_found", "no such organisation")
    preview = await services.preview.ask(org.id, org.name, question.strip(), locale,
                                         org_keywords=org.prefs.asks_for_human)
    return JSONResponse(preview.as_json())


def _question_id(request: Request) -> UUID:
    try:
        return UUID(request.path_params["id"])
    except ValueError as exc:
        raise ApiError(404, "not_found", "no such open question") from exc


async def answer_unanswered(request: Request) -> Response:
    """"Answer this": the answer becomes a question-and-answer document and the question
    leaves the list; `question` may reword the visitor's question first."""
    principal = await authenticate(request, EDITORS)
    kb = _kb(request)
    question_id = _question_id(request)
    body = await json_body(request)
    answer = require_str(body, "answer", max_len=4000)
    question = require_str(body, "question", max_len=1000, optional=True)
    assert answer is not None
    if not answer.strip() or (question is not None and not question.strip()):
        raise ApiError(422, "bad_request", "the answer and the question must not be blank")
    try:
        out = await kb.answer_unanswered(principal.org_id, question_id, answer, question)
    except KbError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    await audited(request, principal, AuditAction.KB_DOCUMENT_ADDED,
                  Target(TargetKind.DOCUMENT, out.document_id))
    return JSONResponse({"document_id": str(out.document_id), "chunks": out.chunks,
                         "question_id": str(question_id)}, status_code=201)


async def unanswered(request: Request) -> Response:
    principal = await authenticate(request, EDITORS)
    rows = await _kb(request).unanswered(principal.org_id,
                                         query_int(request, "limit", 50, 1, 500))
    return JSONResponse({"questions": [r.as_json() for r in rows]})


async def search(request: Request) -> Response:
    """What the bot would find for a question: for staff trying out their sources."""
    principal = await authenticate(request, READERS)
    query = query_text(request, "q", max_len=4000)
    if query is None:
        raise ApiError(422, "bad_request", "q must be a string of 1-4000 characters")
    kb = _kb(request)
    passages = await kb.search(principal.org_id, query, query_int(request, "k", 5, 1, 20))
    return JSONResponse({
        "threshold": await kb.threshold(principal.org_id),
        "passages": [
            {"chunk_id": str(p.chunk_id), "document_id": str(p.document_id), "title": p.title,
             "url": p.url, "heading": p.heading, "text": p.text, "score": p.score}
            for p in passages
        ],
        "sources": sources_of(passages),
    })


async def reindex(request: Request) -> Response:
    principal = await authenticate(request, EDITORS)
    force = request.query_params.get("force", "") in ("1", "true", "yes")
    try:
        await _kb(request).reindex_in_background(principal.org_id, force=force)
    except KbError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    await audited(request, principal, AuditAction.KB_REINDEXED,
                  Target(TargetKind.KNOWLEDGE_BASE, principal.org_id),
                  {"force": "true" if force else "false"})
    return JSONResponse({"status": "processing"}, status_code=202)


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/kb/documents", create_document, methods=["POST"]),
        Route("/v1/kb/documents", list_documents, methods=["GET"]),
        Route("/v1/kb/documents/{id}", get_document, methods=["GET"]),
        Route("/v1/kb/documents/{id}", replace_document, methods=["PUT"]),
        Route("/v1/kb/documents/{id}", delete_document, methods=["DELETE"]),
        Route("/v1/kb/documents/{id}/chunks", document_chunks, methods=["GET"]),
        Route("/v1/kb/unanswered", unanswered, methods=["GET"]),
        Route("/v1/kb/unanswered/{id}/answer", answer_unanswered, methods=["POST"]),
        Route("/v1/kb/try", try_bot, methods=["POST"]),
        Route("/v1/kb/search", search, methods=["GET"]),
        Route("/v1/kb/reindex", reindex, methods=["POST"]),
    ]
