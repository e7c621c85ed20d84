"""HTTP agent tools: conversation lists with keyset pagination, history, tags, canned."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import signup
from tests.support.wsclient import agent, stored_visitor, visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_list_by_mode_with_keyset_pagination(clienta_server, org) -> None:
    ids = []
    for _ in range(5):
        guest, welcome = await visitor(clienta_server.ws_url, org.site_key)
        await guest.send({"t": "handoff"})
        await guest.expect("mode", mode="queued")
        ids.append(welcome["conversation_id"])
        await guest.close()
    idle, _ = await visitor(clienta_server.ws_url, org.site_key)  # stays in bot mode
    await idle.send({"t": "identify", "name": "Idle"})  # stores the conversation
    await idle.send({"t": "ping"})
    await idle.expect("pong")
    await idle.close()
    # only opening the widget stores nothing: no empty conversations in the inbox
    lurker, _ = await visitor(clienta_server.ws_url, org.site_key)
    await lurker.send({"t": "typing", "on": True})
    await lurker.close()
    seen: list[str] = []
    stamps: list[int] = []
    cursor = None
    async with httpx.AsyncClient(base_url=org.base_url, headers=org.headers()) as http:
        while True:
            params = {"mode": "queued", "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await http.get("/v1/conversations", params=params)).json()
            seen += [c["id"] for c in page["conversations"]]
            stamps += [c["updated_at"] for c in page["conversations"]]
            assert all(c["mode"] == "queued" for c in page["conversations"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
        assert stamps == sorted(stamps, reverse=True)  # newest activity first
        everything = (await http.get("/v1/conversations", params={"status": "open"})).json()
        assert len(everything["conversations"]) == 6
        mine = (await http.get("/v1/conversations", params={"assignee": "me"})).json()
        assert mine["conversations"] == []
        bad = await http.get("/v1/conversations", params={"mode": "sideways"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_request"
        history = (await http.get(f"/v1/conversations/{ids[0]}/messages")).json()
        assert history["messages"][0]["author"]["role"] == "system"


async def test_tags_and_canned_responses(clienta_server, org) -> None:
    guest, welcome = await stored_visitor(clienta_server.ws_url, org.site_key)
    await guest.close()
    conv = welcome["conversation_id"]
    ploy = await org.add_user("agent", "Ploy")
    viewer = await org.add_user("viewer", "Vee")
    async with httpx.AsyncClient(base_url=org.base_url) as http:
        auth = org.headers(ploy["token"])
        r = await http.put(f"/v1/conversations/{conv}/tags", headers=auth,
                           json={"tags": ["Refund", "vip", "refund"]})
        assert r.json() == {"tags": ["refund", "vip"]}
        assert (await http.get(f"/v1/conversations/{conv}", headers=auth)).json()["tags"] == [
            "refund", "vip"]
        r = await http.put(f"/v1/conversations/{conv}/tags", headers=org.headers(
            viewer["token"]), json={"tags": ["x"]})
        assert r.status_code == 403
        r = await http.post("/v1/canned", headers=auth,
                            json={"shortcut": "thanks", "text": "Thanks for waiting!"})
        assert r.status_code == 201
        canned_id = r.json()["id"]
        dup = await http.post("/v1/canned", headers=auth, json={"shortcut": "thanks", "text": "x"})
        assert dup.status_code == 409
        r = await http.patch(f"/v1/canned/{canned_id}", headers=auth, json={"text": "Thank you!"})
        assert r.json()["text"] == "Thank you!"
        listed = (await http.get("/v1/canned", headers=auth)).json()["canned"]
        assert [c["shortcut"] for c in listed] == ["thanks"]
        other = await signup(clienta_server.url, "Other")
        assert (await http.get("/v1/canned", headers=other.headers())).json()["canned"] == []
        gone = await http.delete(f"/v1/canned/{canned_id}", headers=other.headers())
        assert gone.status_code == 404  # another org's id is simply not there
        assert (await http.delete(f"/v1/canned/{canned_id}", headers=auth)).status_code == 204


async def test_a_tag_change_is_told_to_the_orgs_agents(clienta_server, org) -> None:
    guest, welcome = await stored_visitor(clienta_server.ws_url, org.site_key)
    conv = welcome["conversation_id"]
    ploy = await org.add_user("agent", "Ploy")
    viewer = await org.add_user("viewer", "Vee")
    look, _ = await agent(clienta_server.ws_url, viewer["token"])  # not in the room
    other = await signup(clienta_server.url, "Other")
    async with httpx.AsyncClient(base_url=org.base_url) as http:
        # another org's PUT finds nothing and tells nobody
        r = await http.put(f"/v1/conversations/{conv}/tags", headers=other.headers(),
                           json={"tags": ["stolen"]})
        assert r.status_code == 404
        r = await http.put(f"/v1/conversations/{conv}/tags", headers=org.headers(ploy["token"]),
                           json={"tags": ["VIP ", "refund"]})
        assert r.json() == {"tags": ["refund", "vip"]}
    told = await look.expect("tags")
    assert told == {"t": "tags", "conversation_id": conv, "tags": ["refund", "vip"]}
    assert len(look.of_type("tags")) == 1  # the refused PUT, earlier, published nothing
    await guest.send({"t": "ping"})
    await guest.expect("pong")
    assert not guest.of_type("tags")  # visitors never hear of tags
    await look.close()
    await guest.close()
