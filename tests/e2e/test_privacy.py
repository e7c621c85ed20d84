"""Data-subject rights against a real server, Postgres and Redis: the visitor's own export
holds everything a direct SQL search finds for them, erasure leaves nothing readable and
ends their token, and a restricted visitor's questions never reach the (fake) OpenAI
server. The requests register keeps each with its 30-day deadline."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.fakes import FakeOpenAI
from tests.support.api import signup
from tests.support.wsclient import WsClient, agent, visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")

MARK = "Zebra-" + uuid.uuid4().hex[:8]  # a word only this test's visitor writes


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def chatting_visitor(server, org) -> tuple[dict, object]:
    """A visitor who asked, named themselves, consented and rated: rows in most tables."""
    client, welcome = await visitor(server.ws_url, org.site_key)
    await client.send({"t": "msg", "id": "q1", "text": f"{MARK} where is my parcel?"})
    await client.expect("ack")
    await client.send({"t": "identify", "name": f"Somchai {MARK}",
                       "email": f"{MARK.lower()}@example.com"})
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.post("/v1/visitor/consent", headers=bearer(welcome["visitor_token"]),
                            json={"notice_version": "2024-05", "granted": True})
        assert r.status_code == 201, r.text
    await client.expect("msg", timeout=20)  # the bot's answer (offline: quotes the KB)
    return welcome, client


async def test_export_holds_everything_a_direct_sql_search_finds(clienta_server, org, db
                                                                 ) -> None:
    welcome, client = await chatting_visitor(clienta_server, org)
    token = welcome["visitor_token"]
    async with httpx.AsyncClient(base_url=clienta_server.url) as http:
        r = await http.get("/v1/visitor/export", headers=bearer(token))
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == "*"
        export = r.json()
        bad = await http.get("/v1/visitor/export?format=xml", headers=bearer(token))
        assert bad.status_code == 422
        nobody = await http.get("/v1/visitor/export", headers=bearer("v1.forged"))
        assert nobody.status_code == 401
    visitor_id = uuid.UUID(export["visitor"]["id"])
    text = json.dumps(export, ensure_ascii=False)

    # the direct search: every row naming this visitor or one of their conversations
    async with db.unit_of_work(org.org_id) as conn:
        convs = [r["id"] for r in await conn.fetch(
            "SELECT id FROM conversations WHERE visitor_id = $1", visitor_id)]
        events = await conn.fetch(
            "SELECT conversation_id, seq, kind FROM events WHERE conversation_id = ANY($1)",
            convs)
        consent_ids = [r["id"] for r in await conn.fetch(
            "SELECT id FROM consent_records WHERE visitor_id = $1", visitor_id)]
        request_ids = [r["id"] for r in await conn.fetch(
            "SELECT id FROM privacy_requests WHERE visitor_id = $1", visitor_id)]
        unanswered = await conn.fetchval(
            "SELECT count(*) FROM kb_unanswered WHERE conversation_id = ANY($1)", convs)
        sealed_name = await conn.fetchval("SELECT name FROM visitors WHERE id = $1",
                                          visitor_id)
    assert convs and events and consent_ids and request_ids
    assert MARK not in sealed_name  # stored sealed, opened only for the export
    exported = {(c["id"], m["seq"]) for c in export["conversations"] for m in c["messages"]}
    assert {(str(e["conversation_id"]), e["seq"]) for e in events if e["kind"] == "msg"} \
        <= exported
    for row_id in [*convs, *consent_ids, *request_ids]:
        assert str(row_id) in text
    assert len(export["unanswered_questions"]) == unanswered
    assert export["visitor"]["name"] == f"Somchai {MARK}"
    assert export["visitor"]["email"] == f"{MARK.lower()}@example.com"
    assert any(MARK in m["text"] for c in export["conversations"] for m in c["messages"])
    assert export["consents"][0]["notice_version"] == "2024-05"

    async with httpx.AsyncClient(base_url=clienta_server.url) as http:
        z = await http.get("/v1/visitor/export?format=csv", headers=bearer(token))
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(z.content))
    assert json.loads(archive.read("export.json"))["visitor"]["id"] == str(visitor_id)
    assert MARK in archive.read("messages.csv").decode("utf-8-sig")
    assert "2024-05" in archive.read("consents.csv").decode("utf-8-sig")
    await client.close()


async def test_notes_are_in_the_orgs_copy_only(clienta_server, org) -> None:
    welcome, client = await chatting_visitor(clienta_server, org)
    async with httpx.AsyncClient(base_url=clienta_server.url) as http:
        mine = (await http.get("/v1/visitor/export",
                               headers=bearer(welcome["visitor_token"]))).json()
        vid = mine["visitor"]["id"]
        theirs = await http.get(f"/v1/visitors/{vid}/export", headers=org.headers())
        assert theirs.status_code == 200
        other = await signup(clienta_server.url)
        foreign = await http.get(f"/v1/visitors/{vid}/export", headers=other.headers())
        assert foreign.status_code == 404  # another org's visitor does not exist for it
    await client.close()


async def test_erasure_leaves_nothing_readable_and_ends_the_token(clienta_server, org, db
                                                                  ) -> None:
    welcome, client = await chatting_visitor(clienta_server, org)
    await client.close()
    token = welcome["visitor_token"]
    async with httpx.AsyncClient(base_url=clienta_server.url) as http:
        vid = (await http.get("/v1/visitor/export", headers=bearer(token))).json()[
            "visitor"]["id"]
        r = await http.post("/v1/visitor/erase", headers=bearer(token))
        assert r.status_code == 202 and r.json()["messages"] >= 2
        assert (await http.get("/v1/visitor/export", headers=bearer(token))).status_code == 401
        assert (await http.post("/v1/visitor/erase", headers=bearer(token))).status_code == 401
        assert (await http.get(f"/v1/visitors/{vid}/export",
                               headers=org.headers())).status_code == 404
        done = (await http.get("/v1/privacy/requests?status=done",
                               headers=org.headers())).json()["items"]
        assert any(i["kind"] == "erasure" and i["subject"]["visitor_id"] == vid for i in done)
    async with db.unit_of_work(org.org_id) as conn:
        row = await conn.fetchrow("SELECT name, email, erased_at FROM visitors WHERE id = $1",
                                  uuid.UUID(vid))
        assert row["name"] is None and row["email"] is None and row["erased_at"] is not None
        assert await conn.fetchval("SELECT wrapped FROM visitor_keys WHERE visitor_id = $1",
                                   uuid.UUID(vid)) is None
        conv = uuid.UUID(welcome["conversation_id"])
        assert await conn.fetchval("SELECT count(*) FROM events WHERE conversation_id = $1",
                                   conv) == 0
        # the skeleton stays for counts, tied to nobody
        skeleton = await conn.fetchrow("SELECT visitor_id, mode FROM conversations"
                                       " WHERE id = $1", conv)
        assert skeleton["visitor_id"] != uuid.UUID(vid) and skeleton["mode"] == "closed"
        dump = await conn.fetchval(
            "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM visitors) t")
        assert MARK not in (dump or "")
    back = await WsClient(f"{clienta_server.ws_url}/v1/ws/visitor?site_key={org.site_key}"
                          ).connect()
    await back.send({"t": "hello", "visitor_token": token,
                     "conversation_id": welcome["conversation_id"]})
    assert await back.wait_closed() == 4001
    assert not back.of_type("welcome")


async def test_a_restricted_visitors_questions_never_reach_openai(make_server) -> None:
    reply = "Parcels ship within two days of the order."
    async with FakeOpenAI(reply=reply, tps=500) as fake:
        server = make_server({"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url,
                              "CLIENTA_EMBED_MODEL": "offline"})
        org = await signup(server.url)
        await org.add_document("Shipping", "Parcels ship within two days of the order.")
        client, welcome = await visitor(server.ws_url, org.site_key)
        await client.send({"t": "msg", "id": "q1", "text": "When do parcels ship?"})
        await client.expect("msg", stream_id=(await client.expect("bot.start"))["stream_id"],
                            timeout=20)
        asked = len(fake.chat_requests)
        assert asked >= 1  # the control: before the restriction the bot asks OpenAI
        async with httpx.AsyncClient(base_url=server.url) as http:
            r = await http.put("/v1/visitor/processing",
                               headers=bearer(welcome["visitor_token"]),
                               json={"restricted": True, "objection": "no AI please"})
            assert r.status_code == 200 and r.json()["restricted"] is True
        await client.expect("mode", mode="queued", timeout=10)
        secret = "Restricted-" + uuid.uuid4().hex[:8]
        await client.send({"t": "msg", "id": "q2", "text": f"{secret} when do parcels ship?"})
        await client.expect("ack", id="q2")
        # closed by an agent, the conversation reopens when the visitor writes: in bot
        # mode for anyone else, with people for them
        member = await org.add_user("agent")
        desk, _ = await agent(server.ws_url, member["token"])
        await desk.send({"t": "close", "conversation_id": welcome["conversation_id"]})
        await client.expect("mode", mode="closed", timeout=10)
        await client.send({"t": "msg", "id": "q3", "text": f"When do parcels ship? {secret}"})
        await client.expect("ack", id="q3")
        await desk.close()
        # a barrier: another visitor's question is answered after these were handled
        other, _ = await visitor(server.ws_url, org.site_key)
        await other.send({"t": "msg", "id": "o1", "text": "When do parcels ship?"})
        await other.expect("msg", stream_id=(await other.expect("bot.start"))["stream_id"],
                           timeout=20)
        seen = json.dumps([r.body for r in fake.requests], ensure_ascii=False)
        assert secret not in seen
        assert len(fake.chat_requests) == asked + 1  # the other visitor's only
        await client.close()
        await other.close()


async def test_requests_are_due_in_30_days_with_who_verified(clienta_server, org) -> None:
    received = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
    admin = await org.add_user("admin")
    async with httpx.AsyncClient(base_url=clienta_server.url) as http:
        r = await http.post("/v1/privacy/requests", headers=org.headers(), json={
            "kind": "access", "email": "asker@example.com",
            "received_at": received.isoformat(), "verified_by": admin["user_id"]})
        assert r.status_code == 201, r.text
        item = r.json()
        assert datetime.fromisoformat(item["due_at"]) == received + timedelta(days=30)
        assert item["verified_by"] == admin["user_id"] and item["status"] == "open"
        assert item["days_left"] < 0  # long overdue
        listed = (await http.get("/v1/privacy/requests?status=open",
                                 headers=org.headers())).json()["items"]
        assert any(i["request_id"] == item["request_id"]
                   and i["subject"]["email"] == "asker@example.com" for i in listed)
        agent = await org.add_user("agent")
        assert (await http.get("/v1/privacy/requests",
                               headers=org.headers(agent["token"]))).status_code == 403
        bad = await http.post("/v1/privacy/requests", headers=org.headers(),
                              json={"kind": "nonsense", "email": "a@b.c"})
        assert bad.status_code == 422
        done = await http.patch(f"/v1/privacy/requests/{item['request_id']}",
                                headers=org.headers(), json={"status": "done",
                                                             "evidence": "sent the copy"})
        assert done.status_code == 200 and done.json()["status"] == "done"
