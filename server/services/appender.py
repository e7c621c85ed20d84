"""Group commit for message appends: the messages that arrive while an append is in
flight are stored together by the next one, in one statement and one transaction.

On a small box the round trip and the commit of each statement cost Postgres more CPU
than the insert itself (measured: ~530 µs of Postgres CPU per message stored alone,
~250 µs in groups of ten), so under load grouping roughly doubles how many messages a
second Postgres can store. An idle hub stores a lone message at once, as before: nothing
waits for a group to fill, a group is simply whatever queued meanwhile.

Every guarantee of one append holds per message: each is stored before its caller
returns (and so before it is acked or published), with its own seq, its own duplicate
check and its own tenant check. A unique violation (a concurrent first try of one of the
client ids) voids the whole group; its messages are then stored one by one, so only the
message that raced sees DuplicateClientId.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

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

Waiting = tuple[NewEvent, asyncio.Future[Appended | None]]


def _retrieve(fut: asyncio.Future[Appended | None]) -> None:
    if not fut.cancelled():
        fut.exception()


class Appender:
    def __init__(self, db: Database, max_group: int = MAX_GROUP,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.db = db
        self.max_group = max_group
        self.max_in_flight = max_in_flight
        self._queue: list[Waiting] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self.groups = 0  # statements sent, for the bench and the tests
        self.grouped = 0  # messages stored in groups of more than one

    async def append(self, item: NewEvent) -> Appended | None:
        """Store one event (see `messages.append`); returns once it is committed."""
        fut: asyncio.Future[Appended | None] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_retrieve)  # a caller that went away leaves no loose error
        self._queue.append((item, fut))
        if len(self._flushers) < self.max_in_flight:
            task = asyncio.create_task(self._flush(), name="append-group")
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        # shielded: a caller that goes away (its socket closed) must not cancel the
        # statement that also carries other callers' messages
        return await asyncio.shield(fut)

    async def _flush(self) -> None:
        while self._queue:
            group, self._queue = self._queue[: self.max_group], self._queue[self.max_group:]
            # one lock order for every group: two groups never wait on each other's rows
            group.sort(key=lambda w: w[0].conversation_id.bytes)
            try:
                await self._store(group)
            except Exception as exc:  # Postgres is down or the statement failed: tell each
                for _, fut in group:
                    if not fut.done():
                        fut.set_exception(exc)

    async def _store(self, group: list[Waiting]) -> None:
        self.groups += 1
        if len(group) == 1:
            item, fut = group[0]
            await self._one(item, fut)
            return
        items = [item for item, _ in group]
        try:
            async with self.db.pool.acquire() as conn:
                results = await messages.append_many(conn, items)
        except DuplicateClientId:
            # void as a whole: store them one by one, so only the racing message sees it
            for item, fut in group:
                await self._one(item, fut)
            return
        self.grouped += len(group)
        for (_, fut), result in zip(group, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def _one(self, item: NewEvent, fut: asyncio.Future[Appended | None]) -> None:
        try:
            async with self.db.pool.acquire() as conn:
                result = await messages.append(
                    conn, item.org_id, item.conversation_id, kind=item.kind,
                    author_role=item.author_role, text=item.text, client_id=item.client_id,
                    author_id=item.author_id, author_name=item.author_name,
                    stream_id=item.stream_id, sources=item.sources, meta=item.meta,
                    require_assignee=item.require_assignee,
                )
        except Exception as exc:
            if not fut.done():
                fut.set_exception(exc)
            return
        if not fut.done():
            fut.set_result(result)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Let queued messages be stored (bounded) before the pool closes."""
        if self._flushers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._flushers,
                                                      return_exceptions=True), timeout_s)
