"""Conversation history for staff: past conversations found by visitor, tag, status, agent
and creation date (keyset pages), and one conversation's read-only timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from server.services.conversations import summary_of
from server.storage import agent_tools, messages
from server.storage import conversations as convs
from server.storage.db import Database


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    modes: list[str] | None = None
    assignee_id: UUID | None = None
    unassigned: bool = False
    visitor_id: UUID | None = None
    # an address a visitor gave: matched through its keyed index, never as plaintext
    visitor_email: str | None = None
    tag: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    agent_id: UUID | None = None  # held it or wrote in it (a closed one keeps no assignee)


class ConversationHistory:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(self, org_id: UUID, where: HistoryFilter,
                     before: tuple[datetime, UUID] | None, limit: int) -> list[dict[str, Any]]:
        """Summaries, newest activity first (the inbox's order and cursor)."""
        async with self.db.unit_of_work(org_id) as conn:
            visitor_ids = None
            if where.visitor_id is not None:
                visitor_ids = [where.visitor_id]
            if where.visitor_email is not None:
                found = await convs.visitors_by_email(conn, self.db.keys, org_id,
                                                      where.visitor_email)
                visitor_ids = [v for v in found if visitor_ids is None or v in visitor_ids]
                if not visitor_ids:
                    return []
            rows = await agent_tools.list_conversations(
                conn, org_id, modes=where.modes, assignee_id=where.assignee_id,
                unassigned=where.unassigned, before=before, limit=limit,
                visitor_ids=visitor_ids, tag=where.tag, created_from=where.created_from,
                created_to=where.created_to, agent_id=where.agent_id)
            previews = await messages.previews(conn, self.db.keys, org_id, [c.id for c in rows])
            out = []
            for conv in rows:
                visitor = await convs.visitor_details(conn, self.db.keys, org_id,
                                                      conv.visitor_id)
                conv = await convs.opened(conn, self.db.keys, conv)
                item = summary_of(conv, visitor, previews.get(conv.id))
                item["created_at"] = int(conv.created_at.timestamp() * 1000)
                out.append(item)
        return out

    async def timeline(self, org_id: UUID, conversation_id: UUID, after: int,
                       limit: int) -> dict[str, Any] | None:
        """The conversation (with its visitor, times and CSAT) and its events after seq
        `after`: messages, notes and the system messages of each mode change (`mode`).
        None when the org has no such conversation."""
        async with self.db.unit_of_work(org_id) as conn:
            conv = await convs.get(conn, org_id, conversation_id)
            if conv is None:
                return None
            conv = await convs.opened(conn, self.db.keys, conv)
            visitor = await convs.visitor_details(conn, self.db.keys, org_id, conv.visitor_id)
            events = await messages.after(conn, self.db.keys, org_id, conversation_id, after,
                                          include_notes=True, limit=limit + 1)
            closed_at = await convs.closed_at(conn, org_id, conversation_id)
        more = len(events) > limit
        events = events[:limit]
        summary = summary_of(conv, visitor, None)
        summary["created_at"] = int(conv.created_at.timestamp() * 1000)
        summary["closed_at"] = int(closed_at.timestamp() * 1000) if closed_at else None
        return {"conversation": summary, "events": [e.frame() for e in events],
                "next_after": events[-1].seq if more and events else None}
