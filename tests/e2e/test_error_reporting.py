"""Errors reach Sentry without personal data: a real `clienta serve` with `SENTRY_DSN` set
reports to a fake Sentry ingest on 127.0.0.1. The errors are real: the database refuses a
row carrying a marker (a trigger whose message quotes the row, as a constraint's DETAIL
would), once through an HTTP handler and once through a visitor's websocket frame."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
import pytest_asyncio

from server.storage.db import Database
from tests.fakes.sentry_server import FakeSentry
from tests.support.api import OrgHandle, signup
from tests.support.processes import ServerProcess
from tests.support.wsclient import visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLIENT_IP = "203.0.113.77"
ASGI_FAILURE = "Exception in ASGI application"


@pytest.fixture
def sentry() -> Iterator[FakeSentry]:
    with FakeSentry().threaded() as fake:
        yield fake


@pytest_asyncio.fixture(loop_scope="session")
async def refusing(db: Database) -> AsyncIterator[str]:
    """A marker the database refuses in a stored message or canned response, with an error
    whose message quotes the whole row (so the text, and whatever else it holds)."""
    marker = "mk" + uuid.uuid4().hex[:12]
    function = f"refuse_{marker}"
    async with db.pool.acquire() as conn:
        await conn.execute(f"""
            CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF to_jsonb(NEW)::text LIKE '%{marker}%'
                        OR to_jsonb(NEW)::text LIKE '%{_trip(marker)}%' THEN
                    RAISE EXCEPTION 'refused row %', to_jsonb(NEW)::text
                        USING DETAIL = to_jsonb(NEW)::text;
                END IF;
                RETURN NEW;
            END $$""")
        for table in ("events", "canned_responses"):
            await conn.execute(f"CREATE TRIGGER {function} BEFORE INSERT ON {table} "
                               f"FOR EACH ROW EXECUTE FUNCTION {function}()")
    try:
        yield marker
    finally:
        async with db.pool.acquire() as conn:
            for table in ("events", "canned_responses"):
                await conn.execute(f"DROP TRIGGER {function} ON {table}")
            await conn.execute(f"DROP FUNCTION {function}()")


def _trip(marker: str) -> str:
    """A client id the trigger refuses too: message text is sealed at rest, so the trigger
    cannot see the marker in it; the row's client id is what makes its insert fail."""
    return "trip-" + marker[::-1]


def _secret_text(marker: str) -> tuple[str, str]:
    email = f"{marker}.person@example.com"
    return email, f"call me at {email}, my token is {marker}-ct_Zx9Zx9Zx9Zx9Zx9Zx9Zx9Zx9"


async def _fail_a_canned_write(org: OrgHandle, text: str, visitor_token: str) -> None:
    """The handler's insert raises: a 500 in the contract's error shape."""
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as http:
        r = await http.post(
            "/v1/canned", params={"site_key": org.site_key, "visitor_token": visitor_token},
            json={"shortcut": f"s{uuid.uuid4().hex[:8]}", "text": text},
            headers={**org.headers(), "X-Forwarded-For": CLIENT_IP,
                     "Cookie": f"clienta_session={org.owner_token}; theme=dark"})
    assert r.status_code == 500, r.text
    assert r.json()["error"]["code"] == "internal"


async def _fail_a_visitor_message(server: ServerProcess, org: OrgHandle, text: str,
                                  client_id: str) -> str:
    """The message's insert raises: the frame is answered `error`, the session goes on."""
    client, welcome = await visitor(server.ws_url, org.site_key)
    try:
        await client.send({"t": "msg", "id": client_id, "text": text})
        error = await client.expect("error", ref=client_id)
        assert error["code"] == "bad_frame"
    finally:
        await client.close()
    return welcome["visitor_token"]


