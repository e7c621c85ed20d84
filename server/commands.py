"""The operator commands' own wiring (`clienta keys`, `policy publish`, `backup`,
`restore`): each works on the owner's connection (the migrations' URL), across orgs."""

from __future__ import annotations

from datetime import date

from server.providers import build_keyring
from server.services.audit import AuditLog
from server.services.backups import BackupService
from server.services.keys import ErasureLedger, KeyService
from server.settings import Settings
from server.storage.backup_archive import BackupKey
from server.storage.db import Database
from server.storage.dumps import PgTools


async def keys_command(settings: Settings, command: str) -> int:
    """`clienta keys rotate | encrypt-existing | replay-erasures`: system work on the
    owner's connection (migrations' URL), so it reaches every org's rows."""
    url = settings.migrate_database_url or settings.database_url or ""
    db = await Database.connect(url, min_size=1, max_size=2, statement_cache_size=0,
                                keys=build_keyring(settings))
    try:
        service = KeyService(db, AuditLog(db), ErasureLedger(settings.erasure_ledger_path))
        if command == "rotate":
            return await service.rotate()
        if command == "replay-erasures":
            return await service.replay_erasures()
        return await service.encrypt_existing()
    finally:
        await db.close()


async def policy_command(settings: Settings, version: str, effective_on: date,
                         material: bool, summary: str | None) -> tuple[int, int]:
    """`clienta policy publish`: store a policy version; a material one is mailed to every
    live org's owners (queued in each org's outbox). How many orgs were told."""
    from server.services.policy import PolicyVersions

    url = settings.migrate_database_url or settings.database_url or ""
    db = await Database.connect(url, min_size=1, max_size=2, statement_cache_size=0,
                                keys=build_keyring(settings))
    try:
        return await PolicyVersions(db, settings.public_url).publish(version, effective_on,
                                                                     material, summary)
    finally:
        await db.close()


def build_backups(settings: Settings, embedded: bool) -> BackupService:
    """`clienta backup | restore`: the owner's connection (migrations' URL), which must
    read every org's rows (superuser or BYPASSRLS)."""
    return BackupService(settings.migrate_database_url or settings.database_url or "",
                         PgTools.find(settings.pg_bin, embedded),
                         BackupKey.candidates(settings.backup_key, settings.master_key_text(),
                                              settings.master_key_previous),
                         build_keyring(settings), ErasureLedger(settings.erasure_ledger_path))
