"""Group commit for message appends: the messages that arrive while an append is in
flight are stored together by the next one, in one statement and one transaction.

On a small box the round trip and the commit of each statement cost Postgres more CPU
than the insert itself (measured: ~530 µs of Postgres CPU per message stored alone;
in groups of 64, ~175 µs with a function call per row, ~100 µs set-based as migration
0007 does it), so under load grouping multiplies how many messages a second Postgres
can store. An idle hub stores a lone
message at once, as before: nothing waits for a group to fill, a group is simply
whatever queued meanwhile.

Every guarantee of one append holds per message: each is stored before its caller
returns (and so before it is acked or published), with its own seq, its own duplicate
check and its own tenant check. A unique violation (a client id another kind of event
already took) voids the whole group; its messages are then stored one by one, so only
that message sees DuplicateClientId.
"""

from __future__ import annotations

import logging
from typing import cast

import asyncpg

from server.services.grouping import Grouper
from server.storage import messages
from server.storage.db import Database
from server.storage.messages import Appended, DuplicateClientId, NewEvent

log = logging.getLogger("clienta.appender")

MAX_GROUP = 128  # messages per statement: bounds the wait of a group's first message
# One group statement in flight per process. The visitor and the agent of a conversation
# are often on different processes, so concurrent groups lock the same conversations and
# wait on each other; measured on the chat bench, 2 in flight (groups of 64) stored ~2,100
# msg/s, 4 (of 32) ~2,200, 1 (of 128) ~2,750.
MAX_IN_FLIGHT = 1


class Appender:
    def __init__(self, db: Database, max_group: int = MAX_GROUP,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.db = db
        # one lock order for every group: two groups never wait on each other's rows
        self.grouper: Grouper[NewEvent, Appended | None] = Grouper(
            self._run, max_group=max_group, max_in_flight=max_in_flight,
            order=lambda item: item.conversation_id.bytes)
        self.voided = 0  # groups voided by a racing client id, then stored one by one

    async def append(self, item: NewEvent) -> Appended | None:
        """Store one event (see `messages.append`); returns once it is committed."""
        return await self.grouper.submit(item)

    async def _run(self, items: list[NewEvent]) -> list[Appended | BaseException | None]:
        if len(items) > 1:
            try:
                async with self.db.message_pool.acquire() as proxy:
                    # the pool's proxy is a Connection to asyncpg (isinstance), not to its stubs
                    conn = cast(asyncpg.Connection, proxy)
                    return list(await messages.append_many(conn, self.db.keys, items))
            except DuplicateClientId:
                self.voided += 1  # void as a whole: only the racing message may see it
            except Exception:
                # one message's bad data (or a lost connection) fails the whole statement:
                # one by one, each message gets its own answer and the others are stored
                self.voided += 1
                log.warning("append group failed, storing one by one", exc_info=True)
        return [await self._one(item) for item in items]

    async def _one(self, item: NewEvent) -> Appended | BaseException | None:
        try:
            async with self.db.message_pool.acquire() as proxy:
                conn = cast(asyncpg.Connection, proxy)  # as in _run
                return await messages.append(
                    conn, self.db.keys, item.org_id, item.conversation_id, kind=item.kind,
                    author_role=item.author_role, text=item.text, client_id=item.client_id,
                    author_id=item.author_id, author_name=item.author_name,
                    stream_id=item.stream_id, sources=item.sources, meta=item.meta,
                    require_assignee=item.require_assignee,
                )
        except Exception as exc:
            return exc

    async def close(self, timeout_s: float = 5.0) -> None:
        """Let queued messages be stored (bounded) before the pool closes."""
        await self.grouper.close(timeout_s)
