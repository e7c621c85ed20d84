"""Runs scenarios on one shared stack (Postgres and Redis started once), each under a time
bound, and writes their results. This is the harness's Python API (tests use it too).
"""

from __future__ import annotations

import asyncio
import datetime
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from bench import report
from bench.console import Ui
from bench.scenarios import NAMES, load
from bench.services import BenchError, Stack
from bench.stats import Result, combine

Size = Literal["full", "quick", "tiny"]
TIME_LIMIT_S: Mapping[str, float] = MappingProxyType({"full": 900.0, "quick": 150.0, "tiny": 60.0})


def params_for(name: str, size: Size) -> Any:
    params = load(name).Params
    return getattr(params, size)()


@dataclass(slots=True)
class Run:
    """One invocation: its stack, the results so far and the failures."""

    stack: Stack
    ui: Ui
    size: Size
    results: dict[str, Result] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    async def scenario(self, name: str, params: Any | None = None, repeat: int = 1) -> Result:
        """Run one scenario `repeat` times (raises BenchError, TimeoutError on failure);
        more than once, the result is the median run with every run's target values
        (`stats.combine`)."""
        runs = []
        for i in range(repeat):
            if repeat > 1:
                self.ui.info(f"{name}: run {i + 1} of {repeat}")
            runs.append(await self._once(name, params))
        result = combine(runs)
        self.results[name] = result
        return result

    async def _once(self, name: str, params: Any | None) -> Result:
        module = load(name)
        params = params if params is not None else params_for(name, self.size)
        await self.stack.migrate()
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        async with asyncio.timeout(TIME_LIMIT_S[self.size]):
            if name == "peer":
                result = await module.run(self.stack, params, self.ui, self.results.get("fanout"))
            else:
                result = await module.run(self.stack, params, self.ui)
        result.duration_s = time.monotonic() - started
        # other work on the host skews every figure: keep the evidence with them
        result.metrics["host_load_1m_before"] = round(load_before, 2)
        result.finished_at = datetime.datetime.now().isoformat(timespec="seconds")
        return result


async def run_scenarios(
    names: list[str], size: Size, out: Path | None = report.RESULTS, quiet: bool = False,
    repeat: int = 1,
) -> Run:
    """The CLI's body: every scenario in turn; a failing one is reported and the rest go on."""
    ui = Ui(quiet=quiet)
    async with Stack() as stack:
        run = Run(stack, ui, size)
        ui.phase("bench", f"{', '.join(names)} ({size}); services under {stack.base}")
        for name in names:
            try:
                result = await run.scenario(name, repeat=repeat)
            except (BenchError, TimeoutError, OSError) as exc:
                message = str(exc) or f"timed out after {TIME_LIMIT_S[size]} s"
                run.failures[name] = message
                stack.keep_logs = True
                ui.error(f"{name} FAILED: {message}\n  process logs: {stack.logs}")
                continue
            show(ui, result)
            if out is not None:
                report.write_result(result, out)
    if out is not None and run.results:
        path = report.write_report(out)
        ui.info(f"report: {path}")
    return run


def show(ui: Ui, result: Result) -> None:
    for name, summary in result.latency.items():
        ui.info(f"{name}: {summary.brief()}")
    ui.info(", ".join(f"{k} {v}" for k, v in result.metrics.items()))
    for t in result.targets:
        verdict = "[green]PASS[/]" if t.passed else "[yellow]SHORT[/]"
        if not t.applies:
            verdict = f"n/a (offered {t.offered:,.0f})"
        values = result.repeats.get(t.name)
        spread = ""
        if values:
            spread = (f"; {len(values)} runs: {min(values):,.2f}–{max(values):,.2f}, "
                      f"{t.passed_by(values)} passed")
        ui.info(f"{verdict} {t.name}: {t.value:,.2f} {t.unit} (goal {t.goal:,} {t.unit})"
                f"{spread}")
    colour = "green" if result.lost == result.duplicated == 0 else "red"
    ui.info(f"[{colour}]lost {result.lost}, duplicated {result.duplicated}[/]")


def expand(name: str) -> list[str]:
    if name == "all":
        return list(NAMES)
    load(name)  # validates
    return [name]
