"""Group commit of message appends against the real Postgres: concurrent messages share a
statement, and each keeps every guarantee of a lone append."""

from __future__ import annotations

import asyncio
import uuid
from uuid import UUID

import asyncpg
import pytest

from server.services.appender import Appender
from server.storage import accounts, messages
from server.storage import conversations as convs
from server.storage.db import Database
from server.storage.messages import DuplicateClientId, NewEvent

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def new_org(db: Database, conversations: int) -> tuple[UUID, list[UUID]]:
    org_id = uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(conversations)]
    async with db.unit_of_work(org_id) as conn:
        await accounts.insert_org(conn, org_id, "appender", uuid.uuid4().hex)
        for conversation_id in ids:
            await convs.insert_conversation_for(conn, org_id, uuid.uuid4(), conversation_id,
                                                None)
    return org_id, ids


def msg(org_id: UUID, conversation_id: UUID, client_id: str, **kw: object) -> NewEvent:
    return NewEvent(org_id, conversation_id, "msg", "visitor", f"text {client_id}",
                    client_id=client_id, **kw)  # type: ignore[arg-type]


async def stored_seqs(db: Database, org_id: UUID, conversation_id: UUID) -> list[int]:
    async with db.unit_of_work(org_id) as conn:
        events = await messages.after(conn, db.keys, org_id, conversation_id, 0, include_notes=True)
    return [e.seq for e in events]


