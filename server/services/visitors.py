"""What a visitor tells about themselves and their conversation: who they are (identify),
where to follow up (email), and how it went (CSAT, taken once the conversation is closed)."""

from __future__ import annotations

from uuid import UUID

from server.domain.modes import Mode
from server.services.conversations import ConversationService
from server.services.notifications import Notifications
from server.storage import conversations as convs
from server.storage.db import Database


class RatingRefused(Exception):
    """The conversation cannot be rated now (it is not closed, or not this visitor's org's)."""


class VisitorService:
    def __init__(self, db: Database, conversations: ConversationService,
                 notifications: Notifications | None = None) -> None:
        self.db = db
        self.conversations = conversations
        self.notifications = notifications

    async def identify(self, org_id: UUID, visitor_id: UUID, *, name: str | None,
                       email: str | None) -> None:
        """None leaves a field as it is."""
        async with self.db.unit_of_work(org_id) as conn:
            await convs.update_visitor(conn, self.db.keys, org_id, visitor_id, name=name,
                                       email=email)

    async def follow_up_by_email(self, org_id: UUID, visitor_id: UUID, conversation_id: UUID,
                                 email: str) -> None:
        """Nobody could answer now: the conversation and the visitor keep the address, and
        the visitor is thanked in their language (a system message the room sees). The
        org's inbox hears of it in the same transaction (services/notifications.py)."""
        queued = False
        async with self.db.unit_of_work(org_id) as conn:
            await convs.set_followup_email(conn, self.db.keys, org_id, conversation_id, email)
            await convs.update_visitor(conn, self.db.keys, org_id, visitor_id, name=None,
                                       email=email)
            if self.notifications is not None:
                queued = await self.notifications.followup_left(conn, org_id, conversation_id,
                                                                email)
        if queued and self.notifications is not None:
            self.notifications.outbox.wake()
        await self.conversations.say(org_id, conversation_id, "email_thanks",
                                     meta={"followup_email": True})

    async def rate(self, org_id: UUID, conversation_id: UUID, score: int,
                   comment: str | None) -> None:
        """A rating is taken once the conversation is closed (a later one replaces it)."""
        async with self.db.unit_of_work(org_id) as conn:
            conv = await convs.get(conn, org_id, conversation_id)
            if conv is None or conv.mode != Mode.CLOSED.value:
                raise RatingRefused("a rating is taken once the conversation is closed")
            await convs.set_csat(conn, self.db.keys, org_id, conversation_id, score, comment)
