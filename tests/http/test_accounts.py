"""Accounts: sign-up, login, users and roles, tokens stored only as hashes, expiry."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest

from server.storage.db import Database
from tests.support.api import PASSWORD, signup

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_signup_login_and_roles(clienta_server) -> None:
    org = await signup(clienta_server.url)
    async with httpx.AsyncClient(base_url=clienta_server.url) as http:
        r = await http.post("/v1/login", json={"email": org.owner_email.upper(),
                                               "password": PASSWORD})
        body = r.json()
        assert r.status_code == 200 and body["role"] == "owner" and body["org_id"] == org.org_id
        wrong = await http.post("/v1/login",
                                json={"email": org.owner_email, "password": "nope1234"})
        nobody = await http.post("/v1/login",
                                 json={"email": "ghost@x.io", "password": "nope1234"})
        assert wrong.status_code == nobody.status_code == 401
        assert wrong.json() == nobody.json()  # the same answer for any wrong pair
        again = await http.post("/v1/signup", json={"org_name": "X", "email": org.owner_email,
                                                    "password": PASSWORD})
        # a taken address is not revealed (test_accounts_hardening proves the rest)
        assert again.status_code == 201
        assert set(again.json()) == {"org_id", "user_id", "site_key", "token"}
        short = await http.post("/v1/signup", json={"org_name": "X", "email": "a@b.co",
                                                    "password": "short"})
        assert short.status_code == 422 and short.json()["error"]["code"] == "bad_request"
    admin = await org.add_user("admin")
    agent = await org.add_user("agent")
    async with httpx.AsyncClient(base_url=clienta_server.url) as http:
        def new(role: str) -> dict:
            return {"email": f"{uuid.uuid4().hex[:8]}@t.io", "password": PASSWORD, "name": "N",
                    "role": role}
        assert (await http.post("/v1/users", json=new("agent"),
                                headers=org.headers(admin["token"]))).status_code == 201
        assert (await http.post("/v1/users", json=new("owner"),
                                headers=org.headers(admin["token"]))).status_code == 403
        assert (await http.post("/v1/users", json=new("agent"),
                                headers=org.headers(agent["token"]))).status_code == 403
        assert (await http.post("/v1/users", json=new("wizard"),
                                headers=org.headers())).status_code == 422
        assert (await http.post("/v1/users", json=new("agent"))).status_code == 401
        cookie = await http.post("/v1/login", json={"email": org.owner_email,
                                                    "password": PASSWORD, "cookie": True},
                                 headers={"X-Clienta-CSRF": "1"})
        assert "httponly" in cookie.headers["set-cookie"].lower()


async def test_tokens_are_hashed_and_expire(clienta_server, db: Database) -> None:
    org = await signup(clienta_server.url)
    async with db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT token_hash FROM auth_tokens WHERE org_id = $1",
                                uuid.UUID(org.org_id))
        assert rows and all(r["token_hash"] == hashlib.sha256(org.owner_token.encode()).digest()
                            for r in rows)
        dump = str(await conn.fetch("SELECT * FROM auth_tokens WHERE org_id = $1",
                                    uuid.UUID(org.org_id)))
        assert org.owner_token not in dump
        hashes = await conn.fetch("SELECT password_hash FROM users WHERE org_id = $1",
                                  uuid.UUID(org.org_id))
        assert hashes[0]["password_hash"].startswith("$argon2id$")
        async with httpx.AsyncClient(base_url=clienta_server.url) as http:
            assert (await http.get("/v1/org", headers=org.headers())).status_code == 200
            await conn.execute("UPDATE auth_tokens SET expires_at = now() - interval '1 second'"
                               " WHERE org_id = $1", uuid.UUID(org.org_id))
            assert (await http.get("/v1/org", headers=org.headers())).status_code == 401