async def waiting_on_a_row_lock(db: Database) -> None:
    async with db.pool.acquire() as conn:
        while not await conn.fetchval(  # noqa: ASYNC110  # polling Postgres, not a flag
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE '%clienta_append_events%' AND pid <> pg_backend_pid()"):
            await asyncio.sleep(0.01)


async def test_concurrent_messages_share_statements_and_keep_one_gap_free_sequence(
        db: Database) -> None:
    org_id, ids = await new_org(db, 5)
    appender = Appender(db, max_in_flight=1)
    items = [msg(org_id, ids[i % 5], f"c{i}") for i in range(60)]
    results = await asyncio.gather(*(appender.append(item) for item in items))
    assert appender.grouper.groups < len(items) and appender.grouper.grouped > 1  # it did group
    for item, result in zip(items, results, strict=True):
        assert result is not None and not result.event.duplicate
        assert result.event.client_id == item.client_id
        assert result.event.conversation_id == item.conversation_id
        assert result.event.text == item.text and result.mode == "bot"
    for conversation_id in ids:
        mine = [r.event.seq for i, r in zip(items, results, strict=True)
                if r is not None and i.conversation_id == conversation_id]
        # each caller got its own seq, and per conversation they run 1..n in arrival order
        assert mine == list(range(1, 13))
        assert await stored_seqs(db, org_id, conversation_id) == list(range(1, 13))


async def test_a_group_keeps_the_tenant_assignee_and_duplicate_rules_per_message(
        db: Database) -> None:
    org_a, (conv_a,) = await new_org(db, 1)
    org_b, (conv_b,) = await new_org(db, 1)
    appender = Appender(db, max_in_flight=1)
    results = await asyncio.gather(
        appender.append(msg(org_a, conv_a, "one")),
        appender.append(msg(org_a, conv_b, "cross")),  # org B's conversation named by A
        appender.append(msg(org_a, conv_a, "one")),  # a retry inside the same group
        appender.append(msg(org_a, conv_a, "held", require_assignee=uuid.uuid4())),
        appender.append(msg(org_a, conv_a, "two")),
    )
    one, cross, retry, held, two = results
    assert appender.grouper.groups == 1
    assert cross is None and held is None
    assert one is not None and retry is not None and two is not None
    assert retry.event.duplicate and retry.event.seq == one.event.seq == 1
    assert two.event.seq == 2
    assert await stored_seqs(db, org_a, conv_a) == [1, 2]
    assert await stored_seqs(db, org_b, conv_b) == []


async def test_a_client_id_committed_while_the_group_waited_is_answered_as_a_duplicate(
        db: Database) -> None:
    org_id, (conv, other) = await new_org(db, 2)
    appender = Appender(db, max_in_flight=1)
    # another process's first try of "race" holds the conversation, not yet committed
    async with db.pool.acquire() as rival:
        tx = rival.transaction()
        await tx.start()
        await messages.append(rival, db.keys, org_id, conv, kind="msg", author_role="visitor",
                              text="first try", client_id="race")
        group = asyncio.gather(
            appender.append(msg(org_id, other, "calm")),
            appender.append(msg(org_id, conv, "race")),
            appender.append(msg(org_id, conv, "after")),
        )
        await waiting_on_a_row_lock(db)  # the group's statement is out, behind the rival
        await tx.commit()
        calm, race, after = await group
    # the group locks its conversations before it reads them: it sees the rival's row
    assert appender.voided == 0
    assert race is not None and race.event.duplicate and race.event.seq == 1
    assert race.event.text == "first try"
    assert after is not None and after.event.seq == 2 and not after.event.duplicate
    assert calm is not None and calm.event.seq == 1
    assert await stored_seqs(db, org_id, conv) == [1, 2]
    assert await stored_seqs(db, org_id, other) == [1]


async def test_a_client_id_taken_by_another_kind_voids_the_group_and_only_that_message_fails(
        db: Database) -> None:
    org_id, (conv, other) = await new_org(db, 2)
    async with db.pool.acquire() as conn:
        await messages.append(conn, db.keys, org_id, conv, kind="note", author_role="agent",
                              text="a note", client_id="taken")
    appender = Appender(db, max_in_flight=1)
    calm, taken, after = await asyncio.gather(
        appender.append(msg(org_id, other, "calm")),
        appender.append(msg(org_id, conv, "taken")),
        appender.append(msg(org_id, conv, "after")),
        return_exceptions=True,
    )
    assert appender.voided == 1  # the group was void; each message was then stored alone
    assert isinstance(taken, DuplicateClientId)
    assert not isinstance(after, BaseException) and after is not None
    assert after.event.seq == 2 and not after.event.duplicate
    assert not isinstance(calm, BaseException) and calm is not None and calm.event.seq == 1
    assert await stored_seqs(db, org_id, conv) == [1, 2]


async def test_close_waits_for_queued_messages(db: Database) -> None:
    org_id, (conv,) = await new_org(db, 1)
    appender = Appender(db, max_in_flight=1)
    pending = [asyncio.ensure_future(appender.append(msg(org_id, conv, f"q{i}")))
               for i in range(10)]
    await asyncio.sleep(0)  # queued, not yet stored
    await appender.close()
    assert all(p.done() for p in pending)
    assert await stored_seqs(db, org_id, conv) == list(range(1, 11))


async def test_a_group_stores_sources_and_meta_beside_messages_without_them(
        db: Database) -> None:
    org_id, (conv,) = await new_org(db, 1)
    appender = Appender(db, max_in_flight=1)
    sources = [{"title": "Refunds", "url": "https://example.test/refunds"}]
    plain, answer, system = await asyncio.gather(
        appender.append(msg(org_id, conv, "q")),
        appender.append(NewEvent(org_id, conv, "msg", "bot", "Five days.", sources=sources,
                                 stream_id="s1")),
        appender.append(NewEvent(org_id, conv, "msg", "system", "Queued.",
                                 meta={"mode": "queued"})),
    )
    assert appender.grouper.grouped == 3 and appender.voided == 0
    assert plain is not None and plain.event.sources is None
    assert answer is not None and answer.event.sources == sources
    assert system is not None and system.event.meta == {"mode": "queued"}


async def test_one_bad_message_fails_alone_and_the_rest_of_its_group_is_stored(
        db: Database) -> None:
    org_id, (conv,) = await new_org(db, 1)
    appender = Appender(db, max_in_flight=1)
    good, bad, also_good = await asyncio.gather(
        appender.append(msg(org_id, conv, "a")),
        appender.append(NewEvent(org_id, conv, "bogus", "visitor", "x", client_id="b")),
        appender.append(msg(org_id, conv, "c")),
        return_exceptions=True,
    )
    assert isinstance(bad, asyncpg.CheckViolationError)
    assert appender.voided == 1
    assert not isinstance(good, BaseException) and good is not None
    assert not isinstance(also_good, BaseException) and also_good is not None
    assert [good.event.seq, also_good.event.seq] == [1, 2]
    assert await stored_seqs(db, org_id, conv) == [1, 2]


async def conversation_updates(conn: asyncpg.Connection) -> tuple[int, int]:
    await conn.execute("SELECT pg_stat_force_next_flush()")
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    row = await conn.fetchrow("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
                              " WHERE relname = 'conversations'")
    return row[0], row[1]


async def test_the_per_message_conversation_update_touches_no_index(db: Database) -> None:
    """Migration 0006: bumping last_seq/updated_at is a HOT update (no new index entries
    per message). Each append is its own transaction, so updated_at changes each time."""
    org_id, (conv,) = await new_org(db, 1)
    async with db.pool.acquire() as conn:
        updates, hot = await conversation_updates(conn)
        for i in range(5):
            await messages.append(conn, db.keys, org_id, conv, kind="msg", author_role="visitor",
                                  text=f"m{i}", client_id=f"h{i}")
        after_updates, after_hot = await conversation_updates(conn)
    assert after_updates - updates >= 5
    assert after_hot - hot == after_updates - updates  # every one of them HOT


async def test_messages_without_a_client_id_are_never_each_others_duplicates(
        db: Database) -> None:
    org_id, (conv, other) = await new_org(db, 2)
    appender = Appender(db, max_in_flight=1)
    results = await asyncio.gather(
        appender.append(NewEvent(org_id, conv, "msg", "bot", "first answer")),
        appender.append(msg(org_id, conv, "x")),
        appender.append(NewEvent(org_id, conv, "msg", "bot", "second answer")),
        appender.append(msg(org_id, other, "x")),  # the same id in another conversation
        appender.append(msg(org_id, conv, "x")),  # a repeat: answered with the first "x"
    )
    assert appender.grouper.groups == 1 and appender.voided == 0
    first, x, second, other_x, repeat = results
    assert [r.event.seq for r in (first, x, second)] == [1, 2, 3]  # type: ignore[union-attr]
    assert not any(r.event.duplicate for r in (first, x, second, other_x))  # type: ignore[union-attr]
    assert repeat is not None and repeat.event.duplicate and repeat.event.seq == 2
    assert other_x is not None and other_x.event.seq == 1
    assert await stored_seqs(db, org_id, conv) == [1, 2, 3]


async def test_an_agents_message_is_checked_against_the_conversation_as_it_is_when_locked(
        db: Database) -> None:
    org_id, (conv,) = await new_org(db, 1)
    agent = uuid.uuid4()
    async with db.unit_of_work(org_id) as conn:
        await accounts.insert_user(conn, agent, org_id, f"{agent}@example.test", "Ploy",
                                   "agent", "x")
        await convs.set_mode(conn, org_id, conv, "agent", assignee_id=agent)
    appender = Appender(db, max_in_flight=1)
    # another process hands the conversation back to the bot, not yet committed, while
    # the group (the agent's reply and a visitor message) is on its way
    async with db.pool.acquire() as rival:
        tx = rival.transaction()
        await tx.start()
        await convs.set_mode(rival, org_id, conv, "bot", assignee_id=None)
        group = asyncio.gather(
            appender.append(msg(org_id, conv, "reply", require_assignee=agent)),
            appender.append(msg(org_id, conv, "visitor")),
        )
        await waiting_on_a_row_lock(db)
        await tx.commit()
        reply, visitor = await group
    assert reply is None  # the agent no longer held it once the group got the row
    assert visitor is not None and visitor.event.seq == 1 and visitor.mode == "bot"
    assert await stored_seqs(db, org_id, conv) == [1]
