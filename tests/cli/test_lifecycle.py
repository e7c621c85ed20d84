"""`clienta serve` as `make run` starts it and as a platform stops it: the first screen
shows the URLs and logins, SIGTERM to the server alone (as `docker stop` and systemd
send it) stops the embedded Postgres and Redis too, and a container that forbids
embedded services refuses to start without DATABASE_URL and REDIS_URL."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from server.embedded import free_port
from tests.cli.test_embedded import children_named, embedded_env
from tests.support.processes import ROOT

pytestmark = pytest.mark.asyncio(loop_scope="session")


def postgres_of(home: Path) -> list[psutil.Process]:
    """The embedded postmaster and its backends (they run as pgserver's user, not as our
    children): found by the data directory on their command line."""
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        if p.info["name"] == "postgres" and str(home) in " ".join(p.info["cmdline"] or []):
            found.append(p)
    return found


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("server exited:\n" + log.read_text(errors="replace")[-3000:])
        try:
            if httpx.get(url + "/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server not ready:\n" + log.read_text(errors="replace")[-3000:])


def start_serve(args: list[str], env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    with open(out, "wb") as sink:
        return subprocess.Popen([sys.executable, "-m", "server.cli", "serve", *args],
                                cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)


def gone(processes: list[psutil.Process]) -> bool:
    return not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in processes)


@pytest.fixture
def home() -> Iterator[Path]:
    """A fresh CLIENTA_HOME that pgserver's user may enter (pytest's tmp_path is 0700,
    and a concurrent pytest run may make it so again after pgserver opened it)."""
    path = Path(tempfile.mkdtemp(prefix="clienta-home-"))
    path.chmod(0o755)
    yield path / "home"
    shutil.rmtree(path, ignore_errors=True)


async def test_make_run_first_screen_and_sigterm_leaves_no_orphan(home: Path,
                                                                   tmp_path: Path) -> None:
    port = free_port()
    env = embedded_env(home)
    env.pop("CLIENTA_LOG_LEVEL", None)
    env.pop("XDG_RUNTIME_DIR", None)  # as in a container: platformdirs warns without it
    out = tmp_path / "out.log"
    proc = start_serve(["--seed-demo", "--port", str(port)], env, out)
    try:
        await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}", proc, out, 90)
        parent = psutil.Process(proc.pid)
        redis = children_named(parent, "redis-server")
        pg = postgres_of(home)
        assert redis and pg
        text = out.read_text(errors="replace")
        banner = text.index("Clienta is starting")
        # before the banner: a few lines of our own (embedded services ready, migrations
        # applied), no pgserver command lines, no import warnings
        assert '"logger": "pgserver"' not in text
        before = [line for line in text[:banner].splitlines() if line.strip()]
        assert len(before) <= 4, before
        assert all('"logger": "clienta.' in line for line in before), before
        assert f"http://127.0.0.1:{port}/console" in text and "agent@demo" in text
        # the server process alone, not its group: nothing else tells Redis or Postgres
        os.kill(proc.pid, signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
        deadline = time.monotonic() + 15
        while not (gone(redis) and gone(pg)):
            assert time.monotonic() < deadline, (
                [p.pid for p in redis if p.is_running()], [p.pid for p in pg if p.is_running()])
            await asyncio.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        for p in postgres_of(home):  # never leave an orphan behind a failed assertion
            p.kill()


async def test_embedded_refused_when_the_image_says_so(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "home")
    env["CLIENTA_EMBEDDED"] = "0"
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server.cli", "serve", "--port", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "DATABASE_URL and REDIS_URL not set" in out.stderr
    assert "CLIENTA_EMBEDDED=1" in out.stderr
    assert not (tmp_path / "home" / "pgdata").exists()  # nothing was started
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server.cli", "migrate"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "DATABASE_URL not set" in out.stderr
