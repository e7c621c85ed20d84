"""`clienta backup` and `clienta restore` (docs/operations.md "Backup and restore"): an
encrypted `pg_dump` archive with its row counts, restored only into an empty database,
then the erasure ledger replayed and the copy checked (counts, a sample that opens)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast
from uuid import UUID

import asyncpg

from server.domain.audit import Actor, AuditAction, Target, TargetKind
from server.services.audit import AuditLog
from server.services.keys import ErasureLedger, KeyService
from server.storage import dumps, messages
from server.storage.backup_archive import (
    ArchiveReader,
    ArchiveRefused,
    ArchiveWriter,
    BackupKey,
    key_id_of,
)
from server.storage.db import Database, set_tenant
from server.storage.keys import Keyring

log = logging.getLogger("clienta.backup")

AUDIT_BATCH = 500  # orgs whose audit entry one transaction writes
MANIFEST_FORMAT = 1


class RestoreRefused(Exception):
    """The restore did not start: the archive, the key or the target database is wrong.
    The target database is untouched."""


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: Path
    tables: int
    rows: int
    bytes: int


@dataclass(frozen=True, slots=True)
class RestoreReport:
    tables: int
    rows: int
    # tables whose count differs from the manifest's: (table, expected, found)
    mismatches: tuple[tuple[str, int, int | None], ...]
    erasures_replayed: int
    sampled: int
    opened: int
    sample_error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.sample_error is None


def _manifest(counts: dict[str, int], server_major: int) -> bytes:
    return json.dumps({"format": MANIFEST_FORMAT,
                       "created_at": datetime.now(UTC).isoformat(),
                       "server_major": server_major, "tables": counts},
                      sort_keys=True).encode()


class BackupService:
    """`url` is the owner's (migrations') connection; `keys` the backup keys this process
    knows: the one archives are written under first, any others only read."""

    def __init__(self, url: str, tools: dumps.PgTools, keys: Sequence[BackupKey],
                 keyring: Keyring, ledger: ErasureLedger) -> None:
        self.url, self.tools, self.keys = url, tools, keys
        self.keyring, self.ledger = keyring, ledger

    async def backup(self, out: Path) -> BackupReport:
        """Counts and dump read one exported snapshot (the transaction that made it stays
        open until pg_dump is done), so the manifest counts exactly what the dump holds.
        Written beside `out` and renamed at the end: a file at `out` is always whole."""
        if await asyncio.to_thread(out.exists):
            raise FileExistsError(f"{out} exists: a backup never overwrites one")
        partial = out.with_name(out.name + ".partial")
        conn = await asyncpg.connect(self.url, statement_cache_size=0)
        try:
            await dumps.check_reads_everything(conn)
            major = await dumps.server_major(conn)
            if self.tools.major(self.tools.pg_dump) < major:
                raise dumps.DumpFailed(f"{self.tools.pg_dump} is older than the server "
                                       f"(PostgreSQL {major}): set CLIENTA_PG_BIN")
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                snapshot = await dumps.export_snapshot(conn)
                counts = await dumps.table_counts(conn)
                manifest = _manifest(counts, major)
                size = await asyncio.to_thread(self._write, partial, out, snapshot, manifest)
        finally:
            await conn.close()
        await self._audit(self.url, AuditAction.BACKUP_CREATED)
        report = BackupReport(out, len(counts), sum(counts.values()), size)
        log.info("backup written", extra={"tables": report.tables, "rows": report.rows,
                                          "bytes": report.bytes})
        return report

    def _write(self, partial: Path, out: Path, snapshot: str, manifest: bytes) -> int:
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                writer = ArchiveWriter(f, self.keys[0], manifest)
                dumps.dump(self.tools, self.url, snapshot, writer.write)
                writer.finish()
                os.fsync(f.fileno())
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, out)
        return out.stat().st_size

    def _key_for(self, path: Path) -> BackupKey:
        with path.open("rb") as f:
            key_id = key_id_of(f)
        for key in self.keys:
            if key.id == key_id:
                return key
        raise RestoreRefused(
            f"the archive was written under key {key_id}, which is none of "
            "CLIENTA_BACKUP_KEY, CLIENTA_MASTER_KEY or CLIENTA_MASTER_KEY_PREVIOUS")

    def _verify(self, path: Path, key: BackupKey) -> dict[str, int]:
        """A whole pass before the database is touched: every record authenticated, the
        end where the writer put it. Returns the manifest's counts."""
        with path.open("rb") as f:
            reader = ArchiveReader(f, key)
            for _ in reader.chunks():
                pass
            manifest = json.loads(reader.manifest)
        if manifest.get("format") != MANIFEST_FORMAT:
            raise RestoreRefused("the archive's manifest is of an unknown format")
        return {str(k): int(v) for k, v in manifest["tables"].items()}

    def _restore(self, path: Path, key: BackupKey, url: str) -> None:
        with path.open("rb") as f:
            # read again: a file changed since the first pass is refused here, and
            # pg_restore is killed before its single transaction commits
            dumps.restore(self.tools, url, ArchiveReader(f, key).chunks())

    async def restore(self, path: Path, url: str, sample: int = 20) -> RestoreReport:
        try:
            key = self._key_for(path)
            expected = await asyncio.to_thread(self._verify, path, key)
        except ArchiveRefused as exc:
            raise RestoreRefused(f"archive refused: {exc}") from None
        conn = await asyncpg.connect(url, statement_cache_size=0)
        try:
            await dumps.check_reads_everything(conn)
            if not await dumps.is_empty(conn):
                raise RestoreRefused("the target database is not empty: restore into a new "
                                     "one (createdb), never over live data")
            await dumps.ensure_group_roles(conn)
        finally:
            await conn.close()
        try:
            await asyncio.to_thread(self._restore, path, key, url)
        except ArchiveRefused as exc:
            raise RestoreRefused(f"archive refused while restoring: {exc}") from None
        return await self._check(url, expected, sample)

    async def _check(self, url: str, expected: dict[str, int], sample: int) -> RestoreReport:
        """Counts first (the replay adds its own rows to key_erasures), then the erasure
        ledger replayed before anything reads the copy, then a sample opened."""
        db = await Database.connect(url, min_size=1, max_size=2, statement_cache_size=0,
                                    keys=self.keyring)
        try:
            async with db.pool.acquire() as conn:
                # the pool's proxy is a Connection to asyncpg (isinstance), not to its stubs
                found = await dumps.table_counts(cast(asyncpg.Connection, conn))
            mismatches = tuple((t, n, found.get(t)) for t, n in sorted(expected.items())
                               if found.get(t) != n)
            replayed = await KeyService(db, AuditLog(db), self.ledger).replay_erasures()
            opened, error = 0, None
            try:
                async with db.pool.acquire() as conn:
                    opened = await messages.open_sample(cast(asyncpg.Connection, conn), db.keys,
                                                        sample,
                                                        found.get("public.events", 0))
            except Exception as exc:  # the check's verdict, reported as its type only
                error = type(exc).__name__
        finally:
            await db.close()
        report = RestoreReport(len(expected), sum(expected.values()), mismatches, replayed,
                               sample, opened, error)
        if report.ok:
            await self._audit(url, AuditAction.BACKUP_RESTORED)
        log.info("restore checked", extra={"tables": report.tables, "ok": report.ok,
                                           "mismatches": len(mismatches),
                                           "erasures_replayed": replayed, "opened": opened})
        return report

    async def _audit(self, url: str, action: AuditAction) -> None:
        """One entry per org (an org's owners read their own log), in batches."""
        db = await Database.connect(url, min_size=1, max_size=1, statement_cache_size=0)
        try:
            audit = AuditLog(db)
            async with db.pool.acquire() as conn:
                orgs: list[UUID] = await dumps.org_ids(cast(asyncpg.Connection, conn))  # as above
            actor = Actor.system("backup" if action is AuditAction.BACKUP_CREATED
                                 else "restore")
            for start in range(0, len(orgs), AUDIT_BATCH):
                async with db.pool.acquire() as proxy, proxy.transaction():
                    tx = cast(asyncpg.Connection, proxy)  # as in _check
                    for org_id in orgs[start:start + AUDIT_BATCH]:
                        await set_tenant(tx, org_id)
                        await audit.record(tx, org_id, actor, action,
                                           Target(TargetKind.DATABASE, None), {"via": "cli"})
        finally:
            await db.close()
