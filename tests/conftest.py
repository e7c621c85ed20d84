"""Session-wide real services: one embedded Postgres (pgvector) and one Redis per test
session (or DATABASE_URL / REDIS_URL when set), and real `clienta serve` processes.
Tests isolate themselves by signing up their own organisation."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from server.embedded import EmbeddedPostgres, EmbeddedRedis
from server.storage.db import Database
from server.storage.envelope import MasterKey, MasterKeys
from server.storage.keys import Keyring
from server.storage.migrate import apply_migrations
from server.storage.roles import EMBEDDED_LOGIN, ensure_serving_login, login_url
from tests.support.api import OrgHandle, signup
from tests.support.processes import UNHANDLED, ServerProcess

# the master key of the test servers and of the `db` fixture (they share one database)
TEST_MASTER_KEY = "ab" * 32


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="clienta-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(session_dir: Path) -> Iterator[str]:
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    pg = EmbeddedPostgres(session_dir)
    url = pg.start()
    yield url
    pg.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    redis = EmbeddedRedis()
    url = redis.start()
    yield url
    redis.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    """The owner (the session's superuser): migrations, and tests' own setup and checks,
    which row-level security does not hold."""
    await apply_migrations(database_url)
    database = await Database.connect(database_url, min_size=1, max_size=5, keys=Keyring(
        MasterKeys(MasterKey.parse(TEST_MASTER_KEY))))
    yield database
    await database.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def app_database_url(db: Database, database_url: str) -> str:
    """The serving role's URL, made as embedded mode makes it: the test servers serve as
    it, so row-level security holds them as it holds a deployment."""
    password = "clienta-test-serving"
    await ensure_serving_login(database_url, EMBEDDED_LOGIN, password)
    return login_url(database_url, EMBEDDED_LOGIN, password)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def app_db(app_database_url: str) -> AsyncIterator[Database]:
    """A Database connected as the serving role (what the servers use)."""
    database = await Database.connect(app_database_url, min_size=1, max_size=3)
    yield database
    await database.close()


@pytest.fixture(scope="session")
def server_env(app_database_url: str, redis_url: str, session_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "COHERE_", "CLIENTA_"))}
    env.update({
        # the serving role; the `db` fixture has applied the migrations as the owner
        "DATABASE_URL": app_database_url, "REDIS_URL": redis_url,
        "CLIENTA_HOME": str(session_dir / "home"), "CLIENTA_SECRET": "test-secret-" + "x" * 20,
        "CLIENTA_MASTER_KEY": TEST_MASTER_KEY,
        # /metrics answers 404 on the public port without a token (docs/operations.md)
        "CLIENTA_METRICS_TOKEN": "test-metrics-token",
        "CLIENTA_DB_POOL_MAX": "5", "CLIENTA_LOG_LEVEL": "info",
        # servers with different embedders share this database: none re-embeds the others'
        "CLIENTA_KB_REINDEX_ON_START": "0",
        # every test signs up and logs in from 127.0.0.1: the per-IP and per-account
        # account limits are off here and switched on by the tests that prove them
        "CLIENTA_QUOTA_IP_SIGNUPS": "0", "CLIENTA_QUOTA_IP_LOGINS": "0",
        "CLIENTA_QUOTA_ACCOUNT_LOGINS": "0", "CLIENTA_QUOTA_IP_PASSWORD_RESETS": "0",
        # all test clients share 127.0.0.1 (and this Redis): per-address socket and
        # conversation quotas likewise (tests/e2e/test_rate_limits_live.py sets its own)
        "CLIENTA_QUOTA_IP_SOCKETS": "0", "CLIENTA_QUOTA_IP_CONVERSATIONS": "0",
        # tests add members, documents and conversations freely: of the free plan's limits
        # only AI answers hold here (tests/e2e/test_billing_limits.py switches on all)
        "CLIENTA_BILLING_LIMITS": "ai_answers",
        "PYTHONUNBUFFERED": "1",
    })
    return env


@pytest.fixture(scope="session")
def clienta_server(server_env: dict[str, str], session_dir: Path) -> Iterator[ServerProcess]:
    """The shared server process (offline bot). Tests must not stop it."""
    server = ServerProcess(server_env, log_dir=session_dir).start()
    yield server
    server.stop()
    server.assert_no_unhandled()


@pytest.fixture
def make_server(server_env: dict[str, str],
                session_dir: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start extra server processes for one test; all are stopped after it."""
    started: list[ServerProcess] = []

    def start(extra_env: dict[str, str] | None = None, **kwargs) -> ServerProcess:
        env = dict(server_env)
        env.update(extra_env or {})
        server = ServerProcess(env, log_dir=session_dir, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    for server in started:
        server.assert_no_unhandled()


@pytest_asyncio.fixture(loop_scope="session")
async def org(clienta_server: ServerProcess) -> OrgHandle:
    return await signup(clienta_server.url, f"Org {uuid.uuid4().hex[:6]}")


class _Unhandled(logging.Handler):
    """Keeps this process's reports of exceptions nobody handled (asyncio logs them when
    a failed task is dropped, or a callback raises)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if any(mark in text for mark in UNHANDLED):
            exc = record.exc_info[1] if record.exc_info else None
            self.found.append(f"{text.splitlines()[0]} {type(exc).__name__ if exc else ''}")


@pytest.fixture(autouse=True)
def no_unhandled_exceptions(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test when this process, or the shared server it used, reported an exception
    that nobody handled while it ran (servers of make_server are checked when stopped)."""
    handler = _Unhandled()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    assert not handler.found, handler.found
    if "clienta_server" in request.fixturenames:
        request.getfixturevalue("clienta_server").assert_no_unhandled()
