"""Foreground work (sessions being set up) goes before background work (bot answers): in a
reconnect storm few answers run until it is over; otherwise their number follows the
event loop's lag. The design and its measurements: docs/performance.md (Admission)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Iterator

BUSY_AT = 8
WHILE_BUSY = 4
MAX_RUNNING = 64
MIN_RUNNING = 8
QUIET_S = 0.25
LAG_PROBE_S = 0.01
LAG_TARGET_S = 0.005
GROW_AFTER = 5  # punctual probes in a row before the cap grows by one


class Admission:
    def __init__(self, busy_at: int = BUSY_AT, while_busy: int = WHILE_BUSY,
                 quiet_s: float = QUIET_S, max_running: int = MAX_RUNNING,
                 min_running: int = MIN_RUNNING, lag_target_s: float = LAG_TARGET_S,
                 probe_s: float = LAG_PROBE_S) -> None:
        self.busy_at = busy_at
        self.while_busy = while_busy
        self.max_running = max_running
        self.min_running = min(min_running, max_running)
        self.limit = self.min_running  # the cap outside a storm, following the loop's lag
        self.lag_target_s = lag_target_s
        self.probe_s = probe_s
        self._probe: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._watching = False  # start() called: probe while jobs run or wait
        self._idle_ticks = 0  # punctual probes in a row while jobs wait
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

    def start(self) -> None:
        """Watch the event loop's lag while background jobs run or wait (without it the
        cap stays at `min_running`). An idle process is not woken: the probe stops when
        no job is left and the next job restarts it."""
        self._watching = True
        self._probe_soon()

    def close(self) -> None:
        self._watching = False
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None

    def _probe_soon(self) -> None:
        if self._watching and self._probe is None:
            loop = asyncio.get_running_loop()
            self._due = loop.time() + self.probe_s
            self._probe = loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        self._probe = None
        self.observe_lag(asyncio.get_running_loop().time() - self._due)
        if self._running or self._waiting:
            self._probe_soon()

    def observe_lag(self, lag_s: float) -> None:
        """A late loop halves the cap; a punctual one raises it by one."""
        if lag_s > self.lag_target_s:
            self.limit = max(self.min_running, self.limit // 2)
            self._idle_ticks = 0
        elif lag_s < self.lag_target_s / 5 and self._waiting:
            # grows only while jobs wait and the loop stays idle for GROW_AFTER ticks
            self._idle_ticks += 1
            if self._idle_ticks >= GROW_AFTER and self.limit < self.max_running:
                self._idle_ticks = 0
                self.limit += 1
                self._admit()
        else:
            self._idle_ticks = 0

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
        self._probe_soon()
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
        return self._running < (self.while_busy if self._storm else self.limit)

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
