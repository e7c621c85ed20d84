"""Real server processes for end-to-end tests: `python -m server.cli serve` on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from server.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
# log lines that mean the server let an exception go unhandled: a task or callback nobody
# awaited, or a session or frame that failed with a bug (dependency outages log otherwise)
UNHANDLED = ("exception was never retrieved", "Exception in callback",
             '"msg": "session failed"', '"msg": "frame failed"', '"msg": "uncaught exception"',
             "Traceback (most recent call last)", "Exception in ASGI application",
             '"msg": "unhandled error"')


class ServerProcess:
    """One `clienta serve` process sharing the session's Postgres and Redis."""

    def __init__(self, env: dict[str, str], port: int | None = None, log_dir: Path | None = None,
                 workers: int = 1) -> None:
        self.port = port or free_port()
        self.env = env
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = (log_dir or Path("/tmp")) / f"clienta-server-{self.port}.log"
        self._checked = 0  # how far unhandled() has read the log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def metrics_headers(self) -> dict[str, str]:
        """/metrics on the public port wants CLIENTA_METRICS_TOKEN as a bearer token."""
        return {"Authorization": f"Bearer {self.env.get('CLIENTA_METRICS_TOKEN', '')}"}

    def start(self, timeout: float = 30.0) -> ServerProcess:
        log = open(self.log_path, "ab")
        if self.proc is None:  # a restart's log is checked from where the last one ended
            self._checked = log.tell()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port),
             "--workers", str(self.workers)],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: see {self.log_path}\n" + self.tail())
            try:
                if httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready in {timeout}s\n" + self.tail())

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def unhandled(self) -> list[str]:
        """The log lines written since the last call that report an unhandled exception."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._checked)
                data = log.read()
        except OSError:
            return []
        # a line still being written is read next time
        data = data[: data.rfind(b"\n") + 1]
        self._checked += len(data)
        return [line for line in data.decode(errors="replace").splitlines()
                if any(mark in line for mark in UNHANDLED)]

    def assert_no_unhandled(self) -> None:
        found = self.unhandled()
        assert not found, (f"server {self.port} logged unhandled exceptions "
                           f"({self.log_path}):\n" + "\n".join(found[:10]))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def kill(self) -> None:
        """SIGKILL the whole process group: no graceful anything."""
        self.stop(signal.SIGKILL)

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()
