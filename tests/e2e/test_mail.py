"""Mail end to end: a real server configured for Resend (the real SDK against a fake Resend
on 127.0.0.1) answers the request that queued mail while Resend is down, then delivers it
once when Resend is back. A database of its own, so no other server's worker takes the row."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from server.storage.migrate import apply_migrations
from tests.fakes.resend_server import FakeResend
from tests.storage.databases import fresh_database
from tests.support.api import PASSWORD

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_request_that_queues_mail_succeeds_while_resend_is_down(
        make_server, database_url: str) -> None:
    url = await fresh_database(database_url, "mail_e2e_")
    await apply_migrations(url)
    async with FakeResend() as fake:
        fake.fail_next(503, count=1000)
        server = make_server({
            "DATABASE_URL": url, "RESEND_API_KEY": fake.api_key,
            "RESEND_BASE_URL": fake.base_url, "CLIENTA_MAIL_FROM": "Help <help@acme.example>",
            "CLIENTA_MAIL_POLL": "0.2", "CLIENTA_MAIL_RETRY_BASE": "0.2",
            "CLIENTA_MAIL_RETRY_MAX": "0.5"})
        address = f"owner-{uuid.uuid4().hex[:8]}@acme.example"
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            form = {"org_name": "Acme", "email": address, "password": PASSWORD}
            first = await http.post("/v1/signup", json=form)
            assert first.status_code == 201
            again = await http.post("/v1/signup", json=form)
            assert again.status_code == 201  # the notice is queued; Resend's state is moot
        conn = await asyncpg.connect(url)
        try:
            async def outbox_row() -> asyncpg.Record | None:
                return await conn.fetchrow(
                    "SELECT org_id, kind, status, attempts, last_error FROM mail_outbox"
                    " WHERE kind = 'existing_account'")  # the sign-up's verification too

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while (r := await outbox_row()) is None or r["attempts"] < 2:
                assert loop.time() < deadline, f"no failed attempts recorded: {r}"
                await asyncio.sleep(0.05)  # the server's worker, in another process
            assert r["org_id"] == uuid.UUID(first.json()["org_id"])
            assert (r["kind"], r["status"]) == ("existing_account", "pending")
            assert r["last_error"] == "503:application_error"
            assert fake.deliveries == []
            fake.fail_next(503, count=0)  # Resend is back
            deadline = loop.time() + 20
            while (r := await outbox_row())["status"] != "sent":
                assert loop.time() < deadline, f"never sent: {r}"
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
        [sent] = [d for d in fake.deliveries if "already has an account" in d.body["text"]]
        assert sent.body["to"] == [address] and sent.body["from"] == "Help <help@acme.example>"
        assert "already has an account" in sent.body["text"]
        assert "List-Unsubscribe" not in sent.body["headers"]  # a required notice
        # one key per outbox row: this notice's, and the first sign-up's verification
        # mail's (which may still be waiting for its retry)
        keys = {x.headers["Idempotency-Key"] for x in fake.received}
        assert sent.key in keys and len(keys) <= 2
    server.stop()
    log = server.log_path.read_text(errors="replace")
    assert address not in log and address.split("@")[0] not in log
