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
    """Apply pending migrations; return the names applied by this call."""
    conn = await asyncpg.connect(url)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version int PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, name, path in discover(directory):
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        version, name,
                    )
                log.info("migration applied", extra={"migration": name})
                applied.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
    return applied
