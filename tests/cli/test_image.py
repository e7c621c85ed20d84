"""The production image: its command, with the environment the Dockerfile sets and a
platform's PORT, listens on that port and passes its own HEALTHCHECK; the compose file
names the services it needs. Where podman can build here (a local base image, since no
registry is reachable: CLIENTA_TEST_BASE_IMAGE), the image itself is built and run."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from server.embedded import free_port
from tests.support.pgbouncer import PgBouncer
from tests.support.processes import ROOT

pytestmark = pytest.mark.asyncio(loop_scope="session")

DOCKERFILE = ROOT / "Dockerfile"


def final_stage() -> list[str]:
    """The Dockerfile's last stage, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)
    return [line.strip() for line in stages[-1].splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in final_stage():
        if line.startswith("ENV "):
            for key, value in re.findall(r"(\w+)=(\S+)", line[4:]):
                env[key] = value
    return env


def exec_form(instruction: str) -> list[str]:
    line = next(x for x in final_stage() if x.startswith(instruction + " "))
    return json.loads(line[line.index("["):])


async def test_dockerfile_is_multi_stage_non_root_and_sets_no_port() -> None:
    text = DOCKERFILE.read_text()
    assert len(re.findall(r"^FROM ", text, flags=re.MULTILINE)) >= 2
    users = [x for x in final_stage() if x.startswith("USER ")]
    assert users and users[-1] not in ("USER root", "USER 0")
    env = image_env()
    assert "CLIENTA_PORT" not in env  # the platform's PORT must be able to choose
    assert env["CLIENTA_EMBEDDED"] == "0" and env["CLIENTA_HOST"] == "0.0.0.0"
    assert exec_form("HEALTHCHECK --interval=15s --timeout=3s --start-period=30s CMD") == [
        "clienta", "health"]


def run_image_command(command: list[str], env: dict[str, str], log: Path
                      ) -> subprocess.Popen[bytes]:
    # the image's PATH puts the venv's `clienta` first; here it is this venv's
    binary = Path(sys.executable).parent / command[0]
    with open(log, "wb") as sink:
        return subprocess.Popen([str(binary), *command[1:]], cwd=ROOT, env=env, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)


async def test_image_command_listens_on_port_and_passes_its_healthcheck(
        server_env: dict[str, str], tmp_path: Path) -> None:
    env = {**server_env, **image_env(), "PATH": os.environ["PATH"],
           "CLIENTA_HOME": str(tmp_path / "data"), "PORT": str(free_port())}
    env.pop("CLIENTA_PORT", None)
    health = [str(Path(sys.executable).parent / "clienta"), "health"]
    proc = run_image_command(exec_form("CMD"), env, tmp_path / "out.log")
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=1) as http:
            while True:
                assert proc.poll() is None, (tmp_path / "out.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "no answer on PORT"
                try:
                    r = await http.get(f"http://127.0.0.1:{env['PORT']}/healthz")
                    if r.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        out = await asyncio.to_thread(subprocess.run, health, env=env, timeout=30)
        assert out.returncode == 0
        other = {**env, "PORT": str(free_port())}  # nobody there: the check fails
        out = await asyncio.to_thread(subprocess.run, health, env=other, timeout=30)
        assert out.returncode == 1
    finally:
        proc.terminate()
        proc.wait(20)
    # without the URLs the image's command refuses to start embedded services
    bare = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    out = await asyncio.to_thread(subprocess.run, [health[0], "serve"], env=bare,
                                  capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "CLIENTA_EMBEDDED=1" in out.stderr


async def test_compose_runs_postgres_with_pgvector_and_redis() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "image: pgvector/pgvector:" in text and "image: redis:" in text
    assert "DATABASE_URL: postgresql://" in text and "REDIS_URL: redis://" in text
    assert "build: ." in text


# --- the image itself (podman, a base made locally) ----------------------------------------

PODMAN = shutil.which("podman")
BASE = os.environ.get("CLIENTA_TEST_BASE_IMAGE", "")
# this sandbox's kernel refuses crun's cgroup set-up and raising rlimits: runc, fixed limits
RUN_FLAGS = ["--runtime", "runc"] if shutil.which("runc") else []
LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def podman(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PODMAN or "podman", *RUN_FLAGS, *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.skipif(not (PODMAN and BASE), reason="needs podman and a local Python base "
                    "image (CLIENTA_TEST_BASE_IMAGE; .ci/container-base makes one)")
async def test_image_builds_runs_as_non_root_on_port_and_stops_on_sigterm(
        server_env: dict[str, str]) -> None:
    tag = f"localhost/clienta-test:{uuid.uuid4().hex[:8]}"
    built = await asyncio.to_thread(
        podman, "build", "--network", "host", *LIMITS, "--build-arg", f"PYTHON_IMAGE={BASE}",
        "-t", tag, str(ROOT))
    assert built.returncode == 0, built.stderr[-3000:]
    name, port = f"clienta-test-{uuid.uuid4().hex[:8]}", free_port()
    workdir = Path(tempfile.mkdtemp(prefix="clienta-image-"))
    os.chmod(workdir, 0o755)  # pgbouncer runs as pgserver's user when we are root
    bouncer: PgBouncer | None = None
    try:
        # host networking reaches the session's Redis, and Postgres through pgbouncer on
        # 127.0.0.1 (pgserver listens on a socket the image's user may not open)
        database = urlsplit(server_env["DATABASE_URL"]).path.lstrip("/") or "postgres"
        bouncer = PgBouncer(server_env["DATABASE_URL"], database, workdir / "pgbouncer")
        bouncer.start()
        started = await asyncio.to_thread(
            podman, "run", "-d", "--name", name, "--network", "host", *LIMITS,
            "-e", f"PORT={port}", "-e", f"DATABASE_URL={bouncer.url}",
            "-e", "CLIENTA_DB_POOLER=transaction", "-e", f"REDIS_URL={server_env['REDIS_URL']}",
            "-e", f"CLIENTA_SECRET={server_env['CLIENTA_SECRET']}",
            "-e", "CLIENTA_KB_REINDEX_ON_START=0", tag)
        assert started.returncode == 0, started.stderr
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient() as http:
            while True:
                running = podman("inspect", name, "--format", "{{.State.Running}}").stdout
                assert running.strip() == "true" and time.monotonic() < deadline, (
                    podman("logs", name).stdout[-3000:])
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        uid = await asyncio.to_thread(podman, "exec", name, "id", "-u")
        assert uid.stdout.strip() == "10001"
        check = await asyncio.to_thread(podman, "exec", name, "clienta", "health")
        assert check.returncode == 0
        stopped = await asyncio.to_thread(podman, "stop", "-t", "20", name)
        assert stopped.returncode == 0
        state = await asyncio.to_thread(podman, "inspect", name, "--format",
                                        "{{.State.ExitCode}}")
        assert state.stdout.strip() == "0"  # SIGTERM handled, not a kill
        refused = await asyncio.to_thread(podman, "run", "--rm", *LIMITS, tag, timeout=120)
        assert refused.returncode == 2 and "CLIENTA_EMBEDDED=1" in refused.stderr
    finally:
        await asyncio.to_thread(podman, "rm", "-f", name)
        await asyncio.to_thread(podman, "rmi", "-f", tag)
        if bouncer is not None:
            bouncer.stop()
        shutil.rmtree(workdir, ignore_errors=True)
