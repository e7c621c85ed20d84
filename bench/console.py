"""What the operator sees while a run goes: phases, a progress bar for long waits, results."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class Ui:
    """Rich output; `quiet` (tests) prints nothing."""

    def __init__(self, quiet: bool = False) -> None:
        self.console = Console(quiet=quiet, highlight=False)

    def phase(self, scenario: str, text: str) -> None:
        self.console.print(f"[bold cyan]{scenario}[/] {text}")

    def info(self, text: str) -> None:
        self.console.print(f"  {text}")

    def warn(self, text: str) -> None:
        self.console.print(f"  [yellow]{text}[/]")

    def error(self, text: str) -> None:
        self.console.print(f"[bold red]{text}[/]")

    @contextlib.asynccontextmanager
    async def timed(
        self, label: str, seconds: float, status: Callable[[], str] | None = None
    ) -> AsyncIterator[None]:
        """A bar filling over `seconds` while the body runs (e.g. a steady-load phase)."""
        columns = (TextColumn("  {task.description}"), BarColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[status]}"))
        with Progress(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task(label, total=max(seconds, 0.001), status="")
            started = time.monotonic()

            async def tick() -> None:
                while True:
                    bar.update(task, completed=time.monotonic() - started,
                               status=status() if status else "")
                    await asyncio.sleep(0.25)

            ticker = asyncio.create_task(tick())
            try:
                yield
            finally:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
