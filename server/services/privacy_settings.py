"""The org's privacy settings (`org_privacy`, migration 0018): whether the widget shows a
notice before the first message, its version and text, and how long closed conversations
are kept. The notice is read on every widget load, so it is cached briefly per process."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from server.domain.audit import Actor, AuditAction, Target, TargetKind
from server.services.audit import AuditLog
from server.storage import privacy as store
from server.storage.db import Database

FIELDS = ("notice_required", "notice_version", "notice_text", "closed_retention_days")


@dataclass(frozen=True, slots=True)
class Notice:
    """What the widget shows before the first message; version names what was shown."""

    version: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"version": self.version, "text": self.text}


class NoticeIncomplete(Exception):
    """A required notice needs a version and a text (the message says which, for a 422)."""


class PrivacySettings:
    def __init__(self, db: Database, audit: AuditLog, ttl_s: float = 5.0,
                 max_entries: int = 10_000) -> None:
        self.db = db
        self.audit = audit
        # like the site-key cache (services/orgs.py): a change reaches other processes
        # within the TTL; this process drops its entry at once
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: OrderedDict[UUID, tuple[float, Notice | None]] = OrderedDict()

    async def get(self, org_id: UUID) -> dict[str, Any]:
        async with self.db.unit_of_work(org_id) as conn:
            return await store.notice(conn, org_id)

    async def notice(self, org_id: UUID) -> Notice | None:
        """The notice the widget must show, or None when the org requires none."""
        now = time.monotonic()
        hit = self._cache.get(org_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = await self.get(org_id)
        found = (Notice(row["notice_version"], row["notice_text"])
                 if row["notice_required"] and row["notice_version"] and row["notice_text"]
                 else None)
        self._cache[org_id] = (now + self.ttl_s, found)
        self._cache.move_to_end(org_id)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return found

    async def update(self, org_id: UUID, changes: dict[str, Any],
                     actor: Actor) -> dict[str, Any]:
        """Only the fields given change; the audit entry names them, never their values."""
        async with self.db.unit_of_work(org_id) as conn:
            before = await store.notice(conn, org_id)
            after = {**before, **changes}
            if after["notice_required"] and not (after["notice_version"]
                                                 and after["notice_text"]):
                raise NoticeIncomplete("a required notice needs notice_version and notice_text")
            await store.set_notice(conn, org_id, changes)
            changed = [f for f in FIELDS if before[f] != after[f]]
            if changed:
                await self.audit.record(conn, org_id, actor, AuditAction.ORG_SETTINGS_CHANGED,
                                        Target(TargetKind.ORG, org_id), {"settings": changed})
        self._cache.pop(org_id, None)
        return after
