"""A conversation's tags: normalised, stored, then told to the org's agents (a `tags` frame
on the org channel, so every open console and inbox sees the change)."""

from __future__ import annotations

from uuid import UUID

from server.hub.rooms import AUDIENCE_AGENTS, Hub, org_channel
from server.storage import agent_tools
from server.storage.db import Database


def normalised(tags: list[str]) -> list[str]:
    """Tags compare case-insensitively and without surrounding spaces; stored sorted."""
    return sorted({t.strip().lower() for t in tags})


class Tags:
    def __init__(self, db: Database, hub: Hub) -> None:
        self.db = db
        self.hub = hub

    async def replace(self, org_id: UUID, conversation_id: UUID,
                      tags: list[str]) -> list[str] | None:
        """The conversation's tags become `tags` (normalised, returned); None when the org
        has no such conversation (then nobody is told)."""
        clean = normalised(tags)
        async with self.db.unit_of_work(org_id) as conn:
            if not await agent_tools.set_tags(conn, org_id, conversation_id, clean):
                return None
        await self.hub.publish(org_channel(str(org_id)),
                               {"t": "tags", "conversation_id": str(conversation_id),
                                "tags": clean}, AUDIENCE_AGENTS)
        return clean
