"""Live agents: claim, release, transfer, close, assignment, presence-aware queueing and the
queue-wait offer. Every mode change goes through ConversationService.change_mode."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from server.domain.modes import Mode, Trigger
from server.domain.roles import MANAGERS, Role
from server.hub.rooms import Hub
from server.presence.redis import RedisPresence
from server.services.accounts import Principal
from server.services.bot import BotRunner
from server.services.conversations import ConversationService, ModeRefused, summary_of
from server.storage import accounts as accounts_store
from server.storage import agent_tools, messages
from server.storage import conversations as convs
from server.storage.db import Database, SystemJob

log = logging.getLogger("clienta.agents")

def user_channel(user_id: UUID | str) -> str:
    return f"u:{user_id}"


class AgentService:
    def __init__(self, db: Database, hub: Hub, conversations: ConversationService,
                 bot: BotRunner, presence: RedisPresence, *, queue_wait_s: float) -> None:
        self.db = db
        self.hub = hub
        self.conversations = conversations
        self.bot = bot
        self.presence = presence
        self.queue_wait_s = queue_wait_s
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_waits(), name="queue-wait-sweeper")
        self.presence.start()

    async def close(self) -> None:
        await self.presence.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    # ---- views ------------------------------------------------------------------------

    async def summaries(self, org_id: UUID, *, modes: list[str] | None = None,
                        assignee_id: UUID | None = None, limit: int = 100,
                        before: Any = None, unassigned: bool = False) -> list[dict[str, Any]]:
        async with self.db.unit_of_work(org_id) as conn:
            rows = await agent_tools.list_conversations(
                conn, org_id, modes=modes, assignee_id=assignee_id, unassigned=unassigned,
                before=before, limit=limit)
            previews = await messages.previews(conn, self.db.keys, org_id,
                                               [c.id for c in rows])
            out = []
            for conv in rows:
                visitor = await convs.visitor_details(conn, self.db.keys, org_id, conv.visitor_id)
                conv = await convs.opened(conn, self.db.keys, conv)
                out.append(summary_of(conv, visitor, previews.get(conv.id)))
        return out

    async def welcome(self, principal: Principal) -> dict[str, Any]:
        queue = await self.summaries(principal.org_id, modes=[Mode.QUEUED])
        assigned = await self.summaries(principal.org_id, modes=[Mode.AGENT],
                                        assignee_id=principal.user_id)
        return {"t": "welcome", "org_id": str(principal.org_id),
                "user": {"id": str(principal.user_id), "name": principal.name,
                         "role": principal.role, "email": principal.email},
                "queue": queue, "assigned": assigned}

    # ---- actions ----------------------------------------------------------------------

    async def claim(self, principal: Principal, conversation_id: UUID) -> str:
        """Atomic: of two agents claiming at once, one wins and the other gets ModeRefused."""
        me = principal.user_id

        def guard(conv: convs.Conversation) -> str | None:
            if conv.mode == Mode.AGENT.value and conv.assignee_id not in (None, me):
                return "another agent already has this conversation"
            if conv.mode == Mode.CLOSED.value:
                return "this conversation is closed"
            return None

        agent = {"id": str(me), "name": principal.name or "Support"}
        key = str(conversation_id)
        # The bot stops first, so its partial text takes its seq before the claim's system
        # message; a stream that started in between is stopped again after the commit and
        # before anyone hears of the claim, so no bot frame follows the `mode agent` frame.
        await self.bot.cancel(key)
        mode = await self.conversations.change_mode(
            principal.org_id, conversation_id, Trigger.CLAIM, agent=agent, assignee_id=me,
            message="agent_joined", message_args={"agent": agent["name"]}, guard=guard,
            before_publish=lambda: self.bot.cancel(key))
        if mode is None:
            raise ModeRefused("this conversation cannot be claimed")
        return mode

    async def release(self, principal: Principal, conversation_id: UUID) -> None:
        await self._own_or_refuse(principal, conversation_id, Trigger.RELEASE)

    async def close_conversation(self, principal: Principal, conversation_id: UUID) -> None:
        await self._own_or_refuse(principal, conversation_id, Trigger.CLOSE)

    async def _own_or_refuse(self, principal: Principal, conversation_id: UUID,
                             trigger: Trigger) -> None:
        def guard(conv: convs.Conversation) -> str | None:
            if (conv.mode == Mode.AGENT.value and conv.assignee_id != principal.user_id
                    and principal.role not in MANAGERS):
                return "only the assigned agent (or an admin) can do this"
            return None

        if await self.conversations.change_mode(principal.org_id, conversation_id, trigger,
                                                guard=guard) is None:
            raise ModeRefused(f"cannot {trigger.value} this conversation now")

    async def transfer(self, principal: Principal, conversation_id: UUID, to_user: UUID) -> bool:
        """Hand an agent-mode conversation to another agent; False when the principal's org
        has no such conversation (then nobody hears of it)."""
        async with self.db.unit_of_work(principal.org_id) as conn:
            target = await accounts_store.user_in_org(conn, principal.org_id, to_user)
        if target is None or target.role == Role.VIEWER:
            raise ModeRefused("that user cannot take conversations")

        def guard(conv: convs.Conversation) -> str | None:
            if conv.mode != Mode.AGENT.value or (
                    conv.assignee_id != principal.user_id
                    and principal.role not in MANAGERS):
                return "only the assigned agent (or an admin) can transfer"
            return None

        agent = {"id": str(target.id), "name": target.name or "Support"}
        # the guard admits agent mode only, from which a claim is always allowed: None
        # means the org has no such conversation
        if await self.conversations.change_mode(
                principal.org_id, conversation_id, Trigger.CLAIM, agent=agent,
                assignee_id=target.id, guard=guard,
                message="transferred",
                message_args={"by": principal.name or "Support", "agent": agent["name"]},
        ) is None:
            return False
        summary = await self.conversations.summary(principal.org_id, conversation_id)
        await self.hub.publish(user_channel(target.id),
                               {"t": "assigned", "conversation": summary})
        return True

    # ---- queueing ---------------------------------------------------------------------

    async def track(self, principal: Principal, conn_id: str, away: bool) -> None:
        """Presence says who can take a conversation: a viewer is never counted online (a
        visitor would be told someone is there, and get no email offer)."""
        if principal.role != Role.VIEWER:
            await self.presence.track(principal.org_id, principal.user_id, conn_id, away)

    async def untrack(self, principal: Principal, conn_id: str) -> None:
        """The agent's socket closed: it no longer makes the agent present."""
        await self.presence.remove(principal.org_id, principal.user_id, conn_id)

    async def after_queued(self, org_id: UUID, conversation_id: UUID) -> None:
        """Auto-assign when the org wants it; tell the visitor when nobody is online, or
        outside the org's business hours (its offline message; it stays queued)."""
        online = await self.presence_users(org_id)
        async with self.db.unit_of_work(org_id) as conn:
            org = await accounts_store.org_by_id(conn, org_id)
        if org is not None and not org.prefs.open_at(datetime.now(UTC)):
            message = org.prefs.offline_message
            await self.conversations.say(org_id, conversation_id,
                                         "offline_custom" if message else "offline",
                                         meta={"ask_email": True}, message=message)
            return
        if not online:
            await self.conversations.say(org_id, conversation_id, "no_agent",
                                         meta={"ask_email": True})
            return
        async with self.db.unit_of_work(org_id) as conn:
            org = await accounts_store.org_by_id(conn, org_id)
            if org is None or org.assignment != "auto":
                return
            loads = await agent_tools.agent_loads(conn, org_id, sorted(online))
            users = {u: await accounts_store.user_in_org(conn, org_id, u) for u in loads}
        candidates = sorted((n, str(u)) for u, n in loads.items()
                            if n < org.agent_capacity and (user := users[u]) is not None
                            and user.role != Role.VIEWER)
        for _, user_id in candidates:
            user = users[UUID(user_id)]
            assert user is not None
            principal = Principal(user.id, org_id, Role(user.role), user.name, user.email)
            try:
                await self.claim(principal, conversation_id)
            except ModeRefused:
                return  # someone claimed it first
            summary = await self.conversations.summary(org_id, conversation_id)
            await self.hub.publish(user_channel(user.id),
                                   {"t": "assigned", "conversation": summary})
            return

    async def presence_users(self, org_id: UUID) -> set[UUID]:
        try:
            return await self.presence.users(org_id, "online")
        except Exception:
            log.warning("presence unavailable")
            return set()

    async def online_count(self, org_id: UUID) -> int:
        return await self.presence.online_count(org_id)

    async def _sweep_waits(self) -> None:
        """Every process sweeps; the UPDATE ... SKIP LOCKED hands each offer to one of them."""
        interval = max(0.5, min(5.0, self.queue_wait_s / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.db.system(SystemJob.QUEUE_WAIT_SWEEP) as conn:
                    due = await agent_tools.take_due_wait_offers(conn, self.queue_wait_s)
                for org_id, conversation_id in due:
                    await self.conversations.say(org_id, conversation_id, "wait_offer",
                                                 meta={"offer_wait_choice": True})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("queue-wait sweep failed")

    async def back_to_bot(self, org_id: UUID, conversation_id: UUID) -> None:
        """The waiting visitor chose the bot: automatic handoffs are off from now on."""
        async with self.db.unit_of_work(org_id) as conn:
            await agent_tools.set_auto_handoff(conn, org_id, conversation_id, False)
        await self.conversations.change_mode(org_id, conversation_id, Trigger.BACK_TO_BOT)

