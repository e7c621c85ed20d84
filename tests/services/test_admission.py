"""The Admission gate on its own: session set-ups hold bot work back to a few slots, in
order, and nothing waits once set-ups stop or is lost to a cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest

from server.services.admission import GROW_AFTER, Admission

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def settle() -> None:
    # a few loop turns: enough for any admitted job to reach its body
    for _ in range(5):
        await asyncio.sleep(0)


class Jobs:
    """Background jobs that record when they start and run until told to end."""

    def __init__(self, gate: Admission) -> None:
        self.gate = gate
        self.started: list[int] = []
        self.ends: dict[int, asyncio.Event] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def start(self, *ids: int) -> None:
        for i in ids:
            self.ends[i] = asyncio.Event()
            self.tasks[i] = asyncio.create_task(self._job(i))

    async def _job(self, i: int) -> None:
        async with self.gate.background():
            self.started.append(i)
            await self.ends[i].wait()

    def end(self, i: int) -> None:
        self.ends[i].set()

    async def end_all(self) -> None:
        for event in self.ends.values():
            event.set()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


async def test_with_no_set_up_in_progress_jobs_start_at_once_up_to_the_cap() -> None:
    gate = Admission(busy_at=1, while_busy=2, quiet_s=0, max_running=8)
    jobs = Jobs(gate)
    jobs.start(*range(10))
    await settle()
    assert jobs.started == list(range(8))
    assert gate.running == 8 and gate.waiting == 2
    jobs.end(0)
    await settle()
    assert jobs.started == list(range(9))  # the next in line, as a slot frees
    await jobs.end_all()
    assert jobs.started == list(range(10))
    assert gate.running == 0


async def test_set_ups_hold_jobs_to_the_busy_slots_in_order_then_release_all() -> None:
    gate = Admission(busy_at=1, while_busy=2, quiet_s=0)
    jobs = Jobs(gate)
    with gate.foreground():
        jobs.start(*range(6))
        await settle()
        assert jobs.started == [0, 1]
        assert gate.waiting == 4
        jobs.end(0)
        await settle()
        assert jobs.started == [0, 1, 2]  # one ended, the next in line took its slot
        with gate.foreground():  # overlapping set-ups keep the gate busy
            pass
        await settle()
        assert jobs.started == [0, 1, 2]
    await settle()
    assert jobs.started == [0, 1, 2, 3, 4, 5]  # the last set-up ended: everyone goes
    assert gate.waiting == 0
    await jobs.end_all()
    assert gate.running == 0


async def test_jobs_already_running_when_set_ups_begin_count_against_the_slots() -> None:
    gate = Admission(busy_at=1, while_busy=2, quiet_s=0)
    jobs = Jobs(gate)
    jobs.start(0, 1, 2)
    await settle()
    with gate.foreground():
        jobs.start(3)
        await settle()
        assert 3 not in jobs.started
        jobs.end(0)
        jobs.end(1)
        await settle()
        assert 3 in jobs.started  # below the slots again
    await jobs.end_all()
    assert gate.running == 0


async def test_a_cancelled_waiter_neither_starts_nor_keeps_a_slot() -> None:
    gate = Admission(busy_at=1, while_busy=1, quiet_s=0)
    jobs = Jobs(gate)
    with gate.foreground():
        jobs.start(0, 1, 2)
        await settle()
        jobs.tasks[1].cancel()
        await settle()
        jobs.end(0)
        await settle()
        assert jobs.started == [0, 2]
        assert gate.running == 1 and gate.waiting == 0
    await jobs.end_all()
    assert gate.running == 0


async def test_a_job_cancelled_as_it_is_admitted_passes_its_slot_on() -> None:
    gate = Admission(busy_at=1, while_busy=1, quiet_s=0)
    jobs = Jobs(gate)
    with gate.foreground():
        holder = gate.background()
        await holder.__aenter__()  # the one slot
        jobs.start(1, 2)
        await settle()
        assert jobs.started == [] and gate.waiting == 2
        # ending the holder hands the slot to job 1 without a loop turn in between;
        # job 1 is cancelled before it can run
        await holder.__aexit__(None, None, None)
        jobs.tasks[1].cancel()
        await settle()
        assert jobs.started == [2]
        assert gate.running == 1
    await jobs.end_all()
    assert gate.running == 0


async def test_jobs_wait_out_the_quiet_period_and_a_new_set_up_restarts_it() -> None:
    gate = Admission(busy_at=1, while_busy=1, quiet_s=0.3)
    jobs = Jobs(gate)
    with gate.foreground():
        jobs.start(0, 1)
        await settle()
    await settle()
    assert jobs.started == [0]  # set-ups just ended: a wave of reconnects may follow
    with gate.foreground():  # the next wave
        await settle()
    await settle()
    assert jobs.started == [0]
    loop = asyncio.get_running_loop()
    quiet_from = loop.time()
    while 1 not in jobs.started:
        assert loop.time() - quiet_from < 5, "never admitted after the quiet period"
        await asyncio.sleep(0.01)
    assert loop.time() - quiet_from >= 0.25  # counted from the last set-up's end
    await jobs.end_all()
    assert gate.running == 0


async def test_set_ups_below_the_storm_threshold_hold_nothing_back() -> None:
    gate = Admission(busy_at=3, while_busy=1, quiet_s=0)
    jobs = Jobs(gate)
    with gate.foreground(), gate.foreground():  # two visitors arriving: no storm
        jobs.start(0, 1, 2)
        await settle()
        assert jobs.started == [0, 1, 2]
        with gate.foreground():  # the third at once: a storm
            jobs.start(3)
            await settle()
            assert 3 not in jobs.started
        await settle()
        assert 3 in jobs.started  # back below the threshold (no quiet period here)
    await jobs.end_all()
    assert gate.running == 0


async def test_the_cap_halves_when_the_loop_is_late_and_grows_only_while_jobs_wait() -> None:
    gate = Admission(quiet_s=0, max_running=32, min_running=4)
    assert gate.limit == 4  # starts low: a burst after a quiet spell is let in gradually
    jobs = Jobs(gate)
    jobs.start(*range(6))
    await settle()
    assert jobs.started == list(range(4)) and gate.waiting == 2
    for _ in range(GROW_AFTER - 1):
        gate.observe_lag(0.0)
    assert gate.limit == 4  # not yet: the loop must stay idle for a while
    gate.observe_lag(0.0)
    await settle()
    assert gate.limit == 5 and jobs.started == list(range(5))  # and the next one is let in
    gate.limit = 32
    gate.observe_lag(0.02)  # a late loop
    assert gate.limit == 16
    for _ in range(3):
        gate.observe_lag(0.02)
    assert gate.limit == 4  # never below the floor
    await jobs.end_all()
    for _ in range(10 * GROW_AFTER):
        gate.observe_lag(0.0)
    assert gate.limit == 4  # nothing waits: an unused cap does not grow


async def test_the_probe_sees_a_blocked_loop() -> None:
    gate = Admission(max_running=64, min_running=4, probe_s=0.01, lag_target_s=0.005)
    gate.limit = 64
    gate.start()
    try:
        time.sleep(0.05)  # noqa: ASYNC251  # block the loop on purpose: the probe is late
        while gate.limit == 64:  # noqa: ASYNC110  # the probe runs on this loop
            await asyncio.sleep(0.005)
        assert gate.limit <= 32  # halved (again, if a busy test box made the next late too)
    finally:
        gate.close()


async def test_the_probe_runs_only_while_jobs_run_or_wait() -> None:
    gate = Admission(quiet_s=0, max_running=64, min_running=4, probe_s=0.01)
    gate.start()
    try:
        await asyncio.sleep(0.03)  # the first probe found nothing to watch
        assert gate._probe is None  # an idle process is not woken every 10 ms
        jobs = Jobs(gate)
        jobs.start(1)
        await settle()
        assert gate._probe is not None  # a job brings the probe back
        await jobs.end_all()
        await asyncio.sleep(0.03)
        assert gate._probe is None
    finally:
        gate.close()
