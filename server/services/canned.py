"""Canned responses: an org's saved replies, each under a shortcut unique in the org."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from server.storage import agent_tools
from server.storage.agent_tools import ShortcutTaken
from server.storage.db import Database

__all__ = ["CannedReplies", "ShortcutTaken"]


class CannedReplies:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def for_org(self, org_id: UUID) -> list[dict[str, Any]]:
        async with self.db.unit_of_work(org_id) as conn:
            return await agent_tools.list_canned(conn, org_id)

    async def create(self, org_id: UUID, shortcut: str, text: str) -> dict[str, Any]:
        """Raises ShortcutTaken when the org has one under this shortcut."""
        canned_id = uuid4()
        async with self.db.unit_of_work(org_id) as conn:
            if not await agent_tools.insert_canned(conn, org_id, canned_id, shortcut, text):
                raise ShortcutTaken
        return {"id": str(canned_id), "shortcut": shortcut, "text": text}

    async def update(self, org_id: UUID, canned_id: UUID, shortcut: str | None,
                     text: str | None) -> dict[str, Any] | None:
        """None leaves a field as it is; None back when the org has no such response.
        Raises ShortcutTaken."""
        async with self.db.unit_of_work(org_id) as conn:
            return await agent_tools.update_canned(conn, org_id, canned_id, shortcut, text)

    async def delete(self, org_id: UUID, canned_id: UUID) -> bool:
        async with self.db.unit_of_work(org_id) as conn:
            return await agent_tools.delete_canned(conn, org_id, canned_id)
