"""Plan limits on a live server with no billing keys (everything on free): the meter agrees
with a SQL count over stored events, a retried message is counted once, and the question
past the AI-answer limit goes to people (a `mode queued` frame and the system message)
instead of silence; owners are mailed once at 80% and once at 100%."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from server.domain.plans import PLANS, Plan
from server.storage.db import Database
from tests.support.api import signup
from tests.support.wsclient import visitor

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



async def test_invitations_past_the_plans_seats_are_refused(clienta_server,
                                                            server_env) -> None:
    from tests.e2e.test_team import mailbox, verified_org

    org = await verified_org(clienta_server.url, mailbox(server_env))
    seats = PLANS[Plan.FREE].limits.seats
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        for n in range(seats - 1):  # the owner holds one; pending invitations hold one each
            r = await http.post("/v1/invites", headers=org.headers(), json={
                "email": f"seat{n}-{uuid.uuid4().hex[:6]}@test.clienta", "role": "agent"})
            assert r.status_code == 201, r.text
        r = await http.post("/v1/invites", headers=org.headers(), json={
            "email": f"over-{uuid.uuid4().hex[:6]}@test.clienta", "role": "agent"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "plan_limit", r.text
        assert f"{seats} seats" in r.json()["error"]["message"]
