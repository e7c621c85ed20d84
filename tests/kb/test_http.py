"""The /v1/kb endpoints on a real server process: uploads of each kind, the contract's
answers and errors, roles, background processing and the unanswered list."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from server.kb.service import KnowledgeBase
from server.llm.embeddings import HashingEmbedder
from server.llm.rerank import OfflineReranker
from server.settings import Settings
from server.storage.db import Database
from tests.kb.conftest import make_pdf
from tests.support.api import OrgHandle


def client(org: OrgHandle, token: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=org.base_url, headers=org.headers(token), timeout=60)


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def test_json_document_lifecycle(org: OrgHandle) -> None:
    async with client(org) as c:
        r = await c.post("/v1/kb/documents", json={
            "title": "Opening hours", "text": "# Hours\nWe open at 7:00 every day.",
            "url": "https://lumen.example/hours"})
        assert r.status_code == 201, r.text
        created = r.json()
        assert set(created) == {"document_id", "chunks"} and created["chunks"] == 1
        doc_id = created["document_id"]

        r = await c.get("/v1/kb/documents")
        assert [d["document_id"] for d in r.json()["documents"]] == [doc_id]
        r = await c.get(f"/v1/kb/documents/{doc_id}")
        doc = r.json()
        assert doc["status"] == "ready" and doc["title"] == "Opening hours"
        assert doc["url"] == "https://lumen.example/hours" and doc["chunks"] == 1

        r = await c.get("/v1/kb/search", params={"q": "when do you open"})
        found = r.json()
        assert found["passages"][0]["document_id"] == doc_id
        assert found["sources"][0] == {"title": "Opening hours",
                                       "url": "https://lumen.example/hours",
                                       "chunk_id": found["passages"][0]["chunk_id"]}

        r = await c.put(f"/v1/kb/documents/{doc_id}", json={
            "title": "Opening hours", "text": "We open at 8:30 on weekdays."})
        assert r.status_code == 200 and r.json() == {"document_id": doc_id, "chunks": 1}
        r = await c.get("/v1/kb/search", params={"q": "weekdays"})
        assert "8:30" in r.json()["passages"][0]["text"]

        r = await c.delete(f"/v1/kb/documents/{doc_id}")
        assert r.status_code == 204
        assert_error(await c.get(f"/v1/kb/documents/{doc_id}"), 404, "not_found")
        assert_error(await c.delete(f"/v1/kb/documents/{doc_id}"), 404, "not_found")
        assert_error(await c.get("/v1/kb/documents/not-a-uuid"), 404, "not_found")
        assert (await c.get("/v1/kb/search", params={"q": "weekdays"})).json()["passages"] == []


@pytest.mark.parametrize(("filename", "content", "ctype", "question", "expect"), [
    ("faq.md", b"# FAQ\n## Parking\nTwo cars behind the cafe.", "text/markdown",
     "where can I park", "Two cars"),
    ("hours.html", b"<h1>Hours</h1><nav>menu</nav><p>Open 7:00 daily.</p>", "text/html",
     "opening time", "Open 7:00"),
    ("faq.csv", b"question,answer\nDo you sell capsules?,Yes in boxes of 10.\n", "text/csv",
     "capsules", "boxes of 10"),
    ("w.pdf", make_pdf(["Grinders have a one-year warranty."]), "application/pdf",
     "grinder warranty", "one-year warranty"),
    ("notes.txt", "เปิดทุกวันเจ็ดโมงเช้า".encode(), "text/plain", "เปิดกี่โมง", "เจ็ดโมงเช้า"),
])
async def test_multipart_uploads(org: OrgHandle, filename: str, content: bytes, ctype: str,
                                 question: str, expect: str) -> None:
    async with client(org) as c:
        r = await c.post("/v1/kb/documents", files={"file": (filename, content, ctype)},
                         data={"url": "https://lumen.example/doc"})
        assert r.status_code == 201, r.text
        doc_id = r.json()["document_id"]
        r = await c.get("/v1/kb/search", params={"q": question})
        top = r.json()["passages"][0]
        assert top["document_id"] == doc_id and expect in top["text"]
        assert top["url"] == "https://lumen.example/doc"


async def test_bad_uploads_get_clear_errors(org: OrgHandle) -> None:
    async with client(org) as c:
        post = c.post
        assert_error(await post("/v1/kb/documents",
                                files={"file": ("x.png", b"\x89PNG\r\n", "image/png")}),
                     415, "unsupported_type")
        assert_error(await post("/v1/kb/documents",
                                files={"file": ("x.docx", b"PK\x03\x04", "application/zip")}),
                     415, "unsupported_type")
        assert_error(await post("/v1/kb/documents", content=b"raw",
                                headers={"content-type": "application/octet-stream"}),
                     415, "unsupported_type")
        assert_error(await post("/v1/kb/documents", json={"title": "Empty", "text": "  "}),
                     422, "empty_document")
        assert_error(await post("/v1/kb/documents",
                                files={"file": ("e.txt", b"\n\n", "text/plain")}),
                     422, "empty_document")
        bad_pdf = {"file": ("bad.pdf", b"%PDF-1.4 garbage", "application/pdf")}
        assert_error(await post("/v1/kb/documents", files=bad_pdf), 422, "unreadable_document")
        assert_error(await post("/v1/kb/documents", json={"text": "no title"}), 422, "bad_request")
        assert_error(await post("/v1/kb/documents",
                                json={"title": "t", "text": "x", "url": "javascript:alert(1)"}),
                     422, "bad_request")
        assert_error(await post("/v1/kb/documents", content=b"{not json",
                                headers={"content-type": "application/json"}),
                     400, "bad_request")
        r = await post("/v1/kb/documents", files={"other": ("a.txt", b"x", "text/plain")})
        assert_error(r, 422, "bad_request")
        too_big = b"a" * (Settings().kb_max_upload_bytes + 1)
        assert_error(await post("/v1/kb/documents",
                                files={"file": ("big.txt", too_big, "text/plain")}),
                     413, "too_large")
        assert (await c.get("/v1/kb/documents")).json()["documents"] == []


async def test_roles(org: OrgHandle) -> None:
    agent = await org.add_user("agent")
    async with client(org, agent["token"]) as c:
        assert_error(await c.post("/v1/kb/documents", json={"title": "t", "text": "x"}),
                     403, "forbidden")
        assert_error(await c.get("/v1/kb/unanswered"), 403, "forbidden")
        assert (await c.get("/v1/kb/search", params={"q": "x"})).status_code == 200
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as anon:
        assert_error(await anon.get("/v1/kb/documents"), 401, "unauthorized")


async def test_large_upload_is_processed_in_the_background(org: OrgHandle) -> None:
    # over the background threshold, in few chunks (HNSW inserts are the slow part)
    text = "\n".join(f"## Blend {i}\n" + f"Blend {i} is roasted on day {i % 7} of the week. " * 14
                     for i in range(480))
    assert len(text.encode()) > Settings().kb_background_bytes
    async with client(org) as c:
        r = await c.post("/v1/kb/documents",
                         files={"file": ("blends.md", text.encode(), "text/markdown")})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["status"] == "processing" and set(body) == {"document_id", "status"}
        for _ in range(600):
            doc = (await c.get(f"/v1/kb/documents/{body['document_id']}")).json()
            if doc["status"] != "processing":
                break
            await asyncio.sleep(0.2)
        assert doc["status"] == "ready" and doc["chunks"] >= 480


async def test_unanswered_list(org: OrgHandle, db: Database) -> None:
    kb = KnowledgeBase(db, Settings(), HashingEmbedder(), OfflineReranker(),
                       reindex_on_start=False)
    org_id = uuid.UUID(org.org_id)
    for q in ("first?", "second?", "third?"):
        await kb.record_unanswered(org_id, None, q, 0.05)
    async with client(org) as c:
        r = await c.get("/v1/kb/unanswered", params={"limit": 2})
        assert r.status_code == 200
        rows = r.json()["questions"]
        assert [q["question"] for q in rows] == ["third?", "second?"]
        assert rows[0]["best_score"] == pytest.approx(0.05) and rows[0]["created_at"]
        assert_error(await c.get("/v1/kb/unanswered", params={"limit": "x"}), 422, "bad_request")
