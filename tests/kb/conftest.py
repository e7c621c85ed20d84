"""Knowledge-base fixtures on the session's real Postgres (the `db` fixture of tests/conftest.py):
each test gets fresh organisations and its own KnowledgeBase."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from uuid import UUID

import pytest_asyncio

from server.kb.service import KnowledgeBase
from server.llm.embeddings import HashingEmbedder
from server.llm.rerank import OfflineReranker
from server.settings import Settings
from server.storage.db import Database

MakeOrg = Callable[..., Awaitable[UUID]]


def make_pdf(lines: list[str], *, title: str | None = None) -> bytes:
    """A minimal one-page PDF with real text operators (Helvetica, ASCII)."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
    for line in lines:
        ops.append(f"({esc(line)}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    info = f"<< /Title ({esc(title)}) >>".encode("latin-1") if title else b"<< >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        info,
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


@pytest_asyncio.fixture(loop_scope="session")
async def make_org(db: Database) -> MakeOrg:
    async def create(name: str = "KB test org", threshold: float | None = None) -> UUID:
        org_id = uuid.uuid4()
        async with db.unscoped() as conn:
            await conn.execute(
                "INSERT INTO orgs (id, name, site_key, kb_threshold) VALUES ($1, $2, $3, $4)",
                org_id, name, f"kb-{org_id.hex}", threshold,
            )
        return org_id

    return create


@pytest_asyncio.fixture(loop_scope="session")
async def org_id(make_org: MakeOrg) -> UUID:
    return await make_org()


@pytest_asyncio.fixture(loop_scope="session")
async def kb(db: Database) -> AsyncIterator[KnowledgeBase]:
    service = KnowledgeBase(db, Settings(), HashingEmbedder(), OfflineReranker(),
                            reindex_on_start=False)
    await service.start()
    yield service
    await service.close()
