"""Read markers: how far each side has read a conversation, stored, then told to the other
side (a visitor's to the agents only; an agent's to the whole room)."""

from __future__ import annotations

from uuid import UUID

from server.domain.roles import Author
from server.hub.rooms import AUDIENCE_AGENTS, Hub, room
from server.services.accounts import Principal
from server.storage import agent_tools
from server.storage.db import Database


class ReadMarkers:
    def __init__(self, db: Database, hub: Hub) -> None:
        self.db = db
        self.hub = hub

    async def visitor_read(self, org_id: UUID, conversation_id: UUID, seq: int) -> None:
        """The visitor's own conversation (the session holds it): no ownership check."""
        async with self.db.unit_of_work(org_id) as conn:
            await agent_tools.set_read(conn, org_id, conversation_id, Author.VISITOR, seq)
        key = str(conversation_id)
        await self.hub.publish(room(key), {"t": "read", "author": {"role": Author.VISITOR},
                                           "seq": seq, "conversation_id": key},
                               AUDIENCE_AGENTS)

    async def agent_read(self, principal: Principal, conversation_id: UUID, seq: int) -> bool:
        """False (and nobody told) when the principal's org has no such conversation."""
        async with self.db.unit_of_work(principal.org_id) as conn:
            if not await agent_tools.set_read(conn, principal.org_id, conversation_id,
                                              Author.AGENT, seq):
                return False
        await self.hub.publish(room(str(conversation_id)), {
            "t": "read", "conversation_id": str(conversation_id), "seq": seq,
            "author": {"role": Author.AGENT, "name": principal.name}})
        return True
