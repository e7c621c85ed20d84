"""What the console's privacy screen and the widget's notice stand on, against a real server:
a visitor found by the address they gave (the keyed blind index, any case) or by id; the
org's notice set (complete or refused), audited by name, and handed to the widget by
GET /v1/widget/config; agents and viewers refused both."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.wsclient import visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_find_a_visitor_by_email_or_id_and_agents_are_refused(clienta_server, org
                                                                    ) -> None:
    mark = uuid.uuid4().hex[:8]
    client, _ = await visitor(clienta_server.ws_url, org.site_key)
    await client.send({"t": "msg", "id": "q1", "text": "hello"})
    await client.expect("ack")
    await client.send({"t": "identify", "name": f"Malee {mark}",
                       "email": f"Malee.{mark}@Example.com"})
    await client.send({"t": "ping"})
    await client.expect("pong")  # frames are handled in order: identify is done
    agent = await org.add_user("agent")
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        r = await http.get("/v1/visitors", params={"email": f"malee.{mark}@example.com"},
                           headers=org.headers())
        assert r.status_code == 200, r.text
        found = r.json()["items"]
        assert [v["name"] for v in found] == [f"Malee {mark}"]
        assert found[0]["conversations"] == 1 and found[0]["restricted"] is False
        by_id = await http.get("/v1/visitors", params={"visitor_id": found[0]["visitor_id"]},
                               headers=org.headers())
        assert by_id.json()["items"][0]["email"] == f"Malee.{mark}@Example.com"
        none = await http.get("/v1/visitors", params={"email": "nobody@example.com"},
                              headers=org.headers())
        assert none.json()["items"] == []
        both = await http.get("/v1/visitors", params={"email": "a@b.c",
                                                      "visitor_id": str(uuid.uuid4())},
                              headers=org.headers())
        assert both.status_code == 422
        refused = await http.get("/v1/visitors", params={"email": "a@b.c"},
                                 headers=org.headers(agent["token"]))
        assert refused.status_code == 403
    await client.close()


async def test_the_orgs_notice_reaches_the_widget_config(clienta_server, org) -> None:
    viewer = await org.add_user("viewer")
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        config = await http.get("/v1/widget/config", params={"site_key": org.site_key})
        assert config.json()["notice"] is None
        half = await http.patch("/v1/org/privacy", headers=org.headers(),
                                json={"notice_required": True})
        assert half.status_code == 422  # no version, no text: refused
        r = await http.patch("/v1/org/privacy", headers=org.headers(), json={
            "notice_required": True, "notice_version": "2025-01",
            "notice_text": "We keep your chat to answer you."})
        assert r.status_code == 200, r.text
        assert (await http.get("/v1/org/privacy", headers=org.headers())).json()[
            "notice_version"] == "2025-01"
        # this process dropped its cached entry: the next page load has the notice
        config = await http.get("/v1/widget/config", params={"site_key": org.site_key})
        assert config.json()["notice"] == {"version": "2025-01",
                                           "text": "We keep your chat to answer you."}
        assert (await http.patch("/v1/org/privacy", headers=org.headers(viewer["token"]),
                                 json={"notice_required": False})).status_code == 403
        audit = await http.get("/v1/audit", params={"action": "org.settings_changed"},
                               headers=org.headers())
        details = [e.get("detail") for e in audit.json()["items"]]
        assert {"settings": ["notice_required", "notice_version", "notice_text"]} in details
        assert "We keep" not in audit.text
