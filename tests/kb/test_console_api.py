"""The knowledge-base calls the console's screen uses, on the real server: a document's
chunks, fetching a URL (refused for loopback on a server that does not allow it), "try the
bot" (answer, sources and scores, or the handoff, storing nothing), and "answer this"."""

from __future__ import annotations

import uuid

from server.kb.service import KnowledgeBase
from server.llm.embeddings import HashingEmbedder
from server.llm.rerank import OfflineReranker
from server.settings import Settings
from server.storage.db import Database
from server.storage.envelope import Field, associated
from tests.kb.test_http import assert_error, client
from tests.support.api import OrgHandle

REFUNDS = ("# Refunds\nRefunds reach your card within 5 working days of the return.\n\n"
           "# Shipping\nParcels leave our Chiang Mai roastery every Tuesday and Friday.")


async def test_document_chunks(org: OrgHandle) -> None:
    doc = await org.add_document("Policies", REFUNDS)
    async with client(org) as c:
        r = await c.get(f"/v1/kb/documents/{doc['document_id']}/chunks")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["document_id"] == doc["document_id"] and body["total"] == 2
        assert [ch["heading"] for ch in body["chunks"]] == ["Refunds", "Shipping"]
        assert [ch["ord"] for ch in body["chunks"]] == [0, 1]
        assert "5 working days" in body["chunks"][0]["text"]
        assert body["chunks"][0]["chars"] == len(body["chunks"][0]["text"])
        r = await c.get(f"/v1/kb/documents/{doc['document_id']}/chunks",
                        params={"limit": 1, "offset": 1})
        assert [ch["heading"] for ch in r.json()["chunks"]] == ["Shipping"]
        assert_error(await c.get(f"/v1/kb/documents/{uuid.uuid4()}/chunks"), 404, "not_found")
        assert_error(await c.get("/v1/kb/documents/nope/chunks"), 404, "not_found")
    agent = await org.add_user("agent")
    async with client(org, agent["token"]) as c:
        assert_error(await c.get(f"/v1/kb/documents/{doc['document_id']}/chunks"),
                     403, "forbidden")


async def test_fetch_url_refuses_loopback_by_default(org: OrgHandle) -> None:
    # the shared test server does not set CLIENTA_KB_FETCH_ALLOW_LOOPBACK: its own port
    # is as refused as the cloud's metadata address
    async with client(org) as c:
        for url in (f"{org.base_url}/healthz", "http://169.254.169.254/latest/meta-data/",
                    "http://[::1]/"):
            assert_error(await c.post("/v1/kb/documents", json={"fetch_url": url}),
                         422, "fetch_refused")
        assert_error(await c.post("/v1/kb/documents", json={"fetch_url": "file:///etc/passwd"}),
                     422, "bad_request")
        assert (await c.get("/v1/kb/documents")).json()["documents"] == []


async def test_try_the_bot(org: OrgHandle) -> None:
    doc = await org.add_document("Policies", REFUNDS, url="https://lumen.example/policies")
    async with client(org) as c:
        r = await c.post("/v1/kb/try", json={"question": "How long do refunds take?"})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["answered"] is True and out["handoff"] is None
        assert "5 working days" in out["answer"]
        assert out["sources"] == [{"title": "Policies", "url": "https://lumen.example/policies",
                                   "chunk_id": out["passages"][0]["chunk_id"]}]
        top = out["passages"][0]
        assert top["document_id"] == doc["document_id"] and top["cited"] is True
        assert top["score"] >= out["threshold"] and out["best_score"] == top["score"]

        r = await c.post("/v1/kb/try", json={"question": "Can I talk to a person please?"})
        assert r.json()["handoff"] == "asked_for_human" and r.json()["answer"] is None
        # the org's own handoff words hand off too, as they do for a visitor
        question = {"question": "Is the refund desk open?"}
        assert (await c.post("/v1/kb/try", json=question)).json()["handoff"] != "asked_for_human"
        r = await c.patch("/v1/org", json={"handoff_keywords": {"en": ["refund desk"]}})
        assert r.status_code == 200, r.text
        assert (await c.post("/v1/kb/try", json=question)).json()["handoff"] == "asked_for_human"

        r = await c.post("/v1/kb/try", json={"question": "Do you repair bicycles?",
                                             "locale": "th"})
        out = r.json()
        assert out["answered"] is False and out["handoff"] == "no_answer"
        assert out["best_score"] < out["threshold"] and out["sources"] == []

        # nothing is stored: no unanswered question, no conversation
        assert (await c.get("/v1/kb/unanswered")).json()["questions"] == []
        assert (await c.get("/v1/conversations")).json()["conversations"] == []
        assert_error(await c.post("/v1/kb/try", json={"question": ""}), 422, "bad_request")
        assert_error(await c.post("/v1/kb/try", json={"question": "x", "locale": "de"}),
                     422, "bad_request")
    agent = await org.add_user("agent")
    viewer = await org.add_user("viewer")
    async with client(org, agent["token"]) as c:
        assert (await c.post("/v1/kb/try", json={"question": "refunds?"})).status_code == 200
    async with client(org, viewer["token"]) as c:
        assert_error(await c.post("/v1/kb/try", json={"question": "refunds?"}), 403, "forbidden")


