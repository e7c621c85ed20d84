"""PostgreSQL's own tools for backups: `pg_dump` of an exported snapshot (whose row
counts are taken in the same snapshot), `pg_restore` into an empty database, and the
catalogue reads both need. Streams only: a dump never sits whole in memory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit
from uuid import UUID

import asyncpg

READ_BYTES = 256 * 1024
_TABLES = """
SELECT format('%I.%I', n.nspname, c.relname) AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
"""
# an empty database: nothing of its own but extensions (embedded mode's `vector`)
_OWN_OBJECTS = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
"""


class DumpFailed(RuntimeError):
    """pg_dump or pg_restore failed, or cannot be used here; says which and why."""


@dataclass(frozen=True, slots=True)
class PgTools:
    pg_dump: Path
    pg_restore: Path

    @classmethod
    def find(cls, pg_bin: Path | None, embedded: bool) -> PgTools:
        """CLIENTA_PG_BIN when set; the binaries `pgserver` ships for the embedded
        database (they match it); else those on PATH; else pgserver's (PostgreSQL 16)."""
        bundled = _pgserver_bin()
        if pg_bin is not None:
            folder = pg_bin
        elif embedded and bundled is not None:
            folder = bundled
        elif shutil.which("pg_dump") and shutil.which("pg_restore"):
            folder = Path(shutil.which("pg_dump") or "").parent
        elif bundled is not None:
            folder = bundled
        else:
            raise DumpFailed("pg_dump not found: install PostgreSQL's client tools or set "
                             "CLIENTA_PG_BIN")
        tools = cls(folder / "pg_dump", folder / "pg_restore")
        for tool in (tools.pg_dump, tools.pg_restore):
            if not os.access(tool, os.X_OK):
                raise DumpFailed(f"{tool} is not an executable")
        return tools

    def major(self, tool: Path) -> int:
        out = subprocess.run([str(tool), "--version"], capture_output=True, text=True,
                             timeout=30).stdout
        found = re.search(r"(\d+)(?:\.\d+)?", out)
        if found is None:
            raise DumpFailed(f"cannot tell the version of {tool}")
        return int(found.group(1))


def _pgserver_bin() -> Path | None:
    try:
        import pgserver
    except ImportError:
        return None
    folder = Path(pgserver.__file__).parent / "pginstall" / "bin"
    return folder if (folder / "pg_dump").exists() else None


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and an environment carrying it (PGPASSWORD): a
    password on a command line is visible to every user of the machine."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    env = dict(os.environ)
    if at and ":" in userinfo:
        user, _, password = userinfo.partition(":")
        env["PGPASSWORD"] = unquote(password)
        url = urlunsplit((parts.scheme, f"{user}@{host}", parts.path, parts.query,
                          parts.fragment))
    return url, env


async def server_major(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SHOW server_version_num")) // 10000


async def check_reads_everything(conn: asyncpg.Connection) -> None:
    """Tables force row-level security: only a superuser or a BYPASSRLS role dumps or
    restores every org's rows (anyone else gets pg_dump's error, or a partial count)."""
    row = await conn.fetchrow("SELECT rolsuper, rolbypassrls FROM pg_roles"
                              " WHERE rolname = current_user")
    if row is None or not (row["rolsuper"] or row["rolbypassrls"]):
        raise DumpFailed("backup and restore need a role that row-level security does not "
                         "hold (superuser or BYPASSRLS): CLIENTA_DIRECT_DATABASE_URL "
                         "naming the owner with BYPASSRLS (docs/operations.md)")


async def export_snapshot(conn: asyncpg.Connection) -> str:
    """In the caller's REPEATABLE READ transaction, which must stay open while pg_dump
    uses the snapshot."""
    return str(await conn.fetchval("SELECT pg_export_snapshot()"))


async def table_counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows per table, every schema but the system's, extensions' tables left out."""
    names = [r["name"] for r in await conn.fetch(_TABLES)]
    counts: dict[str, int] = {}
    for name in names:  # names come from the catalogue, quoted by format('%I')
        counts[name] = int(await conn.fetchval(f"SELECT count(*) FROM {name}"))
    return counts


async def is_empty(conn: asyncpg.Connection) -> bool:
    return int(await conn.fetchval(_OWN_OBJECTS)) == 0


async def ensure_group_roles(conn: asyncpg.Connection) -> None:
    """The cluster-wide roles a dump's grants and function owners name (migration 0011
    makes them; a new cluster has none yet)."""
    for role in ("clienta_serving", "clienta_system"):
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            await conn.execute(f"CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS")


def _stderr_tail(proc: subprocess.Popen[bytes]) -> str:
    err = proc.stderr.read() if proc.stderr is not None else b""
    return err.decode(errors="replace").strip()[-2000:]


def dump(tools: PgTools, url: str, snapshot: str, sink: Callable[[bytes], None]) -> None:
    """`pg_dump --format=custom` of the exported snapshot, its output handed to `sink` as
    it comes. Owners and grants are kept: row-level security's roles and its definer
    functions' owner are part of what a restore must bring back."""
    target, env = libpq_target(url)
    proc = subprocess.Popen(
        [str(tools.pg_dump), "--format=custom", "--compress=6", f"--snapshot={snapshot}",
         "--dbname", target], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    try:
        while block := proc.stdout.read(READ_BYTES):
            sink(block)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.wait() != 0:
        raise DumpFailed("pg_dump failed: " + _stderr_tail(proc))


def restore(tools: PgTools, url: str, chunks: Iterable[bytes]) -> None:
    """`pg_restore` of a custom-format stream in one transaction: an archive refused
    half-way (or a failing statement) leaves the database as empty as it was."""
    target, env = libpq_target(url)
    proc = subprocess.Popen(
        [str(tools.pg_restore), "--exit-on-error", "--single-transaction", "--dbname",
         target], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=env)
    assert proc.stdin is not None
    try:
        for chunk in chunks:
            proc.stdin.write(chunk)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # pg_restore stopped early: its exit status and stderr say why
    except BaseException:
        proc.kill()  # before its input ends: the transaction is never committed
        proc.wait()
        raise
    if proc.wait() != 0:
        raise DumpFailed("pg_restore failed: " + _stderr_tail(proc))


async def org_ids(conn: asyncpg.Connection) -> list[UUID]:
    """Every org (a role row-level security does not hold sees them all)."""
    return [r["id"] for r in await conn.fetch("SELECT id FROM orgs ORDER BY id")]
