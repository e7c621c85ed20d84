"""The senders' schedule (`ticks`), shared by our senders and the peers': senders started
together must not fire together, or the server under test gets every room's message in
one burst each period (the peers' senders once did, while ours were spread)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bench.scenarios.common import ticks


@pytest.mark.asyncio(loop_scope="session")
async def test_senders_started_together_are_spread_over_the_period() -> None:
    rate, start = 20.0, time.time() + 0.01  # a 50 ms period
    firsts: list[float] = []

    async def sender() -> int:
        n = 0
        async for n in ticks(rate, start, 0.12):
            if n == 1:
                firsts.append(time.monotonic())
        return n

    counts = await asyncio.gather(*(sender() for _ in range(8)))
    # every sender keeps the rate: 0.12 s at 20/s is 2 or 3 ticks, whatever its phase
    assert all(c in (2, 3) for c in counts), counts
    # eight phases drawn over 50 ms all within 5 ms of each other: ~1 in 10 million
    assert max(firsts) - min(firsts) > 0.005, firsts