async def test_answer_this(org: OrgHandle, db: Database) -> None:
    kb = KnowledgeBase(db, Settings(), HashingEmbedder(), OfflineReranker(),
                       reindex_on_start=False)
    org_id = uuid.UUID(org.org_id)
    await kb.record_unanswered(org_id, None, "Do you sell decaf beans?", 0.02)
    # one stored sealed, as encryption at rest keeps it: the list shows it opened
    row_id = uuid.uuid4()
    async with db.unit_of_work(org_id) as conn:
        key = await db.keys.org_key(conn, org_id)
        sealed = key.seal_text("Is there parking?", associated(Field.UNANSWERED, org_id, row_id))
        assert "parking" not in sealed
        await conn.execute("INSERT INTO kb_unanswered (id, org_id, question, best_score)"
                           " VALUES ($1, $2, $3, 0.01)", row_id, org_id, sealed)
    async with client(org) as c:
        listed = (await c.get("/v1/kb/unanswered")).json()["questions"]
        assert {q["question"] for q in listed} == {"Do you sell decaf beans?",
                                                   "Is there parking?"}
        decaf = next(q for q in listed if "decaf" in q["question"])
        r = await c.post("/v1/kb/try", json={"question": "Do you sell decaf beans?"})
        assert r.json()["handoff"] == "no_answer"

        r = await c.post(f"/v1/kb/unanswered/{decaf['id']}/answer",
                         json={"answer": "Yes: our Swiss-water decaf comes in 250 g bags."})
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["chunks"] == 1 and made["question_id"] == decaf["id"]
        doc = (await c.get(f"/v1/kb/documents/{made['document_id']}")).json()
        assert doc["title"] == "Do you sell decaf beans?" and doc["kind"] == "csv"
        chunk = (await c.get(f"/v1/kb/documents/{made['document_id']}/chunks")).json()
        assert chunk["chunks"][0]["kind"] == "qa"

        listed = (await c.get("/v1/kb/unanswered")).json()["questions"]
        assert [q["question"] for q in listed] == ["Is there parking?"]
        r = await c.post("/v1/kb/try", json={"question": "Do you sell decaf beans?"})
        out = r.json()
        assert out["answered"] and "Swiss-water decaf" in out["answer"]
        assert out["sources"][0]["title"] == "Do you sell decaf beans?"

        # once only; unknown ids, blank answers
        assert_error(await c.post(f"/v1/kb/unanswered/{decaf['id']}/answer",
                                  json={"answer": "again"}), 404, "not_found")
        parking = listed[0]["id"]
        assert_error(await c.post(f"/v1/kb/unanswered/{parking}/answer", json={"answer": " "}),
                     422, "bad_request")
        assert_error(await c.post(f"/v1/kb/unanswered/{uuid.uuid4()}/answer",
                                  json={"answer": "x"}), 404, "not_found")
        # a reworded question is what becomes knowledge
        r = await c.post(f"/v1/kb/unanswered/{parking}/answer",
                         json={"answer": "Free parking behind the shop.",
                               "question": "Where can I park?"})
        assert r.status_code == 201
        doc = (await c.get(f"/v1/kb/documents/{r.json()['document_id']}")).json()
        assert doc["title"] == "Where can I park?"
        audit = (await c.get("/v1/audit", params={"action": "kb.document_added"})).json()
        assert {e["target"]["id"] for e in audit["items"]} >= {made["document_id"],
                                                                 r.json()["document_id"]}
    agent = await org.add_user("agent")
    async with client(org, agent["token"]) as c:
        assert_error(await c.post(f"/v1/kb/unanswered/{parking}/answer", json={"answer": "x"}),
                     403, "forbidden")
