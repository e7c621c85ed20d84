"""Google sign-in end to end: a real server configured for a fake OpenID Connect provider on
127.0.0.1 (tests/fakes/oidc_server.py), an httpx client following the real redirects with
its own cookie jar, the real database. Sign-up, sign-in again, every refused callback, an
existing password account linked only after its password, an invitation, and 404 when off."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from server.storage.db import Database
from tests.fakes.oidc_server import FakeOidcServer, NextToken, Person
from tests.support.api import PASSWORD, OrgHandle, signup
from tests.support.google import start_google_server
from tests.support.mailbox import link_token, wait_for_mail
from tests.support.processes import ServerProcess

pytestmark = pytest.mark.asyncio(loop_scope="session")

CSRF = {"x-clienta-csrf": "1"}


@pytest.fixture(scope="module")
def idp() -> Iterator[FakeOidcServer]:
    with FakeOidcServer().threaded() as fake:
        yield fake


@pytest.fixture(scope="module")
def google_server(idp: FakeOidcServer, server_env: dict[str, str],
                  session_dir: Path) -> Iterator[ServerProcess]:
    server = start_google_server(idp, server_env, session_dir / "google-home", session_dir)
    yield server
    server.stop()
    server.assert_no_unhandled()


@pytest.fixture
def person(idp: FakeOidcServer) -> Person:
    idp.person = Person(email=f"g-{uuid.uuid4().hex[:10]}@gmail.test", name="Gina Google")
    idp.next_token = NextToken()
    idp.deny = False
    return idp.person


def browser(server: ServerProcess) -> httpx.AsyncClient:
    """One browser: its own cookie jar, following redirects as a browser does."""
    return httpx.AsyncClient(base_url=server.url, timeout=30, follow_redirects=True)


async def sign_in(http: httpx.AsyncClient, query: str = "") -> str:
    """Start, approve at the provider, come back: where the callback sends the console."""
    r = await http.get("/v1/auth/google/start" + query)
    assert r.status_code == 200, r.text  # the console page, at the end of the redirects
    callback = r.history[-1]
    assert urlsplit(str(callback.url)).path == "/v1/auth/google/callback"
    assert callback.status_code == 303
    return callback.headers["location"]


async def test_sign_up_with_google_then_sign_in_again(google_server: ServerProcess,
                                                      person: Person, db: Database) -> None:
    async with browser(google_server) as http:
        assert await sign_in(http) == "/console#google"
        r = await http.get("/v1/auth/google/pending")
        assert r.json() == {"step": "signup", "email": person.email, "name": person.name}
        r = await http.post("/v1/auth/google/complete", json={}, headers=CSRF)
        assert r.status_code == 422  # a new organisation needs its name
        r = await http.post("/v1/auth/google/complete", json={"org_name": "Gina's shop"},
                            headers=CSRF)
        assert r.status_code == 201, r.text
        first = r.json()
        assert first["role"] == "owner" and first["site_key"].startswith("sk_")
        me = await http.get("/v1/org", headers={"Authorization": f"Bearer {first['token']}"})
        assert me.status_code == 200 and me.json()["name"] == "Gina's shop"
        # the outcome was spent: the cookie is gone and nothing waits any more
        assert (await http.get("/v1/auth/google/pending")).status_code == 404

    async with browser(google_server) as http:  # another day, another browser
        assert await sign_in(http) == "/console#google"
        assert (await http.get("/v1/auth/google/pending")).json()["step"] == "signed_in"
        r = await http.post("/v1/auth/google/complete", json={}, headers=CSRF)
        assert r.status_code == 200, r.text
        again = r.json()
        assert (again["user_id"], again["org_id"]) == (first["user_id"], first["org_id"])
        assert again["token"] != first["token"]
        # no password was ever set: one cannot log in with none
        r = await http.post("/v1/login", json={"email": person.email, "password": PASSWORD})
        assert r.status_code == 401
    async with db.unscoped() as conn:
        row = await conn.fetchrow(
            "SELECT google_sub, email_verified_at FROM users WHERE id = $1",
            uuid.UUID(first["user_id"]))
    assert row["google_sub"] == person.sub and row["email_verified_at"] is not None


async def test_pkce_and_the_client_secret_reach_the_provider(google_server: ServerProcess,
                                                             idp: FakeOidcServer,
                                                             person: Person) -> None:
    async with browser(google_server) as http:
        r = await http.get("/v1/auth/google/start", follow_redirects=False)
        assert r.status_code == 303
        q = parse_qs(urlsplit(r.headers["location"]).query)
        assert q["code_challenge_method"] == ["S256"] and q["nonce"][0] and q["state"][0]
        assert q["redirect_uri"] == [google_server.url + "/v1/auth/google/callback"]
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert "path=/v1/auth/google" in cookie
        calls = len(idp.token_calls)
        assert await sign_in(http) == "/console#google"
    form = idp.token_calls[calls]
    assert len(form["code_verifier"]) >= 43 and "client_secret" not in form  # Basic auth


async def _callback_url(http: httpx.AsyncClient) -> str:
    """Start in this browser and approve at the provider, stopping before coming back."""
    r = await http.get("/v1/auth/google/start", follow_redirects=False)
    r = await http.get(r.headers["location"], follow_redirects=False)
    assert r.status_code == 302
    return r.headers["location"]


def _with(url: str, **params: str) -> str:
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()} | params
    return parts._replace(query=urlencode(q)).geturl()


async def test_a_tampered_or_foreign_or_replayed_state_is_refused(
        google_server: ServerProcess, person: Person) -> None:
    async with browser(google_server) as http:
        url = await _callback_url(http)
        r = await http.get(_with(url, state="A" + parse_qs(urlsplit(url).query)["state"][0]))
        assert r.history[0].headers["location"] == "/console#google_error=bad_state"
        assert (await http.get("/v1/auth/google/pending")).status_code == 404

    # login CSRF: the attacker's own callback URL opened in the victim's browser
    async with browser(google_server) as attacker, browser(google_server) as victim:
        url = await _callback_url(attacker)
        r = await victim.get(url)
        assert r.history[0].headers["location"] == "/console#google_error=bad_state"
        assert (await victim.get("/v1/auth/google/pending")).status_code == 404

    async with browser(google_server) as http:  # a flow is spent once
        url = await _callback_url(http)
        state = parse_qs(urlsplit(url).query)["state"][0]
        r = await http.get(url)
        assert r.history[0].headers["location"] == "/console#google"
        http.cookies.set("clienta_google_flow", state, path="/v1/auth/google")
        r = await http.get(url)
        assert r.history[0].headers["location"] == "/console#google_error=flow_expired"


@pytest.mark.parametrize(("fault", "code"), [
    (NextToken(nonce="not-the-nonce-we-sent"), "bad_nonce"),
    (NextToken(other_key=True), "bad_signature"),
    (NextToken(exp_offset_s=-600), "expired"),
    (NextToken(audience="another-client.apps.googleusercontent.com"), "bad_claims"),
])
async def test_an_id_token_that_fails_a_check_opens_nothing(
        google_server: ServerProcess, idp: FakeOidcServer, person: Person, db: Database,
        fault: NextToken, code: str) -> None:
    idp.next_token = fault
    async with browser(google_server) as http:
        assert await sign_in(http) == f"/console#google_error={code}"
        assert (await http.get("/v1/auth/google/pending")).status_code == 404
    async with db.unscoped() as conn:
        assert await conn.fetchval("SELECT count(*) FROM users WHERE lower(email) = lower($1)",
                                   person.email) == 0


async def test_an_unverified_address_or_a_refusal_opens_nothing(
        google_server: ServerProcess, idp: FakeOidcServer, person: Person) -> None:
    person.email_verified = False
    async with browser(google_server) as http:
        assert await sign_in(http) == "/console#google_error=email_unverified"
    idp.deny = True
    async with browser(google_server) as http:
        assert await sign_in(http) == "/console#google_error=denied"


async def test_a_password_account_is_linked_only_once_its_password_is_proved(
        google_server: ServerProcess, person: Person, db: Database) -> None:
    org: OrgHandle = await signup(google_server.url, "Has a password")
    person.email = org.owner_email.upper()  # Google's address, another case
    async with browser(google_server) as http:
        assert await sign_in(http) == "/console#google"
        r = await http.get("/v1/auth/google/pending")
        assert r.json()["step"] == "link" and r.json()["email"] == org.owner_email
        for body, status in (({}, 422), ({"password": "not-the-password!"}, 401)):
            r = await http.post("/v1/auth/google/complete", json=body, headers=CSRF)
            assert r.status_code == status, r.text
            assert "token" not in r.json()
        r = await http.post("/v1/auth/google/complete", json={"password": PASSWORD})
        assert r.status_code == 403  # the pending cookie is a credential: CSRF header needed
        async with db.unscoped() as conn:
            assert await conn.fetchval("SELECT google_sub FROM users WHERE lower(email) ="
                                       " lower($1)", org.owner_email) is None

        async with browser(google_server) as other:  # a second Google sign-in: still no
            await sign_in(other)
            assert (await other.get("/v1/auth/google/pending")).json()["step"] == "link"

        r = await http.post("/v1/auth/google/complete", json={"password": PASSWORD},
                            headers=CSRF)
        assert r.status_code == 200, r.text
        assert r.json()["org_id"] == org.org_id
    async with browser(google_server) as http:  # from now on Google alone signs in
        await sign_in(http)
        assert (await http.get("/v1/auth/google/pending")).json()["step"] == "signed_in"
        r = await http.post("/v1/auth/google/complete", json={"cookie": True}, headers=CSRF)
        assert r.status_code == 200 and r.json()["org_id"] == org.org_id
        assert "clienta_session" in r.cookies
    async with db.unscoped() as conn:
        actions = {row["action"] for row in await conn.fetch(
            "SELECT action FROM audit_log WHERE org_id = $1", uuid.UUID(org.org_id))}
    assert {"auth.google_linked", "auth.sign_in_failed"} <= actions


async def test_an_invitation_is_accepted_with_google(google_server: ServerProcess,
                                                     idp: FakeOidcServer, person: Person,
                                                     session_dir: Path) -> None:
    # the owner signs up with Google too: an address Google verified may invite at once
    idp.person = Person(email=f"owner-{uuid.uuid4().hex[:8]}@gmail.test")
    async with browser(google_server) as http:
        await sign_in(http)
        r = await http.post("/v1/auth/google/complete", json={"org_name": "Invites by Google"},
                            headers=CSRF)
        owner = r.json()
    idp.person = person
    async with httpx.AsyncClient(base_url=google_server.url, timeout=30) as api:
        r = await api.post("/v1/invites", headers={"Authorization": f"Bearer {owner['token']}"},
                           json={"email": person.email, "role": "agent"})
        assert r.status_code == 201, r.text
    mail = await wait_for_mail(session_dir / "google-home" / "mail", person.email)
    token = link_token(mail, "invite")
    async with browser(google_server) as http:
        r = await http.get("/v1/auth/google/start?invite=" + "x" + token[1:],
                           follow_redirects=False)
        assert r.status_code == 400  # a tampered invitation fails before Google is asked
        assert await sign_in(http, "?invite=" + token) == "/console#google"
        pending = (await http.get("/v1/auth/google/pending")).json()
        assert pending["step"] == "invited" and pending["org_name"] == "Invites by Google"
        r = await http.post("/v1/auth/google/complete", json={}, headers=CSRF)
        assert r.status_code == 200, r.text
        assert (r.json()["org_id"], r.json()["role"]) == (owner["org_id"], "agent")
    async with browser(google_server) as http:  # the link was spent; Google signs in
        r = await http.get("/v1/auth/google/start?invite=" + token, follow_redirects=False)
        assert r.status_code == 410
        await sign_in(http)
        assert (await http.get("/v1/auth/google/pending")).json()["step"] == "signed_in"


async def test_off_when_not_configured(clienta_server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        assert (await http.get("/v1/auth/methods")).json() == {"password": True,
                                                               "google": False}
        for path in ("/v1/auth/google/start", "/v1/auth/google/callback?state=a&code=b",
                     "/v1/auth/google/pending"):
            r = await http.get(path)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = await http.post("/v1/auth/google/complete", json={}, headers=CSRF)
        assert r.status_code == 404
