"""An account's end against a real server, Postgres and Redis: termination stops the
service (sockets closed with 4003, tokens open only the export), the org's export holds
its conversations, documents, members and audit log as JSON and CSV, and the retention
jobs, run by a scheduler whose clock the test moves 31 days ahead, purge it (key shredded,
rows and Redis keys gone, owners mailed), delete closed conversations past an org's
retention and usage records past 24 months, and remind owners of overdue requests.
A member exports and deletes their own account; the last owner cannot."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from server.app import build_services, close_services
from server.services.scheduler import Scheduler, SchedulerPolicy
from server.settings import Settings
from server.storage.db import Database
from tests.support.api import signup
from tests.support.mailbox import wait_for_mail
from tests.support.wsclient import WsClient, agent, stored_visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")

MARK = "Walrus-" + uuid.uuid4().hex[:8]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refused_at_hello(ws_url: str, site_key: str, timeout: float = 15.0) -> int | None:
    """The close code a new visitor gets, once each process's site-key cache (a few
    seconds) has let the old answer go: polled, bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        client = await WsClient(f"{ws_url}/v1/ws/visitor?site_key={site_key}").connect()
        await client.send({"t": "hello"})
        code = await client.wait_closed(0.5)
        await client.close()
        if code is not None or loop.time() > deadline:
            return code


