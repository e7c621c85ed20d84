"""Accounts against hostile use: sign-ups and logins throttled (429 + Retry-After), the
password policy's refusals, a taken address not revealed, CSRF on cookie-authenticated
writes, and the agent socket's Origin check."""

from __future__ import annotations

import asyncio
import email
import email.policy
import secrets
import uuid
from pathlib import Path

import httpx
import pytest

from server.storage.db import Database
from tests.support.api import PASSWORD, OrgHandle
from tests.support.wsclient import WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

CSRF = {"X-Clienta-CSRF": "1"}


def _fresh_ip() -> str:
    """A client address of its own per scenario (the counters live in the session's shared
    Redis): named through X-Forwarded-For, which the server trusts from 127.0.0.1."""
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def _new_signup(password: str = PASSWORD) -> dict[str, str]:
    return {"org_name": "Throttled", "email": f"o-{uuid.uuid4().hex[:10]}@test.clienta",
            "password": password}


@pytest.fixture
def limited(make_server):
    return make_server({"CLIENTA_QUOTA_IP_SIGNUPS": "3/60", "CLIENTA_QUOTA_IP_LOGINS": "30/300",
                        "CLIENTA_QUOTA_ACCOUNT_LOGINS": "10/300",
                        "CLIENTA_TRUSTED_PROXIES": "127.0.0.1"})


def _rate_limited(r: httpx.Response) -> bool:
    return (r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
            and int(r.headers["retry-after"]) >= 1)


async def test_signups_are_throttled_per_ip(limited) -> None:
    ip, other = {"X-Forwarded-For": _fresh_ip()}, {"X-Forwarded-For": _fresh_ip()}
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as http:
        answers = [await http.post("/v1/signup", json=_new_signup(), headers=ip)
                   for _ in range(5)]
        assert [r.status_code for r in answers[:3]] == [201, 201, 201]
        assert all(_rate_limited(r) for r in answers[3:])
        assert int(answers[3].headers["retry-after"]) <= 60
        # the limit is the address's, not the server's
        assert (await http.post("/v1/signup", json=_new_signup(), headers=other)).status_code \
            == 201


async def test_fifty_wrong_passwords_meet_429s(limited) -> None:
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as http:
        victim = _new_signup()
        r = await http.post("/v1/signup", json=victim, headers={"X-Forwarded-For": _fresh_ip()})
        assert r.status_code == 201
        # one address guessing one account: its 10 failures, then 429s, even for the
        # right password (the account's window has to pass first)
        ip = {"X-Forwarded-For": _fresh_ip()}
        codes = [(await http.post("/v1/login", headers=ip, json={
            "email": victim["email"], "password": f"wrong-guess-{n}"})).status_code
            for n in range(50)]
        assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}, codes
        right = await http.post("/v1/login", headers={"X-Forwarded-For": _fresh_ip()},
                                json={"email": victim["email"], "password": PASSWORD})
        assert _rate_limited(right)
        # one address spraying many accounts: 30 attempts, then 429s
        ip = {"X-Forwarded-For": _fresh_ip()}
        sprayed = [await http.post("/v1/login", headers=ip, json={
            "email": f"nobody-{n}@test.clienta", "password": "wrong-guess"}) for n in range(50)]
        assert [r.status_code for r in sprayed[:30]] == [401] * 30
        assert all(_rate_limited(r) for r in sprayed[30:])
        # someone else, elsewhere, still logs in
        other = _new_signup()
        await http.post("/v1/signup", json=other, headers={"X-Forwarded-For": _fresh_ip()})
        ok = await http.post("/v1/login", headers={"X-Forwarded-For": _fresh_ip()},
                             json={"email": other["email"], "password": PASSWORD})
        assert ok.status_code == 200


@pytest.mark.parametrize(("password", "reason"), [
    ("short-pw", "at least 10 characters"),
    ("password123", "one of the most common passwords"),
    ("QWERTYUIOP", "one of the most common passwords"),
    ("aaaaaaaaaaaaaa", "one character repeated"),
    ("{local}", "your email address"),
])
async def test_weak_passwords_are_refused_with_the_reason(clienta_server, password: str,
                                                          reason: str) -> None:
    local = f"weak-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        r = await http.post("/v1/signup", json={
            "org_name": "Weak", "email": f"{local}@test.clienta",
            "password": password.format(local=local)})
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "bad_request"
        assert reason in r.json()["error"]["message"]


async def test_adding_a_user_applies_the_policy_too(org: OrgHandle) -> None:
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as http:
        r = await http.post("/v1/users", headers=org.headers(), json={
            "email": f"u-{uuid.uuid4().hex[:8]}@test.clienta", "password": "iloveyou12",
            "name": "U", "role": "agent"})
        assert r.status_code == 422 and "most common" in r.json()["error"]["message"]