def _consume_expected_failures(server: ServerProcess, *wanted: str) -> None:
    """The failures caused on purpose are in the log (as ids and types): read them, so the
    no-unhandled-errors check at teardown looks only at the rest. uvicorn logs its own line
    for a failed request after the 500 has gone out: waited for too."""
    found: list[str] = []
    deadline = time.monotonic() + 15
    while not all(any(w in line for line in found) for w in wanted):
        assert time.monotonic() < deadline, (wanted, found)
        found += server.unhandled()
        time.sleep(0.05)
    assert all("RaiseError" in line for line in found if '"exc"' in line), found


def _events_about(fake: FakeSentry, *logged: str) -> Callable[[FakeSentry], list[dict]]:
    def found(_: FakeSentry) -> list[dict]:
        events = fake.events()
        messages = {e.get("logentry", {}).get("message") for e in events}
        return events if set(logged) <= messages else []
    return found


async def test_errors_arrive_in_sentry_with_tags_and_without_personal_data(
        make_server: Callable[..., ServerProcess], sentry: FakeSentry, refusing: str) -> None:
    server = make_server({"SENTRY_DSN": sentry.dsn, "CLIENTA_ENVIRONMENT": "staging",
                          "CLIENTA_RELEASE": "clienta@test-1"})
    org = await signup(server.url, f"Sentry {refusing}")
    email, text = _secret_text(refusing)
    visitor_token = await _fail_a_visitor_message(server, org, text, _trip(refusing))
    await _fail_a_canned_write(org, text, visitor_token)

    events = sentry.wait_for(_events_about(sentry, "frame failed", "unhandled error"))
    _consume_expected_failures(server, "frame failed", "unhandled error", ASGI_FAILURE)

    by_message = {e["logentry"]["message"]: e for e in events}
    for event in by_message.values():
        assert (event["release"], event["environment"]) == ("clienta@test-1", "staging")
        (exc,) = [v for v in event["exception"]["values"] if v["type"] == "RaiseError"]
        assert exc["module"] == "asyncpg.exceptions" and exc["value"] == "sqlstate=P0001"
        assert "user" not in event
    assert by_message["frame failed"]["extra"]["kind"] == "visitor"
    request = by_message["unhandled error"]["request"]
    assert request["method"] == "POST" and request["url"].endswith("/v1/canned")
    assert request["query_string"] == "site_key=[Filtered]&visitor_token=[Filtered]"
    assert {h.lower() for h in request["headers"]} <= {"host", "accept", "accept-encoding",
                                                       "connection", "content-length",
                                                       "content-type"}
    assert "data" not in request and "cookies" not in request and "env" not in request

    everything = b"".join(e.raw for e in sentry.snapshot()).decode()
    for secret in (refusing, email, text, org.owner_token, visitor_token, org.site_key,
                   CLIENT_IP, org.owner_email, "theme=dark"):
        assert secret not in everything, secret
    assert sentry.refused == 0


async def test_the_sample_rate_decides_what_is_sent(
        make_server: Callable[..., ServerProcess], sentry: FakeSentry, refusing: str) -> None:
    """At rate 0 the error is dropped in the server: the SDK's client report, sent when the
    server stops, counts it as discarded by the sample rate, and no event ever arrives."""
    server = make_server({"SENTRY_DSN": sentry.dsn, "CLIENTA_SENTRY_SAMPLE_RATE": "0"})
    org = await signup(server.url, f"Sampled {refusing}")
    _, text = _secret_text(refusing)
    await _fail_a_canned_write(org, text, "none")
    _consume_expected_failures(server, "unhandled error", ASGI_FAILURE)
    server.stop()

    def discarded(fake: FakeSentry) -> list[dict]:
        return [d for item in fake.items("client_report")
                for d in item.json().get("discarded_events", [])
                if d == {"reason": "sample_rate", "category": "error", "quantity": 1}]

    assert sentry.wait_for(discarded)
    assert sentry.events() == []
    assert refusing not in json.dumps([e.header for e in sentry.snapshot()])