async def test_terminate_export_then_the_jobs_purge_and_retain(clienta_server, server_env,
                                                               db: Database) -> None:
    mail_dir = Path(server_env["CLIENTA_HOME"]) / "mail"
    name = f"Ending {uuid.uuid4().hex[:6]}"
    ending = await signup(clienta_server.url, name)
    await ending.add_document("Returns", f"Parcels {MARK} return within 14 days.")
    visitor_ws, _ = await stored_visitor(clienta_server.ws_url, ending.site_key)
    await visitor_ws.send({"t": "msg", "id": "q1", "text": f"{MARK} where is my parcel?"})
    await visitor_ws.expect("ack")
    agent_ws, _ = await agent(clienta_server.ws_url, ending.owner_token)
    owner = bearer(ending.owner_token)

    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        r = await http.post("/v1/org/terminate", headers=owner, json={"confirm": "not it"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "confirm_mismatch"
        admin = await ending.add_user("admin")
        r = await http.post("/v1/org/terminate", headers=bearer(admin["token"]),
                            json={"confirm": name})
        assert r.status_code == 403
        r = await http.post("/v1/org/terminate", headers=owner, json={"confirm": name})
        assert r.status_code == 202, r.text
        assert r.json()["purge_by"] > r.json()["export_until"]

        assert await agent_ws.wait_closed() == 4003
        assert await visitor_ws.wait_closed() == 4003
        assert await refused_at_hello(clienta_server.ws_url, ending.site_key) == 4003
        assert (await http.get("/v1/conversations", headers=owner)).status_code == 401
        r = await http.get("/v1/org/export", headers=bearer(admin["token"]))
        assert r.status_code == 403  # the org's export is the owners'

        r = await http.get("/v1/org/export", headers=owner)
        assert r.status_code == 200, r.text
        export = r.json()
        text = json.dumps(export, ensure_ascii=False)
        assert f"{MARK} where is my parcel?" in text  # a message, opened
        assert any(MARK in d["text"] for d in export["kb_documents"])
        assert {u["email"] for u in export["users"]} == {ending.owner_email, admin["email"]}
        assert "org.terminated" in {a["action"] for a in export["audit_log"]}
        r = await http.get("/v1/org/export?format=csv", headers=owner)
        assert r.headers["content-type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(r.content))
        assert MARK in archive.read("messages.csv").decode("utf-8-sig")
        assert {"users.csv", "kb_documents.csv", "audit_log.csv"} <= set(archive.namelist())
    await wait_for_mail(mail_dir, ending.owner_email, "is closed")

    # another org keeps closed conversations one day and has an overdue request
    keeping = await signup(clienta_server.url, f"Keeping {uuid.uuid4().hex[:6]}")
    keep_id = uuid.UUID(keeping.org_id)
    now = datetime.now(UTC)
    old_closed, still_open = uuid.uuid4(), uuid.uuid4()
    async with db.pool.acquire() as conn:  # the owner: set-up RLS does not hold
        visitor_id = uuid.uuid4()
        await conn.execute("INSERT INTO visitors (id, org_id) VALUES ($1, $2)", visitor_id,
                           keep_id)
        await conn.execute(
            "INSERT INTO conversations (id, org_id, visitor_id, mode, closed_at) VALUES"
            " ($1, $3, $4, 'closed', $5), ($2, $3, $4, 'agent', NULL)",
            old_closed, still_open, keep_id, visitor_id, now - timedelta(days=2))
        await conn.execute("INSERT INTO org_privacy (org_id, closed_retention_days)"
                           " VALUES ($1, 30)", keep_id)
        await conn.execute(
            "INSERT INTO usage_tokens (org_id, stream_id, tokens_in, tokens_out, created_at)"
            " VALUES ($1, 'old', 1, 1, $2), ($1, 'new', 1, 1, $3)",
            keep_id, now - timedelta(days=720), now)
        await conn.execute(
            "INSERT INTO audit_log (org_id, at, actor_kind, action) VALUES"
            " ($1, $2, 'system', 'test.old'), ($1, $3, 'system', 'test.new')",
            keep_id, now - timedelta(days=720), now)
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        r = await http.post("/v1/privacy/requests", headers=bearer(keeping.owner_token),
                            json={"kind": "access", "email": "someone@example.com",
                                  "received_at": (now - timedelta(days=25)).isoformat()})
        assert r.status_code == 201, r.text

    # the jobs, with the clock moved 31 days on: the export window has closed
    services = await build_services(Settings.from_env(server_env), migrate=False)
    try:
        async with db.pool.acquire() as conn:
            conv_ids = [r["id"] for r in await conn.fetch(
                "SELECT id FROM conversations WHERE org_id = $1", uuid.UUID(ending.org_id))]
        assert conv_ids
        await services.broker.command("SET", f"bs:{conv_ids[0]}", "snapshot")
        later = now + timedelta(days=31)
        scheduler = Scheduler(services.db, list(services.scheduler.jobs.values()),
                              SchedulerPolicy(), lambda: later)
        ran = await scheduler.run_due()
        assert ran["org_purge"] >= 1 and ran["closed_conversations"] >= 1
        assert ran["usage_purge"] >= 2 and ran["privacy_reminders"] >= 1
        assert await scheduler.run_due() == {}  # nothing twice in one period
        assert await services.broker.command("GET", f"bs:{conv_ids[0]}") is None
    finally:
        await close_services(services)

    async with db.pool.acquire() as conn:
        ending_id = uuid.UUID(ending.org_id)
        for table in ("orgs", "users", "conversations", "events", "kb_chunks", "org_keys"):
            column = "id" if table == "orgs" else "org_id"
            assert await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE {column} = $1", ending_id) == 0, table
        kept = {r["id"] for r in await conn.fetch(
            "SELECT id FROM conversations WHERE org_id = $1", keep_id)}
        assert kept == {still_open}
        assert {r["stream_id"] for r in await conn.fetch(
            "SELECT stream_id FROM usage_tokens WHERE org_id = $1", keep_id)} == {"new"}
        actions = {r["action"] for r in await conn.fetch(
            "SELECT action FROM audit_log WHERE org_id = $1", keep_id)}
        assert "test.new" in actions and "test.old" not in actions
    ledger = Path(server_env["CLIENTA_HOME"]) / "erasures.jsonl"
    assert any(json.loads(line)["org_id"] == ending.org_id and not json.loads(
        line)["visitor_id"] for line in ledger.read_text().splitlines())
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        assert (await http.get("/v1/org/export", headers=owner)).status_code == 401
    await wait_for_mail(mail_dir, ending.owner_email, "erased")
    await wait_for_mail(mail_dir, keeping.owner_email, "overdue")


async def test_a_member_exports_and_deletes_their_own_account(clienta_server, org) -> None:
    member = await org.add_user("agent")
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        r = await http.get("/v1/users/me/export", headers=bearer(member["token"]))
        assert r.status_code == 200, r.text
        assert r.json()["user"]["email"] == member["email"]
        assert "auth.sign_in" in {a["action"] for a in r.json()["activity"]}
        r = await http.get("/v1/users/me/export?format=csv", headers=bearer(member["token"]))
        assert set(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) >= {"user.csv",
                                                                          "activity.csv"}
        r = await http.delete("/v1/users/me", headers=org.headers())
        assert r.status_code == 409 and r.json()["error"]["code"] == "last_owner"
        r = await http.delete("/v1/users/me", headers=bearer(member["token"]))
        assert r.status_code == 204
        assert (await http.get("/v1/users/me/export",
                               headers=bearer(member["token"]))).status_code == 401
        r = await http.post("/v1/login", json={"email": member["email"],
                                               "password": "correct-horse-battery"})
        assert r.status_code == 401
