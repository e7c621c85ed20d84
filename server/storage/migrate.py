"""Forward-only migrations: migrations/NNNN_name.sql, each once, in a transaction,
under an advisory lock so N workers starting together do not race."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import asyncpg

# The embedded Postgres's own log must not keep what a failed statement carried (a unique
# key's value, a visitor's text): client errors are not logged, and errors logged are terse
QUIET_ERROR_LOG = (
    "ALTER SYSTEM SET log_error_verbosity = 'terse'",
    "ALTER SYSTEM SET log_min_error_statement = 'panic'",
    "ALTER SYSTEM SET log_min_messages = 'log'",
    "SELECT pg_reload_conf()",
)

log = logging.getLogger("clienta.migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_LOCK_KEY = 0x436C69656E7461  # "Clienta"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationRefused(RuntimeError):
    """A pending migration, and a role that may not apply it."""


def discover(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise ValueError(f"migration file name must be NNNN_name.sql: {path.name}")
        found.append((int(m.group(1)), path.stem, path))
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError("two migrations share a number")
    return found


async def apply_migrations(url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the names applied by this call.

    Each runs in its own transaction under a transaction-level advisory lock, and the
    connection prepares nothing by name: so this is safe through a transaction pooler
    too, where a session lock taken in one transaction may be released on another
    server connection, or never."""
    conn = await asyncpg.connect(url, statement_cache_size=0)
    applied: list[str] = []
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            # only when missing: the serving role may not create tables, and a server that
            # connects as it (migrations applied by the owner) only reads what is applied
            if not await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
                await conn.execute(
                    "CREATE TABLE schema_migrations ("
                    " version int PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
        for version, name, path in discover(directory):
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
                # another process may have applied it while this one waited for the lock
                if await conn.fetchval(
                        "SELECT 1 FROM schema_migrations WHERE version = $1", version):
                    continue
                try:
                    await conn.execute(path.read_text())
                except asyncpg.InsufficientPrivilegeError as exc:
                    # the serving role, which row-level security holds, owns nothing
                    raise MigrationRefused(
                        f"migration {name} needs the schema's owner: run `clienta migrate` "
                        "with the owner's URL, or set CLIENTA_DIRECT_DATABASE_URL to it"
                    ) from exc
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    version, name,
                )
            log.debug("migration applied", extra={"migration": name})
            applied.append(name)
    finally:
        await conn.close()
    if applied:  # one line: a fresh home's first screen is for the URLs and logins
        log.info("migrations applied", extra={"count": len(applied), "last": applied[-1]})
    return applied