def _notices(home: Path, address: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted((home / "mail").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            found.append(message)
    return found


async def _notices_within(home: Path, address: str,
                          limit_s: float = 15.0) -> list[email.message.EmailMessage]:
    """The outbox worker writes queued mail soon after the request: poll for it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not (found := _notices(home, address)) and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # files on disk: nothing to wait on
    return found


async def test_a_taken_address_is_not_revealed(clienta_server, org: OrgHandle,
                                               db: Database) -> None:
    home = Path(clienta_server.env["CLIENTA_HOME"])
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        fresh = await http.post("/v1/signup", json=_new_signup())
        taken = await http.post("/v1/signup", json={
            "org_name": "Impostor", "email": org.owner_email.upper(),
            "password": "another-long-password"})
        # the same answer from the outside: status, keys and the look of every value
        assert fresh.status_code == taken.status_code == 201
        a, b = fresh.json(), taken.json()
        assert a.keys() == b.keys() == {"org_id", "user_id", "site_key", "token"}
        for key in ("site_key", "token"):
            assert len(a[key]) == len(b[key]) and a[key][:3] == b[key][:3]
        for key in ("org_id", "user_id"):
            assert uuid.UUID(a[key]).version == uuid.UUID(b[key]).version == 4
        # ...that grants nothing
        assert (await http.get("/v1/org", headers={
            "Authorization": f"Bearer {b['token']}"})).status_code == 401
        assert (await http.post("/v1/login", json={
            "email": org.owner_email, "password": "another-long-password"})).status_code == 401
        assert (await http.post("/v1/login", json={
            "email": org.owner_email, "password": PASSWORD})).status_code == 200
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orgs WHERE id = $1 OR site_key = $2",
                                   uuid.UUID(b["org_id"]), b["site_key"]) == 0
        assert await conn.fetchval("SELECT count(*) FROM users WHERE lower(email) = lower($1)",
                                   org.owner_email) == 1
    denied = await WsClient(
        f"{clienta_server.ws_url}/v1/ws/visitor?site_key={b['site_key']}").connect()
    assert await denied.wait_closed() == 4003
    # the owner is told instead (the address as it was typed; the match is case-blind)
    notices = await _notices_within(home, org.owner_email.upper())
    assert len(notices) == 1
    assert "already has an account" in notices[0].get_body(("plain",)).get_content()
    assert "already has an account" in notices[0].get_body(("html",)).get_content()


async def _cookie(http: httpx.AsyncClient, org: OrgHandle) -> str:
    r = await http.post("/v1/login", headers=CSRF, json={
        "email": org.owner_email, "password": PASSWORD, "cookie": True})
    assert r.status_code == 200
    return r.cookies["clienta_session"]


async def test_cookie_writes_need_the_csrf_header_and_our_origin(clienta_server,
                                                                 org: OrgHandle) -> None:
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        cookie = {"Cookie": f"clienta_session={await _cookie(http, org)}"}

        def user() -> dict[str, str]:
            return {"email": f"c-{uuid.uuid4().hex[:8]}@test.clienta", "password": PASSWORD,
                    "name": "C", "role": "agent"}

        async def post(headers: dict[str, str], **kwargs) -> httpx.Response:
            http.cookies.clear()  # only the header names the cookie
            return await http.post("/v1/users", headers=headers, **kwargs)

        # what a cross-site form can send: text/plain, no custom header
        form = await post(cookie | {"Content-Type": "text/plain",
                                    "Origin": "https://evil.example"},
                          content=f'{{"role": "agent", "x": "="}}{user()}'.encode())
        assert form.status_code == 403 and form.json()["error"]["code"] == "forbidden"
        assert (await post(cookie, json=user())).status_code == 403
        assert (await post(cookie | CSRF | {"Origin": "https://evil.example"},
                           json=user())).status_code == 403
        assert (await post(cookie | CSRF | {"Referer": "https://evil.example/page"},
                           json=user())).status_code == 403
        assert (await post(cookie | CSRF | {"Origin": "null"}, json=user())).status_code == 403
        # the console's own requests: the header, our origin (or none named)
        assert (await post(cookie | CSRF | {"Origin": clienta_server.url},
                           json=user())).status_code == 201
        assert (await post(cookie | CSRF, json=user())).status_code == 201
        # reads need nothing more
        http.cookies.clear()
        assert (await http.get("/v1/org", headers=cookie)).status_code == 200
        # bearer requests are untouched, even from another origin (no browser sends a
        # bearer token on its own)
        assert (await post(org.headers() | {"Origin": "https://partner.example"},
                           json=user())).status_code == 201
        # a cookie login also needs the header: else a form logs a victim in as someone else
        r = await http.post("/v1/login", json={"email": org.owner_email, "password": PASSWORD,
                                                "cookie": True})
        assert r.status_code == 403 and "set-cookie" not in r.headers


async def test_agent_socket_checks_origin_against_the_org_list(clienta_server,
                                                                org: OrgHandle) -> None:
    url = f"{clienta_server.ws_url}/v1/ws/agent"

    async def hello(origin: str | None) -> WsClient:
        client = await WsClient(url, origin=origin).connect()
        await client.send({"t": "hello", "token": org.owner_token})
        return client

    # no list: any page may open it
    open_org = await hello("https://anywhere.example")
    await open_org.expect("welcome")
    await open_org.close()
    async with httpx.AsyncClient(base_url=org.base_url) as http:
        r = await http.patch("/v1/org", headers=org.headers(),
                             json={"allowed_origins": ["https://desk.shop.example"]})
        assert r.status_code == 200
    foreign = await hello("https://evil.example")
    assert await foreign.wait_closed() == 4003
    assert not foreign.of_type("welcome") and foreign.of_type("error")
    for origin in ("https://desk.shop.example", clienta_server.url, None):
        client = await hello(origin)
        await client.expect("welcome")
        await client.close()
