"""No user text in the server's output: a unique marker sent through every text field the
server accepts, including inputs that make the database raise, never reaches its log."""

from __future__ import annotations

import asyncio
import json as jsonlib
import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import PASSWORD, OrgHandle
from tests.support.wsclient import JSON, WsClient, agent, visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")

HOSTILE = ("\x00", "\ud800")  # NUL (Postgres text refuses it), a lone surrogate (no UTF-8)


class _AsciiJson(httpx.AsyncClient):
    """httpx encodes JSON as UTF-8, which a lone surrogate has not: send it escaped, as a
    browser's JSON.stringify does."""

    def build_request(self, method: str, url: httpx.URL | str, *, json: Any = None,
                      **kwargs: Any) -> httpx.Request:
        if json is not None:
            kwargs["content"] = jsonlib.dumps(json).encode()
            kwargs["headers"] = {**(kwargs.get("headers") or {}),
                                 "content-type": "application/json"}
        return super().build_request(method, url, **kwargs)


async def _settled(client: WsClient) -> None:
    """Frames are handled in order: once the pong is back, everything before it was."""
    await client.send({"t": "ping"})
    await client.expect("pong")


async def _accounts(http: httpx.AsyncClient, m: str) -> OrgHandle:
    email = f"{m}@signup.test"
    r = await http.post("/v1/signup", json={"org_name": f"{m} org", "email": email,
                                             "password": f"{m}-pw", "name": f"{m} owner"})
    assert r.status_code == 201, r.text
    body = r.json()
    org = OrgHandle(str(http.base_url), body["org_id"], body["site_key"], body["token"], email)
    # the same email again (a unique key), and every field with hostile characters
    await http.post("/v1/signup", json={"org_name": f"{m} again", "email": email.upper(),
                                        "password": f"{m}-pw", "name": m})
    for bad in HOSTILE:
        await http.post("/v1/signup", json={"org_name": f"{m}{bad}", "email": f"{m}@h.test",
                                            "password": f"{m}{bad}-pw", "name": f"{m}{bad}"})
    # logins: unknown email, wrong password, right password, hostile email and password
    for login in ({"email": f"{m}@nobody.test", "password": f"{m}-wrong"},
                  {"email": email, "password": f"{m}-wrong"},
                  {"email": email, "password": f"{m}-pw"},
                  *({"email": f"{m}{bad}@x.test", "password": f"{m}{bad}"} for bad in HOSTILE)):
        await http.post("/v1/login", json=login)
    user = {"email": f"{m}-agent@signup.test", "password": PASSWORD, "name": f"{m} agent",
            "role": "agent"}
    assert (await http.post("/v1/users", headers=org.headers(), json=user)).status_code == 201
    await http.post("/v1/users", headers=org.headers(), json=user)  # taken
    await http.post("/v1/users", headers=org.headers(), json={**user, "role": m[:16]})
    for bad in HOSTILE:
        await http.post("/v1/users", headers=org.headers(),
                        json={**user, "email": f"{m}{bad}@x.test", "name": f"{m}{bad}"})
    await http.get("/v1/org", headers={"Authorization": f"Bearer {m}"})
    await http.patch("/v1/org", headers=org.headers(), json={
        "allowed_origins": [f"https://{m}.example"], "assignment": m, "agent_capacity": m})
    await http.patch("/v1/org", headers=org.headers(),
                     json={"allowed_origins": [f"https://{m}{bad}.example" for bad in HOSTILE]})
    return org


