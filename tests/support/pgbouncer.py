"""Debian's pgbouncer in `transaction` mode in front of the session's Postgres: the
stand-in for Supabase's transaction pooler (contract §1)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from server.embedded import free_port

BINARY = "/usr/sbin/pgbouncer"


def available() -> bool:
    return Path(BINARY).exists() or shutil.which("pgbouncer") is not None


class PgBouncer:
    """pgbouncer on 127.0.0.1, pooling one database of `upstream` in transaction mode with
    fewer server connections than a server's pool holds, so transactions of one client
    connection land on different server connections (which is what breaks asyncpg's
    prepared statements and session locks)."""

    def __init__(self, upstream: str, database: str, workdir: Path, pool_size: int = 3) -> None:
        self.upstream, self.database, self.workdir = urlsplit(upstream), database, workdir
        self.pool_size = pool_size
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def user(self) -> str:
        return self.upstream.username or "postgres"

    def _server(self) -> str:
        """Where pgbouncer reaches Postgres: pgserver's URI names a socket directory
        (`postgresql://postgres:@/postgres?host=/dir`), a real one a host and port."""
        host = parse_qs(self.upstream.query).get("host", [self.upstream.hostname or ""])[0]
        parts = [f"host={host}", f"dbname={self.database}", f"user={self.user}"]
        if self.upstream.port:
            parts.append(f"port={self.upstream.port}")
        if self.upstream.password:
            parts.append(f"password={self.upstream.password}")
        return " ".join(parts)

    def start(self) -> PgBouncer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o777)  # pgbouncer refuses root: it runs as pgserver's user
        users = self.workdir / "users.txt"
        users.write_text(f'"{self.user}" ""\n')
        config = self.workdir / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"{self.database} = {self._server()}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {users}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\nmin_pool_size = 0\n"
            "max_client_conn = 500\n"
            "ignore_startup_parameters = extra_float_digits\n"
            f"logfile = {self.workdir / 'pgbouncer.log'}\n"
            f"pidfile = {self.workdir / 'pgbouncer.pid'}\n"
        )
        for path in (users, config):
            path.chmod(0o644)
        command = [BINARY if Path(BINARY).exists() else "pgbouncer", str(config)]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "pgserver"]
        with open(self.workdir / "stderr.log", "wb") as err:
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("pgbouncer exited:\n" + self.log())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("pgbouncer did not listen in time:\n" + self.log())

    def log(self) -> str:
        return "".join(path.read_text(errors="replace")[-3000:]
                       for path in (self.workdir / "stderr.log", self.workdir / "pgbouncer.log")
                       if path.exists())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
