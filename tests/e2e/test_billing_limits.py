"""Plan limits on a live server with no billing keys (everything on free): the meter agrees
with a SQL count over stored events, a retried message is counted once, and the question
past the AI-answer limit goes to people (a `mode queued` frame and the system message)
instead of silence; owners are mailed once at 80% and once at 100%. Seats (users and
invitations), knowledge-base documents (upload, fetch, "answer this") and open
conversations (a new one past the limit goes to people at once) on a server enforcing all
of them (the test servers enforce only AI answers: CLIENTA_BILLING_LIMITS)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from server.domain.plans import PLANS, Plan
from server.storage.db import Database
from tests.support.api import PASSWORD, OrgHandle, signup
from tests.support.wsclient import WsClient, visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIMIT = PLANS[Plan.FREE].limits.ai_answers
ANSWER = "Refunds are paid back to the original card within 5 business days."


async def bot_answers_in_sql(db: Database, org_id: str) -> int:
    async with db.pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT count(*) FROM events WHERE org_id = $1 AND author_role = 'bot'"
            " AND kind = 'msg'", uuid.UUID(org_id))


async def seed_bot_answers(db: Database, org_id: str, count: int) -> None:
    """An earlier conversation of this period with `count` bot answers (stored directly: the
    meter reads stored events, however they got there)."""
    org = uuid.UUID(org_id)
    visitor_id, conv = uuid.uuid4(), uuid.uuid4()
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO visitors (id, org_id) VALUES ($1, $2)", visitor_id, org)
        await conn.execute("INSERT INTO conversations (id, org_id, visitor_id, mode, last_seq)"
                           " VALUES ($1, $2, $3, 'closed', $4)", conv, org, visitor_id, count)
        await conn.executemany(
            "INSERT INTO events (org_id, conversation_id, seq, kind, author_role, body)"
            " VALUES ($1, $2, $3, 'msg', 'bot', 'earlier answer')",
            [(org, conv, seq) for seq in range(1, count + 1)])


async def test_past_the_ai_answer_limit_questions_go_to_people(make_server,
                                                                db: Database) -> None:
    server = make_server({"CLIENTA_BILLING_METER_REFRESH": "0.2"})
    org = await signup(server.url, "Limited Co")
    await org.add_document("Refunds", ANSWER)
    await seed_bot_answers(db, org.org_id, LIMIT - 2)

    client, _ = await visitor(server.ws_url, org.site_key)
    try:
        for n in (1, 2):  # the last two answers the plan includes
            await client.send({"t": "msg", "id": f"q{n}", "text": "How do refunds work?"})
            start = await client.expect("bot.start", timeout=20)
            await client.expect("msg", timeout=20, stream_id=start["stream_id"])
        # a retried message is stored once, answered once, counted once
        await client.send({"t": "msg", "id": "q2", "text": "How do refunds work?"})
        await client.expect("ack", id="q2")
        await client.send({"t": "msg", "id": "q3", "text": "And for a gift card?"})
        queued = await client.expect("mode", mode="queued", timeout=20)
        assert queued["agents_online"] is False  # the widget says nobody is available
        told = await client.expect("msg", timeout=10)
        while told["author"]["role"] != "system":
            told = await client.expect("msg", timeout=10)
        assert "person from the team" in told["text"]
    finally:
        await client.close()

    assert await bot_answers_in_sql(db, org.org_id) == LIMIT
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        state = (await http.get("/v1/billing", headers=org.headers())).json()
    assert state["configured"] is False and state["providers"] == []
    assert state["plan"] == "free" and state["usage"]["ai_answers"] == LIMIT
    assert "ai_answers" in state["near_limits"]  # the console's banner

    org_uuid = uuid.UUID(org.org_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    async with db.pool.acquire() as conn:
        while (alerts := await conn.fetch(
                "SELECT percent FROM usage_alerts WHERE org_id = $1", org_uuid)) == [] \
                or len(alerts) < 2:
            assert loop.time() < deadline, alerts
            await asyncio.sleep(0.05)
        assert sorted(r["percent"] for r in alerts) == [80, 100]
        mailed = await conn.fetchval("SELECT count(*) FROM mail_outbox WHERE org_id = $1"
                                     " AND kind = 'usage_alert'", org_uuid)
        # one owner: the 80% mail (the seeded answers passed it) and the 100% one, once each
        assert mailed == 2


ALL_LIMITS = {"CLIENTA_BILLING_LIMITS": "all", "CLIENTA_BILLING_METER_REFRESH": "0.2"}
FREE = PLANS[Plan.FREE].limits


def user(role: str = "agent") -> dict[str, str]:
    return {"email": f"{role}-{uuid.uuid4().hex[:8]}@test.clienta", "password": PASSWORD,
            "name": role.title(), "role": role}


def refused(r: httpx.Response, words: str) -> None:
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "plan_limit", r.text
    assert words in r.json()["error"]["message"], r.text


async def test_seats_hold_for_users_and_invitations_alike(make_server, server_env) -> None:
    from tests.e2e.test_team import mailbox, verified_org

    server = make_server(ALL_LIMITS)
    org = await verified_org(server.url, mailbox(server_env))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        # the owner holds one seat; three admins racing for the last one: one gets it
        made = await asyncio.gather(*(http.post("/v1/users", headers=org.headers(),
                                                json=user()) for _ in range(3)))
        assert sorted(r.status_code for r in made) == [201, 403, 403], [r.text for r in made]
        for r in made:
            if r.status_code == 403:
                refused(r, f"{FREE.seats} seats")
        r = await http.post("/v1/invites", headers=org.headers(), json={
            "email": f"over-{uuid.uuid4().hex[:6]}@test.clienta", "role": "agent"})
        refused(r, f"{FREE.seats} seats")
        members = (await http.get("/v1/users", headers=org.headers())).json()
        assert len(members["items"]) == FREE.seats
        # a member leaves: the seat is free again, and a pending invitation holds it
        [added] = [r.json()["user_id"] for r in made if r.status_code == 201]
        r = await http.delete(f"/v1/users/{added}", headers=org.headers())
        assert r.status_code in (200, 204), r.text
        r = await http.post("/v1/invites", headers=org.headers(), json={
            "email": f"seat-{uuid.uuid4().hex[:6]}@test.clienta", "role": "agent"})
        assert r.status_code == 201, r.text
        refused(await http.post("/v1/users", headers=org.headers(), json=user()),
                f"{FREE.seats} seats")


async def seed_documents(db: Database, org_id: str, count: int) -> None:
    """Documents stored earlier (the meter counts rows, however they got there)."""
    org = uuid.UUID(org_id)
    async with db.pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO kb_documents (id, org_id, title, kind) VALUES ($1, $2, $3, 'text')",
            [(uuid.uuid4(), org, f"Earlier {n}") for n in range(count)])


async def documents_in_sql(db: Database, org_id: str) -> int:
    async with db.pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM kb_documents WHERE org_id = $1",
                                   uuid.UUID(org_id))


async def test_the_knowledge_base_holds_the_plans_documents_and_keeps_them(
        make_server, db: Database) -> None:
    server = make_server(ALL_LIMITS)
    org = await signup(server.url, "Docs Co")
    await seed_documents(db, org.org_id, FREE.kb_documents - 1)
    # a question the knowledge base cannot answer: an open unanswered question
    client, _ = await visitor(server.ws_url, org.site_key)
    try:
        await client.send({"t": "msg", "id": "q1", "text": "Do you ship to Mars?"})
        await client.expect("mode", mode="queued", timeout=20)
    finally:
        await client.close()
    words = f"{FREE.kb_documents} knowledge-base documents"
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        kb = "/v1/kb/documents"
        r = await http.post(kb, headers=org.headers(), json={"title": "Shipping",
                                                              "text": "We ship worldwide."})
        assert r.status_code == 201, r.text  # the last one the plan holds
        last = r.json()["document_id"]
        refused(await http.post(kb, headers=org.headers(),
                                json={"title": "More", "text": "One too many."}), words)
        refused(await http.post(kb, headers=org.headers(),
                                files={"file": ("more.txt", b"One too many.", "text/plain")}),
                words)
        # refused before fetching (this address would be refused for itself otherwise)
        refused(await http.post(kb, headers=org.headers(),
                                json={"fetch_url": "http://127.0.0.1:9/page"}), words)
        [question] = (await http.get("/v1/kb/unanswered", headers=org.headers())
                      ).json()["questions"]
        answer = f"/v1/kb/unanswered/{question['id']}/answer"
        refused(await http.post(answer, headers=org.headers(),
                                json={"answer": "No, only to Earth."}), words)
        # an existing document may still change; nothing was deleted
        r = await http.put(f"{kb}/{last}", headers=org.headers(),
                           json={"title": "Shipping", "text": "We ship to 40 countries."})
        assert r.status_code == 200, r.text
        assert await documents_in_sql(db, org.org_id) == FREE.kb_documents
        state = (await http.get("/v1/billing", headers=org.headers())).json()
        assert state["usage"]["kb_documents"] == FREE.kb_documents
        assert "kb_documents" in state["near_limits"]
        # one deleted: "answer this" fits again, and the question leaves the list
        assert (await http.delete(f"{kb}/{last}", headers=org.headers())).status_code == 204
        r = await http.post(answer, headers=org.headers(), json={"answer": "No, only Earth."})
        assert r.status_code == 201, r.text
    assert await documents_in_sql(db, org.org_id) == FREE.kb_documents


async def seed_open_conversations(db: Database, org_id: str, count: int) -> list[uuid.UUID]:
    org = uuid.UUID(org_id)
    ids = [uuid.uuid4() for _ in range(count)]
    async with db.pool.acquire() as conn, conn.transaction():
        for conv in ids:
            visitor_id = uuid.uuid4()
            await conn.execute("INSERT INTO visitors (id, org_id) VALUES ($1, $2)",
                               visitor_id, org)
            await conn.execute("INSERT INTO conversations (id, org_id, visitor_id, mode)"
                               " VALUES ($1, $2, $3, 'bot')", conv, org, visitor_id)
    return ids


async def first_question(server_ws_url: str, org: OrgHandle) -> tuple[WsClient, dict]:
    """A new visitor's first message, and what answers it first: the bot starting, or
    the conversation handed to people."""
    client, _ = await visitor(server_ws_url, org.site_key)
    await client.send({"t": "msg", "id": "q1", "text": "How do refunds work?"})
    await client.expect("ack", id="q1", timeout=20)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        for frame in client.frames:
            if frame.get("t") == "bot.start" or (frame.get("t"), frame.get("mode")) == (
                    "mode", "queued"):
                return client, frame
        assert loop.time() < deadline, [f.get("t") for f in client.frames]
        await client.drain(0.1)


async def test_past_the_open_conversations_a_new_one_goes_to_people(
        make_server, db: Database) -> None:
    server = make_server(ALL_LIMITS)
    org = await signup(server.url, "Busy Co")
    await org.add_document("Refunds", ANSWER)
    seeded = await seed_open_conversations(db, org.org_id, FREE.concurrent_conversations - 1)
    # the last open conversation the plan holds starts with the bot
    client, frame = await first_question(server.ws_url, org)
    await client.close()
    assert frame["t"] == "bot.start", frame
    # the next one is stored, and handed to people at once: never silent
    client, frame = await first_question(server.ws_url, org)
    try:
        assert frame["t"] == "mode" and frame["mode"] == "queued", frame
        assert frame["agents_online"] is False  # the widget says nobody is available
        told = await client.expect("msg", timeout=10)
        while told["author"]["role"] != "system":
            told = await client.expect("msg", timeout=10)
        assert "person from the team" in told["text"]
    finally:
        await client.close()
    async with db.pool.acquire() as conn:
        modes = await conn.fetch("SELECT mode FROM conversations WHERE org_id = $1",
                                 uuid.UUID(org.org_id))
        assert sorted(r["mode"] for r in modes).count("queued") == 1
        assert len(modes) == FREE.concurrent_conversations + 1
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        state = (await http.get("/v1/billing", headers=org.headers())).json()
    assert state["usage"]["concurrent_conversations"] == FREE.concurrent_conversations + 1
    assert "concurrent_conversations" in state["near_limits"]  # the owners' banner
    # conversations close: once the meter has counted again, the bot takes new ones
    async with db.pool.acquire() as conn:
        await conn.execute("UPDATE conversations SET mode = 'closed' WHERE id = ANY($1)",
                           seeded)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        state = (await http.get("/v1/billing", headers=org.headers())).json()
    assert state["usage"]["concurrent_conversations"] == 2
    client, frame = await first_question(server.ws_url, org)
    await client.close()
    assert frame["t"] == "bot.start", frame
