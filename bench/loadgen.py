"""Load-generator processes: clients spread over processes (a core and 20k files each).

The parent drives every worker through the same phases with `Fleet.command(op, ...)`;
a worker is `async def role(spec, control)` running `control.serve({op: handler})`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing
import random
import traceback
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from bench.services import BenchError, raise_nofile_limit

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
MAX_SAMPLES = 200_000  # per worker and per metric: enough for p99.9, bounded pipe traffic


def cap(samples: list[float], limit: int = MAX_SAMPLES) -> list[float]:
    """A uniform random subsample, so percentiles stay representative."""
    return samples if len(samples) <= limit else random.sample(samples, limit)


def split(total: int, parts: int) -> list[int]:
    parts = max(1, min(parts, total)) if total else 1
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _worker_entry(target: str, spec: dict[str, Any], conn: Connection) -> None:
    raise_nofile_limit()
    module, func = target.split(":")
    role = getattr(importlib.import_module(module), func)
    try:
        # uvloop (the loop `clienta serve` runs on too, via uvicorn): a cheaper client
        # leaves more of the shared cores to the server being measured
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(role(spec, Control(conn)))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        conn.close()


class Control:
    """The worker's end of the pipe."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def next(self, idle_limit_s: float = 900.0) -> dict[str, Any]:
        """The next command; a parent silent this long is presumed dead."""
        ready = await asyncio.to_thread(self._conn.poll, idle_limit_s)
        if not ready:
            raise EOFError("no command from the parent")
        return dict(self._conn.recv())

    def reply(self, payload: dict[str, Any]) -> None:
        self._conn.send(payload)

    async def serve(self, handlers: dict[str, Handler]) -> None:
        """Answer commands until `exit`; a failing handler reports its traceback and goes on."""
        while True:
            command = await self.next()
            op = command.pop("op")
            if op == "exit":
                self.reply({})
                return
            handler = handlers.get(op)
            if handler is None:
                self.reply({"error": f"unknown op {op!r}"})
                continue
            try:
                self.reply(await handler(command))
            except BenchError as exc:  # already says what is wrong
                self.reply({"error": f"{exc}"})
            except Exception as exc:
                self.reply({"error": f"{exc!r}", "trace": traceback.format_exc(limit=6)})


class Fleet:
    """Worker processes running one role; `async with Fleet(target, specs) as fleet`."""

    def __init__(self, target: str, specs: list[dict[str, Any]]) -> None:
        self.target = target
        self.specs = specs
        self._ctx = multiprocessing.get_context("spawn")
        self._procs: list[Any] = []
        self._conns: list[Connection] = []

    async def __aenter__(self) -> Fleet:
        for i, spec in enumerate(self.specs):
            parent, child = self._ctx.Pipe()
            proc = self._ctx.Process(
                target=_worker_entry, args=(self.target, {**spec, "worker": i}, child),
                name=f"bench-worker-{i}", daemon=True,
            )
            proc.start()
            child.close()
            self._procs.append(proc)
            self._conns.append(parent)
        await self.command("ping", 60)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _recv(self, i: int, conn: Connection, timeout_s: float) -> dict[str, Any]:
        ready = await asyncio.to_thread(conn.poll, timeout_s)
        if not ready:
            raise BenchError(f"{self.target} worker {i} gave no answer within {timeout_s} s")
        try:
            return dict(conn.recv())
        except (EOFError, OSError) as exc:
            raise BenchError(f"{self.target} worker {i} died ({exc!r})") from exc

    async def command(self, op: str, timeout_s: float, **args: Any) -> list[dict[str, Any]]:
        """Send one command to every worker; their answers in worker order."""
        per_worker = args.pop("per_worker", None)
        for i, conn in enumerate(self._conns):
            extra = per_worker[i] if per_worker else {}
            conn.send({"op": op, **args, **extra})
        answers = await asyncio.gather(
            *(self._recv(i, c, timeout_s) for i, c in enumerate(self._conns))
        )
        for i, answer in enumerate(answers):
            if "error" in answer:
                raise BenchError(
                    f"{op} failed in worker {i}: {answer['error']}\n{answer.get('trace', '')}"
                )
        return answers

    async def close(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError, BrokenPipeError):
                conn.send({"op": "exit"})
        for proc in self._procs:
            await asyncio.to_thread(proc.join, 10)
            if proc.is_alive():
                proc.kill()
                await asyncio.to_thread(proc.join, 5)
        for conn in self._conns:
            conn.close()
        self._procs.clear()
        self._conns.clear()


async def ping(_: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True}
