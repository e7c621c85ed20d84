"""Generated requests against every JSON endpoint of the real server: bodies with each
endpoint's field names and values of any type, any JSON, garbage and deep nesting; GETs
with hostile query and path values. Never a 5xx, always the error shape on a 4xx, always
an answer within a deadline, no error in the server's log, memory bounded."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.fuzz.observe import MAX_RSS_GROWTH, log_errors, log_offset, rss
from tests.fuzz.strategies import EDGE_INTS, garbage, json_values, texts
from tests.support.api import PASSWORD, OrgHandle
from tests.support.processes import ServerProcess
from tests.support.wsclient import stored_visitor

log = logging.getLogger(__name__)

TIMEOUT_S = 15.0  # an answer within this, or the request hung
DEPTH = 100_000
FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def _emails() -> st.SearchStrategy[Any]:
    return st.one_of(st.emails().filter(lambda e: len(e) < 200),
                     st.builds(lambda a, b: f"{a}@{b}.co", texts(10), texts(10)))


def _origins() -> st.SearchStrategy[Any]:
    return st.lists(st.one_of(texts(20).map(lambda t: "https://" + t), texts(20)), max_size=4)


ROLES = st.sampled_from(["owner", "admin", "agent", "viewer", "", "OWNER", "owner\x00"])


def clean(min_size: int = 1, max_size: int = 40) -> st.SearchStrategy[str]:
    """Any printable text, so that a request gets past validation to the database."""
    return st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                   min_size=min_size, max_size=max_size).filter(str.strip)


def fields(org: OrgHandle) -> dict[str, dict[str, st.SearchStrategy[Any]]]:
    """Each endpoint's fields, with values that pass (a login for an account that exists,
    printable text), or are near what it wants (NUL, surrogates, lengths at the bounds)."""
    emails = st.one_of(_emails(), st.just(org.owner_email))
    passwords = st.one_of(texts(16), st.just(PASSWORD), clean(8, 40))
    names = st.one_of(texts(), clean())
    return {
        "signup": {"org_name": names, "email": emails, "password": passwords, "name": names},
        "login": {"email": emails, "password": passwords, "cookie": st.booleans()},
        "users": {"email": emails, "password": passwords, "name": names, "role": ROLES},
        "org": {"allowed_origins": _origins(),
                "assignment": st.sampled_from(["manual", "auto", "Auto", ""]),
                "agent_capacity": st.one_of(st.integers(-2, 102), st.sampled_from(EDGE_INTS))},
        "tags": {"tags": st.lists(st.one_of(texts(44), clean(1, 40)), max_size=22)},
        # "taken" is another canned response's shortcut: a conflict, not a 500
        "canned": {"shortcut": st.one_of(texts(42), clean(1, 40), st.just("taken")),
                   "text": st.one_of(texts(60), clean(1, 200))},
        "kb": {"title": names, "text": st.one_of(texts(200), clean(1, 400)),
               "url": st.one_of(texts(30).map(lambda t: "https://" + t), texts(30))},
    }


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {conv}, {canned}, {doc}: ids of real rows of the org, or fuzzed
    fields: str  # a key of fields()
    auth: bool = True


WRITES = [
    Endpoint("POST", "/v1/signup", "signup", auth=False),
    Endpoint("POST", "/v1/login", "login", auth=False),
    Endpoint("POST", "/v1/users", "users"),
    Endpoint("PATCH", "/v1/org", "org"),
    Endpoint("PUT", "/v1/conversations/{conv}/tags", "tags"),
    Endpoint("POST", "/v1/canned", "canned"),
    Endpoint("PATCH", "/v1/canned/{canned}", "canned"),
    Endpoint("POST", "/v1/kb/documents", "kb"),
    Endpoint("PUT", "/v1/kb/documents/{doc}", "kb"),
]
# query parameters each GET reads
READS: dict[str, list[str]] = {
    "/v1/conversations": ["mode", "status", "assignee", "limit", "cursor"],
    "/v1/conversations/{conv}": [],
    "/v1/conversations/{conv}/messages": ["after", "limit"],
    "/v1/canned": [],
    "/v1/org": [],
    "/v1/kb/documents": ["limit", "offset"],
    "/v1/kb/documents/{doc}": [],
    "/v1/kb/unanswered": ["limit"],
    "/v1/kb/search": ["q", "k"],
    "/v1/audit": ["action", "actor", "target", "from", "to", "cursor", "limit"],
    "/healthz": [],
    "/readyz": [],
}
DELETES = ["/v1/canned/{id}", "/v1/kb/documents/{id}"]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain",
                 "multipart/form-data; boundary=x", None]


def _encode(value: Any) -> st.SearchStrategy[bytes]:
    """JSON as a client could send it: escaped (lone surrogates as \\ud800), or raw UTF-8
    (invalid where surrogates are)."""
    return st.sampled_from([json.dumps(value).encode(),
                            json.dumps(value, ensure_ascii=False).encode("utf-8",
                                                                         "surrogatepass")])


def bodies(named: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[bytes]:
    near = st.fixed_dictionaries({}, optional={
        name: st.one_of(good, good, json_values()) for name, good in named.items()})
    # every field near what it wants but one, which may be anything: past the first check
    mostly = st.builds(lambda body, name, value: {**body, name: value},
                       st.fixed_dictionaries(named), st.sampled_from(sorted(named)),
                       json_values()) | st.fixed_dictionaries(named)
    # past the body limit, and under it (past the depth limit and Python's recursion limit)
    deep = ["[" * DEPTH, '{"a":' * DEPTH + "1", "[" * 30_000, '{"a":' * 10_000 + "1"]
    raw = st.one_of(garbage(), st.sampled_from(deep))
    return st.one_of(near.flatmap(_encode), mostly.flatmap(_encode), json_values().flatmap(
        _encode), raw.map(lambda r: r if isinstance(r, bytes) else r.encode()))


def _q(value: str) -> str:
    """Percent-encoded as bytes, so NUL and lone surrogates reach the server."""
    return quote_from_bytes(value.encode("utf-8", "surrogatepass"), safe="")


QUERY_VALUES = st.one_of(st.sampled_from([str(i) for i in EDGE_INTS] + [
    "9" * 5000, "-9" * 30, "1e9", "0x10", " 1", "NaN", "", "me", "none", "open,closed",
    "bot,queued", "1", "true"]), texts(30))


def path_ids(real: str) -> st.SearchStrategy[str]:
    return st.one_of(st.just(real), st.just(real), st.just(real.upper()), st.uuids().map(str),
                     texts(40).map(_q), st.just("%00"), st.just("9" * 400))


def check(response: httpx.Response, what: str, seen: Counter[int]) -> None:
    seen[response.status_code] += 1
    assert response.status_code < 500, f"{what} -> {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body["error"]["code"], str), (what, body)
        assert isinstance(body["error"]["message"], str), (what, body)


@dataclass
class Rows:
    conv: str
    canned: str
    doc: str


@pytest.fixture
async def rows(clienta_server: ServerProcess, org: OrgHandle) -> Rows:
    """One real conversation, canned response and document, so fuzzed writes reach the
    database, not only the 404 path."""
    client, welcome = await stored_visitor(clienta_server.ws_url, org.site_key)
    await client.close()
    doc = await org.add_document("Fuzz", "Opening hours are nine to five.")
    async with httpx.AsyncClient(base_url=org.base_url, timeout=TIMEOUT_S) as http:
        for shortcut in ("taken", "fuzz"):
            r = await http.post("/v1/canned", headers=org.headers(),
                                json={"shortcut": shortcut, "text": "hello"})
            r.raise_for_status()
    return Rows(welcome["conversation_id"], r.json()["id"], doc["document_id"])


@pytest.fixture
def watched(clienta_server: ServerProcess) -> Any:
    offset, before = log_offset(clienta_server), rss(clienta_server)
    yield
    after = rss(clienta_server)
    log.warning("http fuzz: rss %.1f -> %.1f MB", before / 2**20, after / 2**20)
    errors = log_errors(clienta_server, offset)
    assert not errors, "\n".join(errors)
    assert after - before < MAX_RSS_GROWTH, (before, after)


def _fill(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    return path


@pytest.mark.parametrize("endpoint", WRITES, ids=[f"{e.method} {e.path}" for e in WRITES])
def test_json_bodies_get_answers_never_5xx(endpoint: Endpoint, org: OrgHandle, rows: Rows,
                                           watched: None) -> None:
    with httpx.Client(base_url=org.base_url, timeout=TIMEOUT_S) as http:

        real = {"ctype": "application/json", "conv": rows.conv, "canned": rows.canned,
                "doc": rows.doc}

        @FUZZ
        @given(body=bodies(fields(org)[endpoint.fields]), ctype=st.sampled_from(CONTENT_TYPES),
               conv=path_ids(rows.conv), canned=path_ids(rows.canned), doc=path_ids(rows.doc))
        # found by this suite: PATCH /v1/canned/{id} answered 500 to both (asyncpg refused a
        # nested transaction inside the unit of work)
        @example(body=b"{}", **real)
        @example(body=b'{"shortcut": "taken"}', **real)
        def probe(body: bytes, ctype: str | None, conv: str, canned: str, doc: str) -> None:
            headers = org.headers() if endpoint.auth else {}
            if ctype is not None:
                headers["Content-Type"] = ctype
            path = _fill(endpoint.path, {"conv": conv, "canned": canned, "doc": doc})
            r = http.request(endpoint.method, path, content=body, headers=headers)
            check(r, f"{endpoint.method} {path} {body[:300]!r} ({ctype})", seen)

        seen: Counter[int] = Counter()
        probe()
        log.warning("%s %s: %s", endpoint.method, endpoint.path, dict(seen))


@pytest.mark.parametrize("path", sorted(READS))
def test_query_values_get_answers_never_5xx(path: str, org: OrgHandle, rows: Rows,
                                            watched: None) -> None:
    with httpx.Client(base_url=org.base_url, timeout=TIMEOUT_S) as http:

        @settings(FUZZ, max_examples=30)
        @given(params=st.dictionaries(st.sampled_from(READS[path]), QUERY_VALUES, max_size=4)
               if READS[path] else st.just({}),
               junk=st.dictionaries(texts(8), QUERY_VALUES, max_size=1),
               conv=path_ids(rows.conv), doc=path_ids(rows.doc))
        def probe(params: dict[str, str], junk: dict[str, str], conv: str, doc: str) -> None:
            query = "&".join(f"{_q(k)}={_q(v)}" for k, v in {**junk, **params}.items())
            url = _fill(path, {"conv": conv, "doc": doc}) + ("?" + query if query else "")
            check(http.get(url, headers=org.headers()), f"GET {url[:300]}", seen)

        seen: Counter[int] = Counter()
        probe()
        log.warning("GET %s: %s", path, dict(seen))


@pytest.mark.parametrize("path", DELETES)
def test_path_ids_get_answers_never_5xx(path: str, org: OrgHandle, watched: None) -> None:
    with httpx.Client(base_url=org.base_url, timeout=TIMEOUT_S) as http:

        @settings(FUZZ, max_examples=30)
        @given(ident=path_ids("00000000-0000-0000-0000-000000000000"))
        def probe(ident: str) -> None:
            url = path.replace("{id}", ident)
            check(http.delete(url, headers=org.headers()), f"DELETE {url[:300]}", seen)

        seen: Counter[int] = Counter()
        probe()
        log.warning("DELETE %s: %s", path, dict(seen))
