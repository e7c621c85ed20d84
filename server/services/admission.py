"""Foreground work (sessions being set up) goes before background work (bot answers).

After a deploy every visitor reconnects at once and resends its unacked message, so the
new process would answer thousands of questions while thousands of sessions wait for
their welcome: measured with 5,000 visitors, resuming took 15.9 s with the bot's work
competing and 6.8 s without it. While `busy_at` or more sessions are being set up at
once (a reconnect storm: a steady flow of new visitors stays far below it), at most
`while_busy` background jobs run; the others wait, first come first served, until the
storm has been over for `quiet_s` or a job ends. Reconnecting clients back off with
jitter, so set-ups come in waves; the quiet period keeps the gaps between waves from
letting every waiting job in at once. Outside a storm at most `max_running` jobs run at
once (64: with real embedding latencies that still starts hundreds of answers a second),
so the thousands released when a storm ends, or asked at the same moment, do not queue
on the database pool all together (where `/readyz` waits too). Nothing is dropped, only
ordered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Iterator

BUSY_AT = 8
WHILE_BUSY = 4
MAX_RUNNING = 64
QUIET_S = 0.25


class Admission:
    def __init__(self, busy_at: int = BUSY_AT, while_busy: int = WHILE_BUSY,
                 quiet_s: float = QUIET_S, max_running: int = MAX_RUNNING) -> None:
        self.busy_at = busy_at
        self.while_busy = while_busy
        self.max_running = max_running
        self.quiet_s = quiet_s
        self._foreground = 0
        self._storm = False
        self._quieting: asyncio.TimerHandle | None = None  # below busy_at, not yet quiet
        self._running = 0  # background jobs admitted and not yet ended
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(not f.done() for f in self._waiting)

    @property
    def running(self) -> int:
        return self._running

    @contextlib.contextmanager
    def foreground(self) -> Iterator[None]:
        """Held while a session is set up (hello to welcome and replay)."""
        self._foreground += 1
        if self._foreground >= self.busy_at:
            self._storm = True
            if self._quieting is not None:
                self._quieting.cancel()
                self._quieting = None
        try:
            yield
        finally:
            self._foreground -= 1
            if self._storm and self._foreground < self.busy_at and self._quieting is None:
                if self.quiet_s > 0:
                    self._quieting = asyncio.get_running_loop().call_later(
                        self.quiet_s, self._calm)
                else:
                    self._calm()

    def _calm(self) -> None:
        self._quieting = None
        self._storm = False
        self._admit()

    @contextlib.asynccontextmanager
    async def background(self) -> AsyncIterator[None]:
        """Held around a background job's work; waits while set-ups keep its slots full."""
        if self._waiting or not self._free():
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._end()  # admitted as it was cancelled: pass the slot on
                else:
                    waiter.cancel()
                raise
        else:
            self._running += 1
        try:
            yield
        finally:
            self._end()

    def _free(self) -> bool:
        return self._running < (self.while_busy if self._storm else self.max_running)

    def _end(self) -> None:
        self._running -= 1
        self._admit()

    def _admit(self) -> None:
        # the slot is taken here, not when the waiter wakes, so no newcomer slips in between
        while self._waiting and self._free():
            waiter = self._waiting.popleft()
            if waiter.done():  # cancelled while waiting
                continue
            self._running += 1
            waiter.set_result(None)
