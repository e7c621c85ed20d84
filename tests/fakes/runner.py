"""Runs an aiohttp app on 127.0.0.1: inside the caller's event loop or in a thread of its own.

Both fakes inherit `FakeServer`: `async with Fake() as f` in async tests,
`with Fake().threaded() as f` (or `start_thread()`/`stop_thread()`) in sync code.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any, Self

from aiohttp import web


class FakeServer(abc.ABC):
    """Lifecycle shared by the fakes; subclasses implement `build_app`."""

    host = "127.0.0.1"

    def __init__(self, port: int = 0) -> None:
        self._requested_port = port
        self.port: int = 0
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    # -- to implement -------------------------------------------------------
    @abc.abstractmethod
    def build_app(self) -> web.Application:
        """The aiohttp application this fake serves."""

    # -- addresses ----------------------------------------------------------
    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- asyncio lifecycle ---------------------------------------------------
    async def start(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        app = self.build_app()
        # shutdown_timeout bounds how long stop() waits for hanging handlers.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port, backlog=4096)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()  # wakes handlers in `hang` mode so cleanup is quick
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_stopping(self, limit_s: float) -> None:
        """Sleep until the server stops or `limit_s` passes (used by `hang`)."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), limit_s)

    # -- thread lifecycle ----------------------------------------------------
    def start_thread(self, timeout: float = 10.0) -> Self:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                loop.close()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"{type(self).__name__} did not start within {timeout}s")
        if failure:
            raise failure[0]
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        if self._thread is None or self._loop is None:
            return
        loop = self._loop
        if self._stopping is not None:
            loop.call_soon_threadsafe(self._stopping.set)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout)
        self._thread = None

    @contextlib.contextmanager
    def threaded(self) -> Iterator[Self]:
        self.start_thread()
        try:
            yield self
        finally:
            self.stop_thread()


def json_error(status: int, message: str, type_: str, code: str | None) -> web.Response:
    """OpenAI's error body shape; Cohere clients accept any JSON body."""
    body: dict[str, Any] = {
        "error": {"message": message, "type": type_, "param": None, "code": code}
    }
    return web.json_response(body, status=status)
