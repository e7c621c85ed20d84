"""Roles and presence end to end: a viewer is never an online agent, and a transfer of a
conversation the sender's org does not have answers `not_found` and tells nobody else."""

from __future__ import annotations

import uuid

import pytest

from tests.support.api import signup
from tests.support.wsclient import agent, visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_viewer_alone_is_not_an_online_agent(clienta_server, org) -> None:
    viewer = await org.add_user("viewer", "Vee")
    look, _ = await agent(clienta_server.ws_url, viewer["token"])
    await look.send({"t": "away", "on": False})  # a viewer may not become online this way
    await look.send({"t": "ping"})  # frames of one socket are handled in order
    await look.expect("pong")
    guest, _ = await visitor(clienta_server.ws_url, org.site_key)
    await guest.send({"t": "handoff"})
    assert (await guest.expect("mode", mode="queued"))["agents_online"] is False
    ask = await guest.expect("msg", ask_email=True)
    assert ask["author"]["role"] == "system"
    # an agent beside the viewer is online: the check above was not vacuous
    ploy = await org.add_user("agent", "Ploy")
    desk, _ = await agent(clienta_server.ws_url, ploy["token"])
    await desk.send({"t": "ping"})
    await desk.expect("pong")
    late, _ = await visitor(clienta_server.ws_url, org.site_key)
    await late.send({"t": "handoff"})
    assert (await late.expect("mode", mode="queued"))["agents_online"] is True
    for client in (look, guest, desk, late):
        await client.close()


async def test_transfer_of_an_unknown_or_foreign_conversation_is_not_found(clienta_server,
                                                                         org) -> None:
    bee = await org.add_user("agent", "Bee")
    owner, _ = await agent(clienta_server.ws_url, org.owner_token)
    desk_bee, _ = await agent(clienta_server.ws_url, bee["token"])
    other = await signup(clienta_server.url, "Other org")
    stranger, foreign = await visitor(clienta_server.ws_url, other.site_key)
    await stranger.send({"t": "handoff"})
    await stranger.expect("mode", mode="queued")
    for conv in (str(uuid.uuid4()), foreign["conversation_id"]):
        await owner.send({"t": "transfer", "conversation_id": conv, "user_id": bee["user_id"]})
        error = await owner.expect("error", ref=conv)
        assert error["code"] == "not_found"
    # a real transfer afterwards: the first thing Bee hears of is that one
    guest, welcome = await visitor(clienta_server.ws_url, org.site_key)
    await guest.send({"t": "handoff"})
    await guest.expect("mode", mode="queued")
    mine = welcome["conversation_id"]
    await owner.send({"t": "claim", "conversation_id": mine})
    await guest.expect("mode", mode="agent")
    await owner.send({"t": "transfer", "conversation_id": mine, "user_id": bee["user_id"]})
    assigned = await desk_bee.expect("assigned")
    assert assigned["conversation"]["id"] == mine
    assert desk_bee.of_type("assigned") == [assigned]
    # and the foreign visitor's conversation was not touched
    await stranger.send({"t": "ping"})
    await stranger.expect("pong")
    assert [f["mode"] for f in stranger.of_type("mode")] == ["queued"]
    for client in (owner, desk_bee, stranger, guest):
        await client.close()