async def _knowledge(http: httpx.AsyncClient, org: OrgHandle, m: str) -> None:
    h = org.headers()
    r = await http.post("/v1/kb/documents", headers=h, json={
        "title": f"{m} title", "text": f"{m} refunds take five days.", "url": f"https://{m}.x"})
    assert r.status_code in (200, 201, 202), r.text
    doc = r.json()["document_id"]
    await http.put(f"/v1/kb/documents/{doc}", headers=h,
                   json={"title": f"{m} title 2", "text": f"{m} refunds take six days."})
    await http.post("/v1/kb/documents", headers=h, data={"title": f"{m} upload"},
                    files={"file": (f"{m}.md", f"# {m}\n\n{m} shipping".encode(),
                                    "text/markdown")})
    for bad in HOSTILE:
        await http.post("/v1/kb/documents", headers=h,
                        json={"title": f"{m}{bad}", "text": f"{m}{bad} text"})
    await http.post("/v1/kb/documents", headers=h, files={
        "file": (f"{m}.txt", f"{m}\x00{m}".encode(), "text/plain")})
    await http.post("/v1/kb/documents", headers=h, files={
        "file": (f"{m}.csv", f'"{m}\n{m}",{m}\x00'.encode(), "text/csv")})
    for q in (m, f"{m} & | ! ( :* '", f"{m}\x00"):
        await http.get("/v1/kb/search", headers=h, params={"q": q})
    await http.get(f"/v1/kb/documents/{m}", headers=h)
    # until nothing is processing: background ingestion logs too
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while loop.time() < deadline:
        docs = (await http.get("/v1/kb/documents", headers=h)).json()["documents"]
        if all(d.get("status") != "processing" for d in docs):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("documents still processing after 60 s")


async def _agent_tools(http: httpx.AsyncClient, org: OrgHandle, conv: str, m: str) -> None:
    h = org.headers()
    await http.put(f"/v1/conversations/{conv}/tags", headers=h, json={"tags": [m, m[:8]]})
    for bad in HOSTILE:
        await http.put(f"/v1/conversations/{conv}/tags", headers=h, json={"tags": [m + bad]})
    await http.get("/v1/conversations", headers=h,
                   params={"assignee": m, "mode": m, "cursor": m, "limit": m})
    await http.get(f"/v1/conversations/{m}/messages", headers=h)
    first = await http.post("/v1/canned", headers=h, json={"shortcut": f"/{m}a",
                                                           "text": f"{m} canned"})
    assert first.status_code == 201, first.text
    second = await http.post("/v1/canned", headers=h, json={"shortcut": f"/{m}b",
                                                            "text": f"{m} canned"})
    # the shortcut of another one: the unique key on (org, shortcut) refuses it
    await http.patch(f"/v1/canned/{second.json()['id']}", headers=h,
                     json={"shortcut": f"/{m}a", "text": f"{m} renamed"})
    await http.post("/v1/canned", headers=h, json={"shortcut": f"/{m}a", "text": m})
    for bad in HOSTILE:
        await http.post("/v1/canned", headers=h, json={"shortcut": f"/{m}{bad}",
                                                       "text": f"{m}{bad}"})
        await http.patch(f"/v1/canned/{second.json()['id']}", headers=h,
                         json={"text": f"{m}{bad}"})


async def _sockets(server_ws: str, http: httpx.AsyncClient, org: OrgHandle, m: str) -> str:
    guest, welcome = await visitor(server_ws, org.site_key, locale=m[:16])
    conv = welcome["conversation_id"]
    await guest.send({"t": "identify", "name": f"{m} visitor", "email": f"{m}@visitor.test"})
    await guest.send({"t": "email", "email": f"{m}@follow.test"})
    await guest.send({"t": "msg", "id": f"{m}-1", "text": f"{m} where is my refund?"})
    await guest.expect("ack", id=f"{m}-1")
    await guest.send({"t": "wait", "choice": m[:8]})
    await _settled(guest)
    # hostile frames on connections of their own: a failure may cut them
    hostile, _ = await visitor(server_ws, org.site_key, locale=m[:16])
    for n, bad in enumerate(HOSTILE):
        await hostile.send({"t": "msg", "id": f"{m}-bad{n}", "text": f"{m}{bad} text"})
        await hostile.send({"t": "identify", "name": f"{m}{bad}", "email": f"{m}@v{n}.test"})
        await hostile.send({"t": "msg", "id": f"{m}{bad}", "text": m})
    await hostile.send({"t": m, "text": m})
    await hostile.send_raw(f'{{"t": "msg", "id": "{m}", "text": "{m}')
    await _settled_or_cut(hostile)
    await _settled_or_cut(await _hello(f"{server_ws}/v1/ws/visitor?site_key={m}",
                                       {"t": "hello", "visitor_token": m, "locale": m[:16]}))
    await _settled_or_cut(await _hello(
        f"{server_ws}/v1/ws/visitor?site_key={org.site_key}",
        {"t": "hello", "visitor_token": f"{m}.{m}", "locale": f"{m[:14]}\x00"}))

    await guest.send({"t": "handoff"})
    await guest.expect("mode", mode="queued")
    token = await _agent_user(http, m)
    await _settled_or_cut(await _hello(f"{server_ws}/v1/ws/agent", {"t": "hello", "token": m}))
    desk, _ = await agent(server_ws, token)
    await desk.send({"t": "join", "conversation_id": conv})
    await desk.expect("joined", conversation_id=conv)
    await desk.send({"t": "claim", "conversation_id": conv})
    await guest.expect("mode", mode="agent")
    await desk.send({"t": "msg", "conversation_id": conv, "id": f"{m}-a1", "text": f"{m} hi"})
    await desk.send({"t": "note", "conversation_id": conv, "id": f"{m}-n1", "text": f"{m} nb"})
    await desk.expect("ack", id=f"{m}-n1")
    rough, _ = await agent(server_ws, token)
    await rough.send({"t": "join", "conversation_id": conv})
    for n, bad in enumerate(HOSTILE):
        await rough.send({"t": "msg", "conversation_id": conv, "id": f"{m}-a{bad}",
                          "text": f"{m}{bad}"})
        await rough.send({"t": "note", "conversation_id": conv, "id": f"{m}-n{n}",
                          "text": f"{m}{bad}"})
    await rough.send({"t": "transfer", "conversation_id": conv, "user_id": m})
    await _settled_or_cut(rough)
    await desk.send({"t": "close", "conversation_id": conv})
    await guest.expect("mode", mode="closed")
    await guest.send({"t": "csat", "score": 5, "comment": f"{m} thanks"})
    await _settled(guest)
    for bad in HOSTILE:
        await guest.send({"t": "csat", "score": 4, "comment": f"{m}{bad}"})
    await _settled_or_cut(guest)
    await desk.close()
    return conv


