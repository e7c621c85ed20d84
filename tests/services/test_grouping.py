"""The Grouper on its own: groups form while a run is in flight, and no item is left
waiting for a runner that has already gone."""

from __future__ import annotations

import asyncio

import pytest

from server.services.grouping import Grouper

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_items_asked_during_a_run_go_out_together_in_the_next() -> None:
    runs: list[list[int]] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def run(items: list[int]) -> list[int | BaseException]:
        runs.append(items)
        started.set()
        if len(runs) == 1:
            await release.wait()
        return [i * 10 for i in items]

    grouper: Grouper[int, int] = Grouper(run, max_group=3, max_in_flight=1)
    first = asyncio.ensure_future(grouper.submit(1))
    await started.wait()
    later = [asyncio.ensure_future(grouper.submit(i)) for i in range(2, 7)]
    await asyncio.sleep(0)
    release.set()
    assert await first == 10
    assert await asyncio.gather(*later) == [20, 30, 40, 50, 60]
    assert runs == [[1], [2, 3, 4], [5, 6]]  # at most max_group per run
    assert grouper.grouped == 5


async def test_an_item_asked_as_the_last_run_ends_is_still_run() -> None:
    grouper: Grouper[int, int]
    late: list[asyncio.Task[int]] = []

    async def run(items: list[int]) -> list[int | BaseException]:
        if items == [1]:
            # asked now, its first step runs after this run returns but before the
            # runner task's done-callbacks: the runner has left its loop by then
            late.append(asyncio.create_task(grouper.submit(2)))
        return items

    grouper = Grouper(run, max_group=8, max_in_flight=1)
    assert await grouper.submit(1) == 1
    assert await asyncio.wait_for(late[0], 2) == 2


async def test_a_failed_run_fails_its_items_and_the_next_run_goes_on() -> None:
    async def run(items: list[int]) -> list[int | BaseException]:
        if 0 in items:
            raise ConnectionError("postgres went away")
        return [ValueError("odd") if i % 2 else i for i in items]

    grouper: Grouper[int, int] = Grouper(run, max_group=8, max_in_flight=1)
    with pytest.raises(ConnectionError):
        await grouper.submit(0)
    results = await asyncio.gather(grouper.submit(2), grouper.submit(3),
                                   return_exceptions=True)
    assert results[0] == 2 and isinstance(results[1], ValueError)


async def test_a_caller_that_goes_away_cancels_neither_the_run_nor_its_item() -> None:
    runs: list[list[int]] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def run(items: list[int]) -> list[int | BaseException]:
        runs.append(items)
        started.set()
        await release.wait()
        return [i * 10 for i in items]

    grouper: Grouper[int, int] = Grouper(run, max_group=8, max_in_flight=1)
    first = asyncio.ensure_future(grouper.submit(1))
    await started.wait()
    queued = asyncio.ensure_future(grouper.submit(2))
    other = asyncio.ensure_future(grouper.submit(3))
    await asyncio.sleep(0)
    first.cancel()  # its run is in flight
    queued.cancel()  # it waits for the next run
    release.set()
    assert await other == 30  # the run that also answers others goes on
    for gone in (first, queued):
        with pytest.raises(asyncio.CancelledError):
            await gone
    assert runs == [[1], [2, 3]]  # and the items of callers that went away still ran
