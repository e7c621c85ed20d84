"""Run concurrent calls as groups: what is asked while a group is in flight goes out
together in the next one, one statement for many callers.

On a small box every round trip to Postgres costs its backend more CPU than a simple
statement's work, so under load a group of N costs far less than N calls; when the hub
is idle a lone call goes at once (nothing waits for a group to fill: a group is
whatever queued meanwhile). Used for message appends (group commit) and the reads of
returning visitors.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")

# the answer for each item of a group, in order: a value, or the exception for that item
RunGroup = Callable[[list[Item]], Awaitable[list[Answer | BaseException]]]


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # a caller that went away leaves no "never retrieved" error


class Grouper(Generic[Item, Answer]):
    def __init__(self, run: RunGroup[Item, Answer], *, max_group: int, max_in_flight: int,
                 order: Callable[[Item], Any] | None = None) -> None:
        self.run = run
        self.max_group = max_group
        self.max_in_flight = max_in_flight
        self.order = order  # sorts each group (e.g. one lock order for all groups)
        self._queue: list[tuple[Item, asyncio.Future[Answer]]] = []
        self._flushers: set[asyncio.Task[None]] = set()
        # runners still looping, counted down in the runner itself as it leaves its loop:
        # a task's done-callback comes an iteration later, and an item queued in between
        # would find a runner that is gone (and wait for the next caller to start one)
        self._running = 0
        self.groups = 0  # group runs, for the bench and the tests
        self.grouped = 0  # items answered by runs of more than one

    async def submit(self, item: Item) -> Answer:
        fut: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_retrieve)
        self._queue.append((item, fut))
        if self._running < self.max_in_flight:
            self._running += 1
            task = asyncio.create_task(self._flush(), name="grouped-run")
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        # A caller that goes away (its socket closed) cancels only its own future: the run
        # is the runner task's, so it still answers the others (and still runs this item;
        # `_drain` skips answering a future already done). No `shield` needed, whose extra
        # future and callbacks were a few per cent of a hub under chat load.
        return await fut

    async def _flush(self) -> None:
        try:
            await self._drain()
        finally:
            self._running -= 1

    async def _drain(self) -> None:
        while self._queue:
            group, self._queue = self._queue[: self.max_group], self._queue[self.max_group:]
            if self.order is not None:
                order = self.order
                group.sort(key=lambda waiting: order(waiting[0]))
            self.groups += 1
            try:
                answers = await self.run([item for item, _ in group])
            except Exception as exc:  # the run failed as a whole (e.g. Postgres is down)
                answers = [exc] * len(group)
            if len(group) > 1:
                self.grouped += len(group)
            for (_, fut), answer in zip(group, answers, strict=True):
                if fut.done():
                    continue
                if isinstance(answer, BaseException):
                    fut.set_exception(answer)
                else:
                    fut.set_result(answer)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Let queued items be answered (bounded) before what they need closes."""
        if self._flushers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._flushers,
                                                      return_exceptions=True), timeout_s)
