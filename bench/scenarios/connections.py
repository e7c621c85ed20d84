"""`connections`: N idle visitors on one server process, against the bare-uvicorn floor.

Measures session set-up (websocket handshake + hello → welcome) per second and the
server's RSS per held connection, for `clienta serve` and for `bench/floor_app.py`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.clients import Visitor
from bench.console import Ui
from bench.http_api import Api
from bench.lean_ws import LeanVisitor, open_visitor
from bench.loadgen import Control, Fleet, cap, ping, split
from bench.services import HOST, BenchError, Proc, Stack, free_port
from bench.stats import Result, Target, rate_series

ROLE = "bench.scenarios.connections:role"


@dataclass(frozen=True, slots=True)
class Params:
    n: int = 10_000
    workers: int = 4
    concurrency: int = 100  # handshakes in flight per worker
    settle_s: float = 3.0  # idle time before memory is read

    @classmethod
    def full(cls) -> Params:
        return cls()

    @classmethod
    def quick(cls) -> Params:
        return cls(n=1_000, workers=2, concurrency=50, settle_s=2.0)

    @classmethod
    def tiny(cls) -> Params:
        return cls(n=20, workers=1, concurrency=10, settle_s=0.5)


async def role(spec: dict[str, Any], ctl: Control) -> None:
    visitors: list[LeanVisitor] = []

    async def connect(cmd: dict[str, Any]) -> dict[str, Any]:
        gate = asyncio.Semaphore(cmd["concurrency"])
        setup_ms: list[float] = []
        done_at: list[float] = []
        errors: list[str] = []
        path = f"/v1/ws/visitor?site_key={cmd['site_key']}"

        async def one() -> None:
            async with gate:
                started = time.monotonic()
                try:
                    v = await open_visitor(HOST, cmd["port"], path, 30)
                except (OSError, TimeoutError) as exc:
                    errors.append(repr(exc))
                    return
                setup_ms.append((time.monotonic() - started) * 1000)
                done_at.append(time.time())
                visitors.append(v)

        t0 = time.time()
        await asyncio.gather(*(one() for _ in range(cmd["count"])))
        return {"setup_ms": cap(setup_ms), "done_at": cap(done_at), "t0": t0,
                "t1": max(done_at, default=t0), "errors": errors[:5], "failed": len(errors)}

    async def check(_: dict[str, Any]) -> dict[str, Any]:
        dropped = sum(1 for v in visitors if v.closed)
        return {"alive": len(visitors) - dropped, "dropped": dropped}

    async def close(_: dict[str, Any]) -> dict[str, Any]:
        for v in visitors:
            v.close()
        visitors.clear()
        await asyncio.sleep(0.2)
        return {}

    await ctl.serve({"ping": ping, "connect": connect, "check": check, "close": close})


async def hold(proc: Proc, site_key: str, p: Params, ui: Ui, label: str) -> dict[str, Any]:
    """Warm up, read the baseline RSS, connect N visitors, settle, read RSS, close them."""
    warm = [Visitor(proc.ws_url, site_key, f"warm{i}") for i in range(10)]
    for v in warm:
        await v.connect()
    for v in warm:
        await v.close()
    await asyncio.sleep(0.5)
    base_rss = proc.rss()
    counts = split(p.n, p.workers)
    async with Fleet(ROLE, [{} for _ in counts]) as fleet:
        ui.info(f"{label}: opening {p.n} visitor sessions over {len(counts)} processes")
        answers = await fleet.command(
            "connect", 300, port=proc.port, site_key=site_key, concurrency=p.concurrency,
            per_worker=[{"count": c} for c in counts],
        )
        failed = sum(a["failed"] for a in answers)
        if failed:
            errors = [e for a in answers for e in a["errors"]]
            raise BenchError(f"{label}: {failed} of {p.n} sessions failed, e.g. {errors[:3]}")
        await asyncio.sleep(p.settle_s)
        rss = proc.rss()
        checks = await fleet.command("check", 60)
        await fleet.command("close", 120)
    t0 = min(a["t0"] for a in answers)
    t1 = max(a["t1"] for a in answers)
    return {
        "base_rss": base_rss,
        "rss": rss,
        "per_conn": (rss - base_rss) / p.n,
        "rate": p.n / max(t1 - t0, 1e-6),
        "setup_ms": [x for a in answers for x in a["setup_ms"]],
        "done_at": [x for a in answers for x in a["done_at"]],
        "dropped": sum(c["dropped"] for c in checks),
    }


async def run(stack: Stack, p: Params, ui: Ui) -> Result:
    result = Result("connections", quick=p != Params.full(), params=asdict(p))
    ui.phase("connections", f"{p.n} idle visitors on one server process, then on the floor")
    server = await stack.start_server("clienta-connections")
    try:
        async with Api(server.url) as api:
            org = await api.signup("connections")
        ours = await hold(server, org.site_key, p, ui, "clienta")
    finally:
        await stack.stop(server)
    floor_port = free_port()
    floor = await stack.start_python(
        "floor",
        ["uvicorn", "bench.floor_app:app", "--host", "127.0.0.1", "--port", str(floor_port),
         "--log-level", "warning", "--no-access-log", "--backlog", "4096",
         # the same websocket settings `clienta serve` gives uvicorn
         "--ws-max-size", "65536", "--ws-ping-interval", "20", "--ws-ping-timeout", "20"],
        floor_port, ready_path="/readyz",
    )
    try:
        bare = await hold(floor, "floor", p, ui, "floor")
    finally:
        await stack.stop(floor)

    ratio = ours["per_conn"] / bare["per_conn"] if bare["per_conn"] > 0 else float("nan")
    result.metrics.update(
        connections=p.n,
        sessions_per_s=round(ours["rate"], 1),
        floor_sessions_per_s=round(bare["rate"], 1),
        rss_per_conn_kib=round(ours["per_conn"] / 1024, 2),
        floor_rss_per_conn_kib=round(bare["per_conn"] / 1024, 2),
        memory_ratio=round(ratio, 3),
        server_rss_mib=round(ours["rss"] / 2**20, 1),
    )
    result.add_latency("session set-up (clienta)", ours["setup_ms"])
    result.add_latency("session set-up (floor)", bare["setup_ms"])
    result.series["sessions/s (clienta)"] = rate_series(ours["done_at"])
    result.series["sessions/s (floor)"] = rate_series(bare["done_at"])
    result.lost = ours["dropped"]
    result.targets += [
        Target("memory per idle connection vs floor", 1.25, ratio, "×", False),
        Target("session set-ups per second", 2500, ours["rate"], "/s", True),
    ]
    result.notes.append(
        "A session set-up is the websocket handshake plus hello → welcome; RSS per connection "
        "is (RSS with N held − RSS after warm-up) / N, read after the connections idle."
    )
    if ours["dropped"]:
        result.notes.append(f"{ours['dropped']} connections were dropped while idle")
    return result
