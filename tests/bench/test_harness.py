"""The load-test harness runs each of our scenarios once, tiny, through its Python API.

Only completion and delivery accounting are asserted (lost == duplicated == 0), never
timings: those belong to `make bench`. A missing server capability fails the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bench.console import Ui
from bench.runner import Run, params_for
from bench.scenarios import fanout, peer
from bench.services import Stack
from bench.stats import Result
from tests.conftest import TEST_MASTER_KEY

pytestmark = pytest.mark.timeout(90)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def bench_run(database_url: str, redis_url: str) -> AsyncIterator[Run]:
    # The session's Postgres and Redis; the harness starts its own server processes.
    async with Stack(database_url=database_url, redis_url=redis_url,
                     master_key=TEST_MASTER_KEY) as stack:
        yield Run(stack, Ui(quiet=True), "tiny")


@pytest.mark.parametrize("name", ["connections", "chat", "stream", "resume", "fanout"])
async def test_scenario_completes_without_loss(bench_run: Run, name: str) -> None:
    result = await bench_run.scenario(name, params_for(name, "tiny"))
    assert result.lost == 0, result.as_json()
    assert result.duplicated == 0, result.as_json()
    assert result.latency, "the scenario measured nothing"


async def test_the_websockets_floor_peer_delivers_every_message_once(bench_run: Run) -> None:
    """The `peer` scenario's Python floor (websockets' broadcast() over Redis, two
    processes) under the tiny fanout workload, driven by the socket.io clients: every
    acked message reaches every member once. Node's peer needs npm, so it stays in
    `make bench`."""
    result = Result("peer", quick=True, params={})
    await peer.measure(bench_run.stack, fanout.Params.tiny(), bench_run.ui, peer.FLOOR, result)
    assert result.metrics[f"frames_{peer.FLOOR}"] > 0, result.as_json()
    assert result.lost == 0, result.as_json()
    assert result.duplicated == 0, result.as_json()