async def _hello(url: str, hello: dict) -> WsClient:
    client = await WsClient(url, JSON).connect()
    await client.send(hello)
    return client


async def _settled_or_cut(client: WsClient) -> None:
    """Until the server has handled everything sent, or has closed the connection."""
    try:
        await _settled(client)
    except AssertionError:
        assert client.close_code is not None, "neither a pong nor a close"
    await client.close()


async def _raw_http(port: int, m: str) -> None:
    """Requests uvicorn's parser refuses: its warning carries the parser's exception."""
    for request in (f"GET /{m} HTTP/1.1\r\nHost: x\r\nX-{m}: \x01{m}\r\n\r\n",
                    f"{m} /{m} HTTP/1.1\r\nHost: {m}\r\n\r\n",
                    f"GET /v1/ws/visitor?site_key={m} HTTP/1.1\r\nHost: x\r\nUpgrade: "
                    f"websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {m}\r\n"
                    f"Sec-WebSocket-Version: 13\r\n\r\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request.encode())
        await writer.drain()
        await asyncio.wait_for(reader.read(65536), 10)  # the answer, or the close
        writer.close()


async def _agent_user(http: httpx.AsyncClient, m: str) -> str:
    r = await http.post("/v1/login", json={"email": f"{m}-agent@signup.test",
                                           "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()["token"]


async def test_no_text_a_user_sent_appears_in_the_servers_log(make_server) -> None:
    server = make_server({"CLIENTA_LOG_LEVEL": "debug"})
    m = uuid.uuid4().hex
    # a fresh connection per request: uvicorn closes one after a 500, and a request sent
    # on it meanwhile would fail in the client
    async with _AsciiJson(base_url=server.url, timeout=30,
                          limits=httpx.Limits(max_keepalive_connections=0)) as http:
        org = await _accounts(http, m)
        await _knowledge(http, org, m)
        conv = await _sockets(server.ws_url, http, org, m)
        await _agent_tools(http, org, conv, m)
        await _raw_http(server.port, m)
        assert (await http.get("/healthz")).status_code == 200  # still serving
    server.stop()
    log = server.log_path.read_text(errors="replace")
    assert log.strip(), "the server wrote no log at all"
    # asyncpg quotes the first 40 characters of a value it could not encode: a prefix
    # of the marker is enough to give a value away
    leaks = [line for line in log.splitlines() if m[:12] in line]
    assert not leaks, f"{len(leaks)} log line(s) carry user text:\n" + "\n".join(leaks[:5])
