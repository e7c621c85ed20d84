"""Crypto-shredding and the master key's life: erase a visitor or an org by destroying its
key (recorded in the erasure ledger that a restore replays), re-wrap org keys under a new
master key, and seal rows stored before encryption began (docs/privacy.md)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast
from uuid import UUID

import asyncpg

from server.domain.audit import Actor, AuditAction, Target, TargetKind
from server.services.audit import AuditLog
from server.storage import backfill
from server.storage import keys as store
from server.storage.db import Database, set_tenant
from server.storage.envelope import Field, associated, wrap

log = logging.getLogger("clienta.keys")

ROTATE_BATCH = 500  # org keys re-wrapped per transaction


@dataclass(frozen=True, slots=True)
class Erasure:
    org_id: UUID
    visitor_id: UUID | None  # None: the whole org
    at: datetime


class ErasureLedger:
    """The erasures, by id only, in a file kept apart from the database and its backups
    (CLIENTA_ERASURE_LEDGER): a restore replays it, so a backup taken before an erasure
    cannot bring the person back. One JSON line per erasure, appended and flushed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, erasure: Erasure) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"org_id": str(erasure.org_id),
                           "visitor_id": erasure.visitor_id and str(erasure.visitor_id),
                           "at": erasure.at.isoformat()}) + "\n"
        # one write of one line with O_APPEND: concurrent processes never interleave
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[Erasure]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            if line.strip():
                v = json.loads(line)
                out.append(Erasure(UUID(v["org_id"]),
                                   UUID(v["visitor_id"]) if v["visitor_id"] else None,
                                   datetime.fromisoformat(v["at"])))
        return out


class KeyService:
    def __init__(self, db: Database, audit: AuditLog, ledger: ErasureLedger) -> None:
        self.db = db
        self.audit = audit
        self.ledger = ledger

    async def erase_visitor(self, org_id: UUID, visitor_id: UUID, actor: Actor) -> None:
        """Destroy the visitor's key: every message, note, contact field, rating comment and
        unanswered question sealed under it is unreadable from now on, in every copy.
        The ledger entry is written first: a crash between the two is replayed."""
        erasure = Erasure(org_id, visitor_id, datetime.now(UTC))
        self.ledger.add(erasure)
        async with self.db.unit_of_work(org_id) as conn:
            await store.destroy_visitor_key(conn, org_id, visitor_id, erasure.at)
            await self.audit.record(conn, org_id, actor, AuditAction.VISITOR_ERASED,
                                    Target(TargetKind.VISITOR, visitor_id))
        self.db.keys.forget_visitor(visitor_id)

    async def erase_org(self, org_id: UUID, actor: Actor) -> None:
        erasure = Erasure(org_id, None, datetime.now(UTC))
        self.ledger.add(erasure)
        async with self.db.unit_of_work(org_id) as conn:
            await store.destroy_org_key(conn, org_id, erasure.at)
            await self.audit.record(conn, org_id, actor, AuditAction.ORG_ERASED,
                                    Target(TargetKind.ORG, org_id))
        self.db.keys.forget_org(org_id)

    async def replay_erasures(self) -> int:
        """After a restore: destroy again every key the ledger names (a no-op for those
        already destroyed). Returns how many entries were replayed."""
        entries = self.ledger.read()
        for e in entries:
            async with self.db.unit_of_work(e.org_id) as conn:
                if e.visitor_id is None:
                    await store.destroy_org_key(conn, e.org_id, e.at)
                else:
                    await store.destroy_visitor_key(conn, e.org_id, e.visitor_id, e.at)
            if e.visitor_id is None:
                self.db.keys.forget_org(e.org_id)
            else:
                self.db.keys.forget_visitor(e.visitor_id)
        if entries:
            log.info("erasure ledger replayed", extra={"count": len(entries)})
        return len(entries)

    async def rotate(self) -> int:
        """Re-wrap every org key still under another master key (CLIENTA_MASTER_KEY_PREVIOUS)
        with the current one; messages and visitor keys are not touched. Returns how many
        org keys were re-wrapped; each is an audit entry of its org."""
        master = self.db.keys.master
        done = 0
        actor = Actor.system("keys rotate")
        while True:
            async with self.db.pool.acquire() as proxy, proxy.transaction():
                # the pool's proxy is a Connection to asyncpg (isinstance), not to its stubs
                conn = cast(asyncpg.Connection, proxy)
                batch = await store.org_keys_not_under(conn, master.current.id, ROTATE_BATCH)
                if not batch:
                    break
                for org_id, old_id, wrapped in batch:
                    old = master.by_id(old_id)
                    if old is None:
                        raise store.UnknownMasterKey(
                            "an org key is wrapped by a master key not configured: set"
                            " CLIENTA_MASTER_KEY_PREVIOUS to it")
                    ad = associated(Field.ORG_KEY, org_id)
                    raw = old.key.open(wrapped, ad)  # one that does not open fails here
                    await set_tenant(conn, org_id)
                    if await store.rewrap_org_key(conn, org_id, old_id, master.current.id,
                                                  wrap(master.current.key, raw, ad)):
                        await self.audit.record(conn, org_id, actor, AuditAction.KEYS_ROTATED,
                                                Target(TargetKind.MASTER_KEY, None),
                                                {"via": "cli"})
                        done += 1
        log.info("org keys re-wrapped", extra={"count": done})
        return done

    async def encrypt_existing(self, batch: int = 500) -> int:
        """Seal, in bounded batches, the personal data stored before encryption began."""
        return await backfill.run(self.db, batch)
