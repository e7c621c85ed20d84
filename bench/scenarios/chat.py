"""`chat`: many small rooms, the visitor on one server process and its agent on another.

Both sides send at a steady rate. Measures stored messages per second (acks), ack latency
(send → ack) and delivery latency (send → the other side's `msg`), and checks that every
acked message reached the other side exactly once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from bench import cpu as host_cpu
from bench.clients import Agent, Visitor
from bench.console import Ui
from bench.http_api import Api
from bench.loadgen import Control, Fleet, cap, ping, split
from bench.memo import unstamp
from bench.scenarios.common import (
    SendLog,
    agent_accounts,
    bounded_gather,
    keep_connected,
    merged,
    pump,
    settle_progress,
    total,
)
from bench.services import BenchError, Stack
from bench.stats import Delivery, Result, Target, rate_series

ROLE = "bench.scenarios.chat:role"


@dataclass(frozen=True, slots=True)
class Params:
    rooms: int = 800
    rate: float = 2.0  # messages per second per side (the default limit is 5/s per socket)
    duration_s: float = 20.0
    workers: int = 4
    agents: int = 4  # agent user accounts shared by the agent sockets

    @classmethod
    def full(cls) -> Params:
        return cls()

    @classmethod
    def quick(cls) -> Params:
        return cls(rooms=60, duration_s=6.0, workers=2, agents=2)

    @classmethod
    def tiny(cls) -> Params:
        return cls(rooms=3, duration_s=2.0, workers=1, agents=1)


@dataclass(slots=True)
class Room:
    visitor: Visitor
    agent: Agent
    conversation_id: str
    log: SendLog = field(default_factory=SendLog)


async def role(spec: dict[str, Any], ctl: Control) -> None:
    rooms: list[Room] = []
    watchers: list[asyncio.Task[None]] = []
    delivery = Delivery()
    delivery_ms: list[float] = []

    def receiver(name: str, own: str) -> Any:
        def on_frame(frame: dict[str, Any], now: float) -> None:
            if frame.get("t") != "msg" or not frame.get("_new"):
                return  # replays after a reconnect are counted by the client
            found = unstamp(str(frame.get("text", "")))
            if found is None or found[0].startswith(own):
                return
            delivery.got(name, found[0])
            delivery_ms.append((now - found[1]) * 1000)

        return on_frame

    async def open_room(cmd: dict[str, Any], i: int) -> Room:
        name = f"w{spec['worker']}r{i}"
        visitor = Visitor(cmd["visitor_ws"], cmd["site_key"], f"{name}v")
        await visitor.connect()
        await visitor.store()
        tokens = cmd["tokens"]
        agent = Agent(cmd["agent_ws"], tokens[i % len(tokens)], f"{name}a")
        await agent.connect()
        visitor.keep_pending = agent.keep_pending = True
        assert visitor.conversation_id is not None
        await agent.join(visitor.conversation_id)
        await agent.claim(visitor.conversation_id)
        visitor.handlers.append(receiver(visitor.name, visitor.name))
        agent.handlers.append(receiver(agent.name, agent.name))
        return Room(visitor, agent, visitor.conversation_id)

    async def setup(cmd: dict[str, Any]) -> dict[str, Any]:
        opened = await bounded_gather((open_room(cmd, i) for i in range(cmd["rooms"])), 20)
        rooms.extend(opened)
        watchers.extend(asyncio.create_task(keep_connected(c))
                        for r in rooms for c in (r.visitor, r.agent))
        return {"rooms": len(rooms)}

    async def run(cmd: dict[str, Any]) -> dict[str, Any]:
        rate, start, duration = cmd["rate"], cmd["start_at"], cmd["duration_s"]
        await asyncio.gather(*(
            job
            for r in rooms
            for job in (
                pump(r.visitor, rate, start, duration, r.log),
                pump(r.agent, rate, start, duration, r.log, conversation_id=r.conversation_id),
            )
        ))
        logs = [r.log for r in rooms]
        await settle_progress(
            lambda: all(len(log.acked) + len(log.failures) >= log.sent for log in logs),
            lambda: sum(len(log.acked) for log in logs), cmd["drain_s"], 120)
        for r in rooms:
            for client_id in r.log.acked:
                side = r.agent if client_id.startswith(r.visitor.name) else r.visitor
                delivery.expect(side.name, client_id)
        await settle_progress(lambda: delivery.lost == 0, lambda: len(delivery_ms),
                              cmd["drain_s"], 120)
        clients = [c for r in rooms for c in (r.visitor, r.agent)]
        return {
            "lost_detail": lost_detail(rooms, delivery),
            "sent": sum(log.sent for log in logs),
            "skipped": sum(log.skipped for log in logs),
            "acked": sum(len(log.acked) for log in logs),
            "unacked": sum(log.sent - len(log.acked) for log in logs),
            "failures": [f for log in logs for f in log.failures][:5],
            "ack_ms": cap([x for r in rooms for c in (r.visitor, r.agent) for x in c.ack_ms]),
            "ack_times": cap([t for log in logs for t in log.ack_times]),
            "delivery_ms": cap(delivery_ms),
            "lost": delivery.lost,
            "duplicated": delivery.duplicated + sum(c.duplicated for c in clients),
            "reconnects": sum(c.reconnects for c in clients),
            "redelivered": sum(c.redelivered for c in clients),
            "close_codes": [str(code) for c in clients for code in c.close_codes][:50],
        }

    async def close(_: dict[str, Any]) -> dict[str, Any]:
        for w in watchers:
            w.cancel()
        await asyncio.gather(*(c.close() for r in rooms for c in (r.visitor, r.agent)))
        return {}

    await ctl.serve({"ping": ping, "setup": setup, "run": run, "close": close})


def lost_detail(rooms: list[Room], delivery: Delivery) -> list[str]:
    """A few lost messages: their seq, and whether the receiver got later seqs (a gap)."""
    out = []
    for r in rooms:
        for receiver in (r.visitor, r.agent):
            missing = delivery.expected.get(receiver.name, set()) - delivery.arrived.get(
                receiver.name, {}).keys()
            seqs = receiver.seqs(r.conversation_id)
            for client_id in sorted(missing)[:3]:
                seq = r.log.acked.get(client_id, -1)
                later = max(seqs, default=0) > seq
                out.append(f"{client_id} seq {seq} → {receiver.name}: "
                           f"{'gap (later seqs arrived)' if later else 'tail'}")
    return out[:10]


async def run(stack: Stack, p: Params, ui: Ui) -> Result:
    result = Result("chat", quick=p != Params.full(), params=asdict(p))
    ui.phase("chat", f"{p.rooms} rooms, visitor and agent on two server processes, "
             f"{p.rate}/s per side for {p.duration_s} s")
    a = await stack.start_server("clienta-chat-a")
    b = await stack.start_server("clienta-chat-b")
    cpu0 = a.cpu_seconds() + b.cpu_seconds()
    try:
        async with Api(a.url) as api:
            org = await api.signup("chat")
            accounts = await agent_accounts(api, org, min(p.agents, p.rooms))
        counts = split(p.rooms, p.workers)
        async with Fleet(ROLE, [{} for _ in counts]) as fleet:
            ui.info(f"opening {p.rooms} rooms (visitor, agent join + claim)")
            await fleet.command(
                "setup", 300, visitor_ws=a.ws_url, agent_ws=b.ws_url, site_key=org.site_key,
                tokens=[acc.token for acc in accounts], per_worker=[{"rooms": c} for c in counts],
            )
            start_at = time.time() + 1.0
            async with host_cpu.measured(result.metrics), ui.timed("steady load", p.duration_s + 1):
                answers = await fleet.command(
                    "run", p.duration_s + 300, rate=p.rate, start_at=start_at,
                    duration_s=p.duration_s, drain_s=5.0,
                )
            cpu = a.cpu_seconds() + b.cpu_seconds() - cpu0
            await fleet.command("close", 60)
    finally:
        await stack.stop(a)
        await stack.stop(b)

    failures = merged(answers, "failures")
    if failures:
        raise BenchError(f"chat: {len(failures)}+ messages were refused, e.g. {failures[:3]}")
    ack_times = merged(answers, "ack_times")
    acked = total(answers, "acked")
    span = max(ack_times, default=start_at) - start_at
    stored_rate = acked / span if span > 0 else 0.0
    ack = result.add_latency("ack", merged(answers, "ack_ms"))
    result.add_latency("delivery", merged(answers, "delivery_ms"))
    result.series["stored msgs/s"] = rate_series(ack_times)
    result.lost = total(answers, "lost")
    result.duplicated = total(answers, "duplicated")
    result.metrics.update(
        offered_msgs_per_s=round(p.rooms * 2 * p.rate, 1),
        stored_msgs_per_s=round(stored_rate, 1),
        sent=total(answers, "sent"),
        acked=acked,
        unacked_at_end=total(answers, "unacked"),
        skipped_in_flight=total(answers, "skipped"),
        server_cpu_s=round(cpu, 2),
        reconnects=total(answers, "reconnects"),
        redelivered=total(answers, "redelivered"),
    )
    detail = merged(answers, "lost_detail")
    if detail:
        result.notes.append("lost, e.g.: " + "; ".join(detail[:6]))
    codes = merged(answers, "close_codes")
    if codes:
        result.notes.append(f"server closed sockets mid-run (codes {sorted(set(codes))}); "
                            "the clients reconnected and resumed")
    result.targets += [
        Target("stored messages per second", 3000, stored_rate, "msg/s", True,
               offered=p.rooms * 2 * p.rate),
        Target("ack latency p99", 50, ack.p99, "ms", False),
    ]
    result.notes.append(
        "Stored msgs/s = acked messages / (last ack − start); an ack follows the Postgres "
        "commit (contract guarantee 1). Lost counts acked messages the other side never "
        "received. A socket keeps at most 4 messages unacked; ticks beyond that are skipped "
        "(skipped_in_flight); messages still unacked when the run ends are unacked_at_end."
    )
    return result
