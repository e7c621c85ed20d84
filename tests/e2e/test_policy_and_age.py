"""Minors and policy changes against a real server and database: sign-up records that the
person confirmed they are 20 or older (false is refused, an older client's missing field
still signs up with nothing on record); `clienta policy publish` refuses a material change
dated sooner than 30 days, and one dated later is mailed to every owner and shown by
GET /v1/policy (the console's banner) until it takes effect."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from server.storage.db import Database
from tests.support.api import PASSWORD, signup
from tests.support.mailbox import wait_for_mail

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]


async def test_sign_up_records_the_age_confirmation(clienta_server, db: Database) -> None:
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        def body(**extra: object) -> dict[str, object]:
            return {"org_name": "Age", "email": f"a-{uuid.uuid4().hex[:10]}@test.clienta",
                    "password": PASSWORD, **extra}

        r = await http.post("/v1/signup", json=body(age_confirmed=False))
        assert r.status_code == 422 and r.json()["error"]["code"] == "age_not_confirmed"
        r = await http.post("/v1/signup", json=body(age_confirmed="yes"))
        assert r.status_code == 422
        confirmed = await http.post("/v1/signup", json=body(age_confirmed=True))
        assert confirmed.status_code == 201, confirmed.text
        silent = await http.post("/v1/signup", json=body())
        assert silent.status_code == 201  # the contract's body still signs up
    async with db.pool.acquire() as conn:
        at = {str(r["id"]): r["age_confirmed_at"] for r in await conn.fetch(
            "SELECT id, age_confirmed_at FROM users WHERE id = ANY($1::uuid[])",
            [confirmed.json()["user_id"], silent.json()["user_id"]])}
    assert at[confirmed.json()["user_id"]] is not None
    assert at[silent.json()["user_id"]] is None


def publish(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", "policy", "publish", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


async def test_a_material_change_is_mailed_30_days_ahead_and_bannered(
        clienta_server, server_env, db: Database) -> None:
    org = await signup(clienta_server.url, f"Policy {uuid.uuid4().hex[:6]}")
    today = datetime.now(UTC).date()
    version = f"v-{uuid.uuid4().hex[:8]}"
    soon = await asyncio.to_thread(publish, server_env, "--version", version, "--effective",
                                   (today + timedelta(days=29)).isoformat(), "--material")
    assert soon.returncode == 2 and "at least 30 days" in soon.stderr
    async with db.pool.acquire() as conn:  # the database holds the rule as well
        with pytest.raises(Exception, match="check"):
            await conn.execute(
                "INSERT INTO policy_versions (version, effective_on, material, published_at)"
                " VALUES ('sneaky', $1, true, now())", today + timedelta(days=3))

    effective = (today + timedelta(days=31)).isoformat()
    done = await asyncio.to_thread(publish, server_env, "--version", version, "--effective",
                                   effective, "--material", "--summary", "Backups move.")
    assert done.returncode == 0, done.stderr
    again = await asyncio.to_thread(publish, server_env, "--version", version, "--effective",
                                    effective)
    assert again.returncode == 2 and "exists" in again.stderr

    mail = await wait_for_mail(Path(server_env["CLIENTA_HOME"]) / "mail", org.owner_email,
                               "privacy policy changes")
    assert effective in str(mail["Subject"])
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        r = await http.get("/v1/policy")
        assert r.status_code == 200
        assert r.json()["upcoming"]["version"] in {v["version"] for v in r.json()["versions"]}
        assert version in {v["version"] for v in r.json()["versions"]}
