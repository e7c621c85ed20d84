"""Grouped reads of returning visitors against the real Postgres: one group answers many
visitors of several orgs, each exactly as a lone read would."""

from __future__ import annotations

import asyncio
import uuid
from uuid import UUID

import pytest

from server.services.resume_reads import ResumeAsk, ResumeReads
from server.storage import accounts, messages
from server.storage import conversations as convs
from server.storage.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def visitor_with_messages(db: Database, org_id: UUID, n: int) -> tuple[UUID, UUID]:
    visitor_id, conversation_id = uuid.uuid4(), uuid.uuid4()
    async with db.unit_of_work(org_id) as conn:
        await convs.insert_conversation_for(conn, org_id, visitor_id, conversation_id, None)
        for i in range(n):
            await messages.append(conn, db.keys, org_id, conversation_id, kind="msg",
                                  author_role="visitor", text=f"m{i + 1}", client_id=f"c{i}")
    return visitor_id, conversation_id


async def new_org(db: Database) -> UUID:
    org_id = uuid.uuid4()
    async with db.unit_of_work(org_id) as conn:
        await accounts.insert_org(conn, org_id, "resume", uuid.uuid4().hex)
    return org_id


async def test_one_group_answers_each_visitor_as_a_lone_read_would(db: Database) -> None:
    org_a, org_b = await new_org(db), await new_org(db)
    alice, alice_conv = await visitor_with_messages(db, org_a, 5)
    bob, bob_conv = await visitor_with_messages(db, org_b, 3)
    carol, carol_conv = await visitor_with_messages(db, org_a, 2)
    reads = ResumeReads(db, max_in_flight=1)
    asks = [
        ResumeAsk(org_a, alice, alice_conv, 3),  # missed 4 and 5
        ResumeAsk(org_b, bob, bob_conv, 0),  # missed everything
        ResumeAsk(org_a, carol, alice_conv, 0),  # asks for someone else's conversation
        ResumeAsk(org_b, alice, alice_conv, 0),  # the right ids under the wrong org
        ResumeAsk(org_a, uuid.uuid4(), uuid.uuid4(), 0),  # a visitor with nothing stored
    ]
    found = await asyncio.gather(*(reads.read(a) for a in asks))
    assert reads.grouper.groups == 1 and reads.grouper.grouped == len(asks)
    (a_conv, a_events), (b_conv, b_events), (c_conv, c_events), wrong, nothing = found
    assert a_conv is not None and a_conv.id == alice_conv and a_events is not None
    assert [e.text for e in a_events] == ["m4", "m5"] and [e.seq for e in a_events] == [4, 5]
    assert b_conv is not None and b_events is not None
    assert [e.seq for e in b_events] == [1, 2, 3]
    # not hers: she gets her own conversation back, and nothing of Alice's is read
    assert c_conv is not None and c_conv.id == carol_conv and c_events is None
    assert wrong == (None, None) and nothing == (None, None)
