"""The audit log: record administrative and data-access events, and read them back a page
at a time for the org's owners and admins.

An entry is written in the same transaction as the change it records (`record`), so a
change never commits without its entry, nor an entry without its change. Events with no
transaction of their own (a read, a failed sign-in) get one (`record_alone`), which
raises when it fails: the caller fails with it rather than losing the entry silently."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from uuid import UUID

import asyncpg

from server.domain.audit import (
    Actor,
    AuditAction,
    AuditEntry,
    AuditFilter,
    Cursor,
    Target,
    TargetKind,
    check_detail,
)
from server.domain.client_ip import Network, client_ip
from server.storage import audit as store
from server.storage.db import Database

log = logging.getLogger("clienta.audit")

PAGE_MAX = 200


class AuditLog:
    def __init__(self, db: Database, proxies: tuple[Network, ...] = ()) -> None:
        self.db = db
        self.proxies = proxies

    def address(self, peer: str | None, headers: Mapping[str, str]) -> str:
        """The client's address as the trusted proxies name it (`Actor` truncates it)."""
        return client_ip(peer, headers, self.proxies)

    async def record(self, conn: asyncpg.Connection, org_id: UUID, actor: Actor,
                     action: AuditAction, target: Target | None = None,
                     detail: Mapping[str, str | list[str]] | None = None) -> None:
        """Within the caller's transaction (`conn` is inside a unit of work of `org_id`)."""
        await store.append(conn, org_id, actor, action.value, target,
                           check_detail(detail or {}))

    async def record_alone(self, org_id: UUID, actor: Actor, action: AuditAction,
                           target: Target | None = None,
                           detail: Mapping[str, str | list[str]] | None = None) -> None:
        clean = check_detail(detail or {})  # a bad detail is a bug: raised, not logged
        try:
            async with self.db.unit_of_work(org_id) as conn:
                await store.append(conn, org_id, actor, action.value, target, clean)
        except Exception as exc:
            log.error("audit entry not written", extra={
                "action": action.value, "error": type(exc).__name__})
            raise

    async def history_opened(self, org_id: UUID, user_id: UUID, conversation_id: UUID,
                             address: str | None, via: str) -> None:
        """A staff user read a conversation's history (`via` http or socket)."""
        await self.record_alone(org_id, Actor.user(user_id, address),
                                AuditAction.HISTORY_OPENED,
                                Target(TargetKind.CONVERSATION, conversation_id), {"via": via})

    async def page(self, org_id: UUID, where: AuditFilter, after: Cursor | None,
                   limit: int) -> tuple[list[AuditEntry], Cursor | None]:
        """Up to `limit` entries newest first, and the cursor of the next page (None at the
        end). One extra row is read to know whether there is a next page."""
        limit = max(1, min(limit, PAGE_MAX))
        async with self.db.unit_of_work(org_id) as conn:
            rows = await store.page(conn, org_id, where, after, limit + 1)
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], Cursor(last.at, last.id)
