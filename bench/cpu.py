"""Who used the host's CPU during a scenario's measured phase, read from /proc.

The servers share the machine's cores with Postgres, Redis, the fake LLM and the load
generators. Reading each kind of process's CPU time over the measured window turns "the
box is saturated" from a guess into a figure the report can cite. Linux only; elsewhere
nothing is recorded.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")
# (kind, what its command line contains); the first match wins
KINDS = (
    ("servers", "clienta serve"),
    ("load generators", "multiprocessing"),
    ("fake LLM", "tests.fakes.openai_server"),
    ("peer servers", "bench/peer/server.js"),
    ("peer servers", "bench.peer.sio_server"),
    ("peer servers", "bench.peer.ws_floor"),
    ("harness", "-m bench"),
)
BY_NAME = {"postgres": "postgres", "redis-server": "redis"}  # by the process's own name


def kind_of(comm: str, cmdline: str) -> str:
    if comm in BY_NAME:
        return BY_NAME[comm]
    for kind, marker in KINDS:
        if marker in cmdline:
            return kind
    return "other"


@dataclass(frozen=True, slots=True)
class Snapshot:
    busy_ticks: int  # every CPU's non-idle time since boot (/proc/stat)
    processes: dict[int, tuple[str, int]]  # pid -> (kind, user + system ticks)


def snapshot() -> Snapshot | None:
    try:
        fields = (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields]
    busy = sum(ticks) - ticks[3] - ticks[4]  # less idle and iowait
    processes: dict[int, tuple[str, int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:  # gone meanwhile
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        processes[int(entry.name)] = (kind_of(comm, cmdline), int(rest[11]) + int(rest[12]))
    return Snapshot(busy, processes)


def usage(before: Snapshot, after: Snapshot, seconds: float) -> dict[str, float]:
    """Cores used on average per kind (processes alive at both ends), and in all."""
    hz = os.sysconf("SC_CLK_TCK")
    cores: dict[str, float] = {}
    for pid, (kind, ticks) in after.processes.items():
        start = before.processes.get(pid)
        if start is not None and start[0] == kind:
            cores[kind] = cores.get(kind, 0.0) + (ticks - start[1]) / hz / seconds
    out = {kind: round(v, 2) for kind, v in sorted(cores.items(), key=lambda kv: -kv[1])
           if v >= 0.01}
    out["busy"] = round((after.busy_ticks - before.busy_ticks) / hz / seconds, 2)
    return out


@contextlib.asynccontextmanager
async def measured(metrics: dict[str, Any], label: str = "") -> AsyncIterator[None]:
    """Record the window's CPU use in `metrics` as cpu_<kind>_cores[_label] and
    cpu_busy_cores[_label], with host_cores."""
    before, started = snapshot(), time.monotonic()
    yield
    after, seconds = snapshot(), time.monotonic() - started
    if before is None or after is None or seconds <= 0:
        return
    suffix = f"_{label}" if label else ""
    for kind, cores in usage(before, after, seconds).items():
        metrics[f"cpu_{kind.replace(' ', '_')}_cores{suffix}"] = cores
    metrics["host_cores"] = os.cpu_count() or 0
