"""`peer`: the fanout workload against socket.io (Node, Redis adapter), python-socketio,
and the bare floor: the `websockets` library's `broadcast()` over Redis (`peer/ws_floor.py`).

Two processes of each peer share one Redis, members split over both, senders on the first,
exactly like `fanout`. The peers store nothing; our figures include the Postgres write.
Reports each peer's delivered frames/s and delivery p99 and our ratio to them.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import cpu as host_cpu
from bench.console import Ui
from bench.loadgen import Control, Fleet, cap, ping, split
from bench.memo import Event, stamp
from bench.scenarios import fanout
from bench.scenarios.common import SendLog, bounded_gather, settle, settle_progress, ticks
from bench.services import BenchError, Stack, free_port
from bench.sio_client import SioClient, msg_memo
from bench.stats import Result, Target

PEER_DIR = Path(__file__).resolve().parent.parent / "peer"
FLOOR = "websockets"  # the bare fan-out floor: websockets' broadcast() over Redis pub/sub
PEERS = ("socket.io", "python-socketio", FLOOR)
Params = fanout.Params


async def senders(spec: dict[str, Any], ctl: Control) -> None:
    clients: list[SioClient] = []
    logs: list[SendLog] = []

    async def setup(cmd: dict[str, Any]) -> dict[str, Any]:
        for i in range(cmd["rooms"]):
            c = SioClient(cmd["base"], f"s{i}")
            await c.connect()
            clients.append(c)
            logs.append(SendLog())
        return {"conversations": [f"room-{i}" for i in range(cmd["rooms"])]}

    async def one(i: int, c: SioClient, log: SendLog, cmd: dict[str, Any]) -> None:
        # the same schedule as our senders' `pump`: a random phase per room, no drift
        async for n in ticks(cmd["rate"], cmd["start_at"], cmd["duration_s"]):
            if c.in_flight >= 4:  # the same in-flight cap as `pump`
                log.skipped += 1
                continue
            tag = f"s{i}-{n}"
            log.track(tag, _as_seq(c.emit("msg", {"room": f"room-{i}", "seq": n,
                                                  "text": stamp(tag)}), n))

    async def run(cmd: dict[str, Any]) -> dict[str, Any]:
        await asyncio.gather(*(one(i, c, g, cmd) for i, (c, g) in
                               enumerate(zip(clients, logs, strict=True))))
        await settle(lambda: all(len(g.acked) + len(g.failures) >= g.sent for g in logs), 10)
        return {
            "acked": {f"room-{i}": sorted(g.acked.values()) for i, g in enumerate(logs)},
            "sent": sum(g.sent for g in logs),
            "skipped": sum(g.skipped for g in logs),
            "failures": [f for g in logs for f in g.failures][:5],
            "ack_ms": cap([x for c in clients for x in c.ack_ms]),
        }

    async def close(_: dict[str, Any]) -> dict[str, Any]:
        await asyncio.gather(*(c.close() for c in clients))
        return {}

    await ctl.serve({"ping": ping, "setup": setup, "run": run, "close": close})


def _as_seq(fut: asyncio.Future[Any], seq: int) -> asyncio.Future[int]:
    """The ack future resolved to the sender's own sequence number (peers have no seq)."""
    out: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def done(f: asyncio.Future[Any]) -> None:
        if f.cancelled():
            out.cancel()
        elif f.exception() is not None:
            out.set_exception(f.exception())  # type: ignore[arg-type]
        else:
            out.set_result(seq)

    fut.add_done_callback(done)
    return out


async def members(spec: dict[str, Any], ctl: Control) -> None:
    clients: list[SioClient] = []
    seen: dict[tuple[int, str], set[int]] = {}
    frames = [0]
    latency_ms: list[float] = []
    buckets: dict[int, int] = {}
    last_at = [0.0]  # when the latest counted frame arrived (wall clock)

    memo = msg_memo()  # one decode per broadcast per process, as for our members

    def receiver(index: int) -> Any:
        def on_msg(event: Event, now: float) -> None:
            if event.sent_at is None:
                return
            frames[0] += 1
            last_at[0] = now
            latency_ms.append((now - event.sent_at) * 1000)
            b = int(now / fanout.BUCKET_S)
            buckets[b] = buckets.get(b, 0) + 1
            seen.setdefault((index, event.conversation_id), set()).add(event.seq)

        return on_msg

    async def setup(cmd: dict[str, Any]) -> dict[str, Any]:
        async def one(i: int) -> SioClient:
            c = SioClient(cmd["bases"][i % len(cmd["bases"])], f"m{i}", memo, receiver(i))
            await c.connect()
            await asyncio.wait_for(c.emit("join", cmd["conversations"]), 15)
            return c

        clients.extend(await bounded_gather((one(i) for i in range(cmd["count"])), 25))
        return {"members": len(clients)}

    async def report(cmd: dict[str, Any]) -> dict[str, Any]:
        acked: dict[str, list[int]] = cmd["acked"]
        expected = sum(len(s) for s in acked.values()) * len(clients)

        def received() -> int:
            return sum(len(seen.get((i, c), set()) & set(seqs))
                       for i in range(len(clients)) for c, seqs in acked.items())

        await settle_progress(lambda: received() >= expected, lambda: frames[0],
                              cmd["drain_s"], 120)
        distinct = sum(len(s) for s in seen.values())
        return {"frames": frames[0], "lost": expected - received(),
                "duplicated": frames[0] - distinct, "latency_ms": cap(latency_ms),
                "buckets": buckets, "last_at": last_at[0]}

    async def close(_: dict[str, Any]) -> dict[str, Any]:
        await asyncio.gather(*(c.close() for c in clients))
        return {}

    await ctl.serve({"ping": ping, "setup": setup, "report": report, "close": close})


