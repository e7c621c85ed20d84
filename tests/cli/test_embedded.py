"""`clienta serve` with nothing configured: embedded Postgres and Redis start under
CLIENTA_HOME, N workers share them, and both stop on exit. `clienta migrate` too."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.api import signup
from tests.support.processes import ROOT, ServerProcess
from tests.support.wsclient import visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")


def embedded_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith(("OPENAI_", "COHERE_"))}
    env.update({"CLIENTA_HOME": str(home), "PYTHONUNBUFFERED": "1"})
    return env


def children_named(proc: psutil.Process, name: str) -> list[psutil.Process]:
    return [p for p in proc.children(recursive=True) if name in p.name()]


async def test_serve_with_embedded_services_and_two_workers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = ServerProcess(embedded_env(home), log_dir=tmp_path, workers=2)
    await asyncio.to_thread(server.start, 90)
    try:
        assert (home / "pgdata" / "PG_VERSION").exists()
        parent = psutil.Process(server.proc.pid)
        redis = children_named(parent, "redis-server")
        assert len(redis) == 1
        # postgres runs as the pgserver user, not as our child: find it by its data dir
        pg = [p for p in psutil.process_iter(["name", "cmdline"])
              if p.info["name"] == "postgres" and str(home) in " ".join(p.info["cmdline"] or [])]
        assert pg
        org = await signup(server.url)
        clients = [await visitor(server.ws_url, org.site_key) for _ in range(6)]
        for i, (client, _) in enumerate(clients):
            await client.send({"t": "handoff"})
            await client.expect("mode", mode="queued")
            await client.send({"t": "msg", "id": f"m{i}", "text": "hello"})
            await client.expect("ack", id=f"m{i}")
        pids = set()
        async with httpx.AsyncClient(base_url=server.url) as http:
            for _ in range(20):
                r = await http.get("/healthz", headers={"Connection": "close"})
                assert r.status_code == 200
            # served as the login embedded mode made, which row-level security holds
            ready = (await http.get("/readyz")).json()
            assert ready["rls"] == "enforced", ready
        assert (home / "db_password").stat().st_mode & 0o777 == 0o600
        workers = [p for p in parent.children(recursive=True) if "python" in p.name()]
        pids = {p.pid for p in workers}
        assert len(pids) >= 2
        for client, _ in clients:
            await client.close()
    finally:
        await asyncio.to_thread(server.stop)
    # both embedded services stopped with the server
    assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in redis)
    for _ in range(50):
        if not any(p.is_running() for p in pg):
            break
        await asyncio.sleep(0.1)
    assert not any(p.is_running() for p in pg)


async def test_migrate_command(tmp_path: Path, database_url: str) -> None:
    env = embedded_env(tmp_path)
    env["DATABASE_URL"] = database_url
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"  # migrate never touches Redis
    for _ in range(2):
        out = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "server.cli", "migrate"], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    assert "applied 0 migration(s)" in out.stdout  # the second run finds nothing to do
