"""GET /v1/audit against a real server: each recorded action appears after the real call
that triggers it (HTTP or the agent socket), filters, keyset pages, owners and admins only,
one org's entries only, and nothing a person typed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.api import PASSWORD, OrgHandle, signup
from tests.support.wsclient import agent, visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")

MARK = "zq7auditmark"


async def audit(http: httpx.AsyncClient, org: OrgHandle, token: str | None = None,
                **params: Any) -> dict[str, Any]:
    r = await http.get("/v1/audit", headers=org.headers(token), params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def actions(http: httpx.AsyncClient, org: OrgHandle, **params: Any) -> list[str]:
    return [e["action"] for e in (await audit(http, org, limit=200, **params))["items"]]


async def eventually(http: httpx.AsyncClient, org: OrgHandle, action: str,
                     **params: Any) -> list[dict[str, Any]]:
    """The entries of `action`, once there is one (the socket's is written after the
    replay it records)."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        items = (await audit(http, org, action=action, **params))["items"]
        if items or asyncio.get_running_loop().time() > deadline:
            return items
        await asyncio.sleep(0.05)


async def test_each_action_is_recorded_after_its_trigger(clienta_server) -> None:
    org = await signup(clienta_server.url, f"Org {MARK}")
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        assert await actions(http, org) == ["org.created"]
        r = await http.post("/v1/login", json={"email": org.owner_email, "password": PASSWORD})
        assert r.status_code == 200
        r = await http.post("/v1/login", json={"email": org.owner_email,
                                               "password": f"wrong-{MARK}"})
        assert r.status_code == 401
        admin = await org.add_user("admin", f"Admin {MARK}")
        r = await http.patch("/v1/org", headers=org.headers(admin["token"]),
                             json={"agent_capacity": 3})
        assert r.status_code == 200
        doc = await org.add_document(f"Refunds {MARK}", f"Refunds take five days. {MARK}")
        doc_id = doc["document_id"]
        r = await http.put(f"/v1/kb/documents/{doc_id}", headers=org.headers(),
                           json={"title": "Refunds", "text": "Refunds take six days."})
        assert r.status_code == 200
        r = await http.post("/v1/kb/reindex", headers=org.headers())
        assert r.status_code == 202
        r = await http.delete(f"/v1/kb/documents/{doc_id}", headers=org.headers())
        assert r.status_code == 204

        guest, welcome = await visitor(clienta_server.ws_url, org.site_key)
        conv = welcome["conversation_id"]
        await guest.send({"t": "msg", "id": "v1", "text": f"my secret {MARK}"})
        await guest.expect("ack", id="v1")
        r = await http.get(f"/v1/conversations/{conv}/messages", headers=org.headers())
        assert r.status_code == 200 and MARK in r.text
        desk, _ = await agent(clienta_server.ws_url, admin["token"])
        await desk.send({"t": "join", "conversation_id": conv})
        await desk.expect("msg", id="v1")
        opened = await eventually(http, org, "conversation.history_opened",
                                  actor=admin["user_id"])
        await guest.ws.close()
        await desk.ws.close()
        r = await http.patch("/v1/org", headers=org.headers(admin["token"]),
                             json={"allowed_origins": [f"https://{MARK}.example"]})
        assert r.status_code == 200

        assert opened and opened[0]["target"] == {"kind": "conversation", "id": conv}
        assert opened[0]["detail"] == {"via": "socket"}
        page = await audit(http, org, limit=200)
        got = [e["action"] for e in page["items"]][::-1]  # oldest first
        assert got == [
            "org.created", "auth.sign_in", "auth.sign_in_failed",
            "user.created", "auth.sign_in",  # add_user logs the new admin in
            "org.settings_changed", "kb.document_added", "kb.document_replaced",
            "kb.reindexed", "kb.document_deleted", "conversation.history_opened",
            "conversation.history_opened", "org.settings_changed"]
        assert page["items"][0]["detail"] == {"settings": ["allowed_origins"]}
        by_http = page["items"][2]
        assert by_http["detail"] == {"via": "http"} and by_http["ip"] == "127.0.0.0"
        assert by_http["actor"] == {"kind": "user", "id": await _owner_id(http, org)}
        assert page["items"][-3]["actor"]["kind"] == "anonymous"
        assert MARK not in str(page) and PASSWORD not in str(page)
        assert org.owner_email not in str(page) and admin["email"] not in str(page)


async def _owner_id(http: httpx.AsyncClient, org: OrgHandle) -> str:
    r = await http.post("/v1/login", json={"email": org.owner_email, "password": PASSWORD})
    return r.json()["user_id"]


async def test_filters_and_keyset_pages(clienta_server) -> None:
    org = await signup(clienta_server.url)
    admin = await org.add_user("admin")
    docs = [(await org.add_document(f"Doc {i}", f"Text number {i}."))["document_id"]
            for i in range(5)]
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        seen: list[str] = []
        cursor = None
        while True:
            page = await audit(http, org, token=admin["token"], action="kb.document_added",
                               limit=2, **({"cursor": cursor} if cursor else {}))
            seen += [e["target"]["id"] for e in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert len(page["items"]) == 2
        assert seen == docs[::-1]  # newest first, each once
        one = await audit(http, org, target=docs[2])
        assert [e["target"]["id"] for e in one["items"]] == [docs[2]]
        assert set(await actions(http, org, actor=admin["user_id"])) == {"auth.sign_in"}
        assert set(await actions(http, org, target="document")) == {"kb.document_added"}
        today = datetime.now(UTC).date()
        assert len(await actions(http, org, **{"from": str(today), "to": str(today)})) >= 7
        tomorrow = today + timedelta(days=1)
        assert await actions(http, org, **{"from": str(tomorrow)}) == []
        assert await actions(http, org, to=str(today - timedelta(days=1))) == []
        for bad in ({"action": "nope"}, {"cursor": "garbage"}, {"from": "yesterday"},
                    {"from": "2025-01-02T00:00:00"}, {"to": "9999-12-31", "from": "9999-12-31"},
                    {"target": "spaceship"}, {"limit": "0"}, {"limit": "201"},
                    {"from": "2025-02-02", "to": "2025-01-01"}):
            r = await http.get("/v1/audit", headers=org.headers(), params=bad)
            assert r.status_code == 422 and r.json()["error"]["code"] == "bad_request", bad


async def test_owners_and_admins_only_and_one_org_each(clienta_server) -> None:
    org_a = await signup(clienta_server.url)
    org_b = await signup(clienta_server.url)
    doc = (await org_a.add_document("Only A", "Org A's own text."))["document_id"]
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        for role in ("agent", "viewer"):
            user = await org_a.add_user(role)
            r = await http.get("/v1/audit", headers=org_a.headers(user["token"]))
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert (await http.get("/v1/audit")).status_code == 401
        mine = await audit(http, org_a, limit=200)
        assert "kb.document_added" in [e["action"] for e in mine["items"]]
        theirs = await audit(http, org_b, limit=200)
        assert [e["action"] for e in theirs["items"]] == ["org.created"]
        assert doc not in str(theirs)
        assert (await audit(http, org_b, target=doc))["items"] == []
        # a cursor from org A's pages leads org B to nothing of A's
        page = await audit(http, org_a, limit=1)
        assert page["next_cursor"]
        crossed = await audit(http, org_b, cursor=page["next_cursor"])
        assert all(e["action"] == "org.created" for e in crossed["items"])
        assert str(uuid.UUID(org_a.org_id)) not in str(crossed)