def npm_install() -> None:
    if (PEER_DIR / "node_modules" / "socket.io").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("npm is not installed; the peer scenario needs Node.js and npm")
    done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"],
                          cwd=PEER_DIR, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise BenchError(f"npm install in bench/peer failed:\n{done.stderr[-1500:]}")


async def measure(stack: Stack, p: Params, ui: Ui, label: str, result: Result) -> None:
    ports = [free_port(), free_port()]
    env = {"REDIS_URL": stack.redis_url}
    if label == "socket.io":
        procs = [await stack.start_node(f"socketio-{i}", PEER_DIR / "server.js", port, env)
                 for i, port in enumerate(ports)]
    elif label == FLOOR:
        procs = [await stack.start_python(f"ws-floor-{i}", ["bench.peer.ws_floor", "--port",
                                                           str(port)], port, env)
                 for i, port in enumerate(ports)]
    else:
        procs = [await stack.start_python(
            f"python-socketio-{i}",
            ["uvicorn", "bench.peer.sio_server:app", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning", "--no-access-log"], port, env)
            for i, port in enumerate(ports)]
    try:
        bases = [f"ws://127.0.0.1:{port}" for port in ports]
        counts = split(p.members, p.workers)
        async with Fleet("bench.scenarios.peer:senders", [{}]) as send, \
                Fleet("bench.scenarios.peer:members", [{} for _ in counts]) as recv:
            (setup,) = await send.command("setup", 120, base=bases[0], rooms=p.rooms)
            await recv.command("setup", 300, bases=bases, conversations=setup["conversations"],
                               per_worker=[{"count": c} for c in counts])
            start_at = time.time() + 1.0
            async with host_cpu.measured(result.metrics, label), \
                    ui.timed(f"fan-out via {label}", p.duration_s + 1):
                (sent,) = await send.command("run", p.duration_s + 60, rate=p.rate,
                                             start_at=start_at, duration_s=p.duration_s)
            answers = await recv.command("report", 300, acked=sent["acked"], drain_s=5.0)
            await recv.command("close", 60)
            await send.command("close", 60)
    finally:
        for proc in procs:
            await stack.stop(proc)
    if sent["failures"]:
        raise BenchError(f"peer {label}: emits failed, e.g. {sent['failures'][:3]}")
    fanout.summarize(result, p, start_at, sent, answers, label)


async def run(stack: Stack, p: Params, ui: Ui, ours: Result | None = None) -> Result:
    """`ours` is this run's fanout result when there is one; otherwise fanout runs first."""
    result = Result("peer", quick=p != Params.full(), params=asdict(p))
    ui.phase("peer", "the fanout workload against socket.io (Node), python-socketio and "
             "websockets' broadcast()")
    await asyncio.to_thread(npm_install)
    await stack.start_infra()
    if ours is None or ours.params != asdict(p):
        ours = await fanout.run(stack, p, ui)
    for label in PEERS:
        await measure(stack, p, ui, label, result)
    mine_rate = ours.metrics.get("delivered_frames_per_s_members", math.nan)
    mine_p99 = ours.latency["delivery (members)"].p99
    result.metrics["delivered_frames_per_s_clienta"] = mine_rate
    result.latency["delivery (clienta)"] = ours.latency["delivery (members)"]
    for label in PEERS:
        rate = result.metrics[f"delivered_frames_per_s_{label}"]
        p99 = result.latency[f"delivery ({label})"].p99
        result.metrics[f"throughput_ratio_vs_{label}"] = round(mine_rate / rate, 3) if rate else 0
        result.metrics[f"p99_ratio_vs_{label}"] = round(mine_p99 / p99, 3) if p99 else math.nan
    result.targets.append(Target("delivery p99 ÷ socket.io's", 0.5,
                                 result.metrics["p99_ratio_vs_socket.io"], "×", False))
    if not result.quick:  # below saturation both deliver what is offered: nothing to rank
        result.targets.append(Target("delivered frames/s ÷ socket.io's", 1.0,
                                     result.metrics["throughput_ratio_vs_socket.io"], "×",
                                     True))
    result.notes.append(
        "Ratios are clienta ÷ peer: throughput above 1 and p99 below 1 favour clienta. At a "
        "fixed offered load both deliver what is offered when they keep up, so the p99 ratio "
        "carries most of the signal. Clienta persists each message to Postgres before fan-out; "
        "the peers store nothing. The websockets peer is the bare Python floor: the library's "
        "broadcast() over clienta's own Redis client, with no storage, auth, ordering or "
        "resume."
    )
    return result
