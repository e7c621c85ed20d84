"""The reads of returning visitors, grouped: whose conversation it is, and what they missed.

After a deploy thousands of visitors come back within seconds, each needing the same two
reads. Alone, each took a unit of work of four round trips (BEGIN with the tenant, the
owner, the missed events, COMMIT); grouped, every visitor that arrives while a group is
in flight is answered by the next one, two statements for all of them. The statements
carry each visitor's org in every row's predicate (a group spans orgs, so no single
transaction tenant fits). Consistency between the two reads needs no transaction: the
caller has joined the room first, so an event stored after either read reaches the
visitor live, and the replay drops it by seq if it is read as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast
from uuid import UUID

import asyncpg

from server.services.grouping import Grouper
from server.storage import conversations as convs
from server.storage import messages
from server.storage.db import Database

MAX_GROUP = 256  # visitors per group (each replay is itself capped at REPLAY_BATCH)
MAX_IN_FLIGHT = 2

# the visitor's conversation (None: none of theirs), and the events after last_seq when
# it is the one they asked for (None otherwise: they are opened like a first visit)
Found = tuple[convs.Conversation | None, list[messages.StoredEvent] | None]


@dataclass(frozen=True, slots=True)
class ResumeAsk:
    org_id: UUID
    visitor_id: UUID
    requested: UUID
    last_seq: int


class ResumeReads:
    def __init__(self, db: Database, max_group: int = MAX_GROUP,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.db = db
        self.grouper: Grouper[ResumeAsk, Found] = Grouper(
            self._run, max_group=max_group, max_in_flight=max_in_flight)

    async def read(self, ask: ResumeAsk) -> Found:
        return await self.grouper.submit(ask)

    async def _run(self, asks: list[ResumeAsk]) -> list[Found | BaseException]:
        async with self.db.message_pool.acquire() as proxy:
            # the pool's proxy is a Connection to asyncpg (isinstance), not to its stubs
            conn = cast(asyncpg.Connection, proxy)
            owned = await convs.for_visitors(
                conn, [(a.org_id, a.visitor_id, a.requested) for a in asks])
            # only the conversation the visitor asked for is replayed
            wanted = [i for i, (a, c) in enumerate(zip(asks, owned, strict=True))
                      if c is not None and c.id == a.requested]
            missed = await messages.after_many(
                conn, self.db.keys,
                [(asks[i].org_id, asks[i].requested, asks[i].last_seq) for i in wanted],
                include_notes=False) if wanted else []
        found: list[Found | BaseException] = [(c, None) for c in owned]
        for i, events in zip(wanted, missed, strict=True):
            found[i] = (owned[i], events)
        return found

    async def close(self, timeout_s: float = 5.0) -> None:
        await self.grouper.close(timeout_s)
