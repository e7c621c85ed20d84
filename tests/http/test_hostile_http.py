"""Hostile HTTP input: bodies are limited before they are read, and nothing a client sends
(deep JSON, NUL, lone surrogates, huge integers) gets past the edge as a 500."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psutil
import pytest

from server.settings import Settings
from tests.support.api import PASSWORD, OrgHandle
from tests.support.processes import ServerProcess

pytestmark = pytest.mark.asyncio(loop_scope="session")

JSON_LIMIT = Settings().max_json_bytes
NUL = "a\x00b"
SURROGATE = "a\ud800b"  # a lone high surrogate: valid JSON (escaped), not valid UTF-8


def assert_error(r: httpx.Response, statuses: tuple[int, ...], code: str = "bad_request") -> None:
    assert r.status_code in statuses, (r.status_code, r.text)
    assert r.json()["error"]["code"] == code, r.text


def raw_json(body: dict[str, Any]) -> bytes:
    """json.dumps escapes a lone surrogate as \\ud800; httpx's json= cannot encode it."""
    return json.dumps(body).encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    headers = {k.lower(): v for k, v in headers.items()}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    return status, headers, body


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 10) == b""
    except ConnectionResetError:
        return True


async def test_a_huge_declared_body_is_refused_before_it_is_read(
        clienta_server: ServerProcess) -> None:
    assert clienta_server.proc is not None
    server = psutil.Process(clienta_server.proc.pid)
    rss_before = server.memory_info().rss
    reader, writer = await asyncio.open_connection("127.0.0.1", clienta_server.port)
    try:
        writer.write(b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 200000000\r\n\r\n")
        await writer.drain()
        # the answer comes before any of the 200 MB is sent: the server did not wait for it
        status, headers, body = await read_response(reader)
        assert status == 413 and headers["connection"] == "close"
        assert json.loads(body)["error"]["code"] == "too_large"
        assert await closed_by_server(reader)
    finally:
        writer.close()
    assert server.memory_info().rss - rss_before < 50 * 1024 * 1024


async def test_a_chunked_body_over_the_limit_is_cut_off_while_streaming(
        clienta_server: ServerProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", clienta_server.port)
    try:
        writer.write(b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        # one byte past the limit, in a chunk that never ends: a server waiting for the end
        # of the body never answers. Nothing is sent past that byte, so the server's close
        # finds nothing unread and the answer cannot be lost to a reset
        writer.write(b"%x\r\n" % (4 * JSON_LIMIT))
        for _ in range(JSON_LIMIT // 8192):
            writer.write(b"a" * 8192)
        writer.write(b"a" * (JSON_LIMIT % 8192 + 1))
        await writer.drain()
        status, headers, body = await read_response(reader)
        assert status == 413 and headers["connection"] == "close"
        assert json.loads(body)["error"]["code"] == "too_large"
        assert await closed_by_server(reader)
    finally:
        writer.close()


async def test_the_same_connection_serves_on_after_a_body_within_the_limit(
        clienta_server: ServerProcess) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield raw_json({"email": "nobody@test.clienta", "password": "x" * 100})

    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        assert (await http.post("/v1/login", content=chunks(),
                                headers={"content-type": "application/json"})).status_code == 401
        assert (await http.get("/healthz")).status_code == 200


async def test_uploads_have_their_larger_limit(org: OrgHandle) -> None:
    text = "\n".join(f"Line {i} about the upload limit." for i in range(6000))
    assert len(text.encode()) > 2 * JSON_LIMIT

    async def chunked() -> AsyncIterator[bytes]:
        data = raw_json({"title": "Streamed", "text": text})
        for i in range(0, len(data), 16384):
            yield data[i:i + 16384]

    async with httpx.AsyncClient(base_url=org.base_url, headers=org.headers(),
                                 timeout=60) as http:
        r = await http.post("/v1/kb/documents",
                            files={"file": ("big.txt", text.encode(), "text/plain")})
        assert r.status_code in (201, 202), r.text
        r = await http.post("/v1/kb/documents", content=chunked(),
                            headers={"content-type": "application/json"})
        assert r.status_code in (201, 202), r.text
        # the JSON default still holds for other routes
        r = await http.post("/v1/canned", content=raw_json({"shortcut": "x", "text": text}),
                            headers={"content-type": "application/json"})
        assert_error(r, (413,), "too_large")


async def test_deeply_nested_json_is_a_400(org: OrgHandle) -> None:
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as http:
        ctype = {"content-type": "application/json"}
        for levels in (33, 20_000):  # past the depth limit; past Python's recursion limit
            deep = b'{"email": ' + b"[" * levels + b"]" * levels + b"}"
            assert_error(await http.post("/v1/login", content=deep, headers=ctype), (400,))
            assert_error(await http.post("/v1/canned", content=deep,
                                         headers={**ctype, **org.headers()}), (400,))
        hundred_k = b"[" * 100_000 + b"]" * 100_000
        # over the JSON size limit: refused before it is parsed
        assert_error(await http.post("/v1/signup", content=hundred_k, headers=ctype),
                     (413,), "too_large")
        # the upload route takes that size: parsed, and refused
        assert_error(await http.post("/v1/kb/documents", content=hundred_k,
                                     headers={**ctype, **org.headers()}), (400,))
        # real bodies are shallow and pass
        r = await http.patch("/v1/org", json={"allowed_origins": ["https://a.example"]},
                             headers=org.headers())
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
async def test_nul_and_lone_surrogates_in_text_fields_are_422(org: OrgHandle, bad: str) -> None:
    email = f"u-{uuid.uuid4().hex[:8]}@test.clienta"
    signup = {"org_name": "Hostile", "email": email, "password": PASSWORD, "name": "N"}
    user = {"email": email, "password": PASSWORD, "name": "N", "role": "agent"}
    cases: list[tuple[str, str, dict[str, Any], bool]] = []
    for field in signup:
        cases.append(("POST", "/v1/signup", {**signup, field: signup[field] + bad}, False))
    for field in ("email", "password"):
        cases.append(("POST", "/v1/login", {**user, field: user[field] + bad}, False))
    for field in user:
        cases.append(("POST", "/v1/users", {**user, field: user[field] + bad}, True))
    cases += [
        ("POST", "/v1/canned", {"shortcut": "s" + bad, "text": "t"}, True),
        ("POST", "/v1/canned", {"shortcut": "s", "text": "t" + bad}, True),
        ("PATCH", "/v1/org", {"allowed_origins": ["https://a.example" + bad]}, True),
        ("POST", "/v1/kb/documents", {"title": "t" + bad, "text": "Some text."}, True),
        ("POST", "/v1/kb/documents", {"title": "t", "text": "Some text." + bad}, True),
        ("POST", "/v1/kb/documents",
         {"title": "t", "text": "Some text.", "url": "https://a.example/" + bad}, True),
    ]
    async with httpx.AsyncClient(base_url=org.base_url, timeout=30) as http:
        r = await http.post("/v1/canned", json={"shortcut": f"c{uuid.uuid4().hex[:6]}",
                                                "text": "t"}, headers=org.headers())
        canned_id = r.json()["id"]
        conversation_id = uuid.uuid4()
        cases += [
            ("PATCH", f"/v1/canned/{canned_id}", {"text": "t" + bad}, True),
            ("PUT", f"/v1/conversations/{conversation_id}/tags", {"tags": ["t" + bad]}, True),
        ]
        for method, path, body, auth in cases:
            headers = {"content-type": "application/json", **(org.headers() if auth else {})}
            r = await http.request(method, path, content=raw_json(body), headers=headers)
            assert r.status_code == 422, (method, path, body, r.status_code, r.text)
            assert r.json()["error"]["code"] == "bad_request"


def multipart(filename: bytes, fields: dict[str, bytes]) -> tuple[bytes, str]:
    """By hand: httpx percent-encodes control characters in a filename."""
    boundary = uuid.uuid4().hex
    parts = [b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
             % (boundary.encode(), name.encode(), value) for name, value in fields.items()]
    parts.append(b'--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
                 b"Content-Type: text/plain\r\n\r\nSome text.\r\n--%s--\r\n"
                 % (boundary.encode(), filename, boundary.encode()))
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


async def test_nul_in_multipart_names_and_fields_is_422(org: OrgHandle) -> None:
    async with httpx.AsyncClient(base_url=org.base_url, headers=org.headers(),
                                 timeout=30) as http:
        for filename, fields in ((b"a\x00.txt", {}), (b"a.txt", {"title": b"t\x00"}),
                                 (b"a.txt", {"url": b"https://a.example/\x00"})):
            body, ctype = multipart(filename, fields)
            r = await http.post("/v1/kb/documents", content=body,
                                headers={"content-type": ctype})
            assert_error(r, (422,))
        assert (await http.get("/v1/kb/documents")).json()["documents"] == []


def _cursor(ms: str, ident: str = str(uuid.uuid4())) -> str:
    return base64.urlsafe_b64encode(f"{ms}|{ident}".encode()).decode().rstrip("=")


async def test_hostile_query_parameters_and_cursors_are_4xx(org: OrgHandle) -> None:
    conversation = f"/v1/conversations/{uuid.uuid4()}/messages"
    numbers = [str(10**30), str(2**63), "-1", "abc", "1e3", "1_0", "١٢", "", " 7", "\x00"]
    cases = [(conversation, name, value) for name in ("after", "limit") for value in numbers]
    cases += [("/v1/conversations", "limit", value) for value in numbers]
    cases += [("/v1/kb/documents", name, value) for name in ("limit", "offset")
              for value in numbers]
    cases += [("/v1/kb/unanswered", "limit", value) for value in numbers]
    cases += [("/v1/kb/search?q=x", "k", value) for value in numbers]
    cursors = [_cursor(str(10**30)), _cursor("-1"), _cursor("9" * 15), _cursor("1e30"),
               _cursor("1", "not-a-uuid"), _cursor("1", "\x00"), "!!!", "\x00",
               base64.urlsafe_b64encode(b"\xff\xfe|x").decode(), _cursor("١٢")]
    cases += [("/v1/conversations", "cursor", value) for value in cursors]
    cases += [("/v1/kb/search", "q", value) for value in ("a\x00b", "x" * 4001, " ")]
    async with httpx.AsyncClient(base_url=org.base_url, headers=org.headers(),
                                 timeout=30) as http:
        for path, name, value in cases:
            r = await http.get(path, params={name: value})
            assert r.status_code == 422, (path, name, value, r.status_code, r.text)
            assert r.json()["error"]["code"] == "bad_request"
        # in-range values still work, at both ends
        for path, params in ((conversation.replace("/messages", ""), {}),
                             ("/v1/conversations", {"limit": "200"}),
                             ("/v1/kb/documents", {"limit": "500", "offset": "1000000"}),
                             ("/v1/kb/search", {"q": "x", "k": "20"})):
            assert (await http.get(path, params=params)).status_code in (200, 404)
        r = await http.get(conversation, params={"after": str(2**63 - 1), "limit": "1"})
        assert r.status_code == 404  # parsed; the conversation does not exist
