"""Conversation use cases shared by visitors, agents and the bot: store-then-publish,
replay by seq, and every mode change (with its system message and queue notice)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from server.domain.modes import Mode, TransitionError, Trigger, transition
from server.domain.roles import Author
from server.domain.system_text import has_text, system_text
from server.hub.connection import Connection
from server.hub.rooms import AUDIENCE_AGENTS, AUDIENCE_ALL, Hub, org_channel, room
from server.metrics import Metrics
from server.protocol import frames
from server.protocol.codes import CloseCode
from server.services.appender import Appender
from server.services.resume_reads import ResumeAsk, ResumeReads
from server.storage import conversations as convs
from server.storage import messages
from server.storage.accounts import Org
from server.storage.conversations import Conversation
from server.storage.db import Database

log = logging.getLogger("clienta.conversations")

# how long an out-of-order event waits for the missing ones before Postgres is asked.
# Publishes of two processes overtake each other routinely under load (the visitor's and
# the agent's messages of one conversation are stored and published by different
# processes); at 50 ms the repairs' Postgres reads were 4 % of a hub's CPU in the chat
# bench, mostly for publishes that arrived a moment later anyway. A publish that is
# really lost (Redis failed) is rare and still repaired, 0.2 s later.
GAP_GRACE_S = 0.2

class ModeRefused(Exception):
    """A guard refused the change (e.g. another agent already claimed the conversation)."""


Guard = Callable[[Conversation], str | None]


@dataclass(slots=True)
class Stored:
    event: messages.StoredEvent
    mode: str


class ConversationService:
    def __init__(self, db: Database, hub: Hub, metrics: Metrics, appender: Appender,
                 resume_reads: ResumeReads, *,
                 agents_online: Callable[[UUID], Awaitable[int]] | None = None,
                 admits: Callable[[UUID], Awaitable[bool]] | None = None) -> None:
        self.db = db
        # org_id -> whether a new conversation starts with the bot (the plan's open
        # conversations: services/metering.Meter.admits_conversation, cached)
        self.admits = admits
        # appends of concurrent messages share a statement (group commit), and so do the
        # reads of visitors coming back at once (after a deploy)
        self.appender = appender
        self.resume_reads = resume_reads
        self.hub = hub
        self.metrics = metrics
        # org_id -> online agent count (presence's), told to a visitor entering the queue
        self.agents_online = agents_online
        self._repairs: set[asyncio.Task[None]] = set()

    # ---- storing and replaying ------------------------------------------------------

    async def store(self, org_id: UUID, conversation_id: UUID, *, kind: str, author_role: str,
                    text: str, client_id: str | None = None, author_id: UUID | None = None,
                    author_name: str | None = None, stream_id: str | None = None,
                    sources: list[dict[str, Any]] | None = None,
                    meta: dict[str, Any] | None = None,
                    require_assignee: UUID | None = None,
                    on_stored: Callable[[messages.StoredEvent], None] | None = None,
                    sender: Connection | None = None,
                    ) -> Stored | None:
        """Persist, then publish (guarantee 1). None when the conversation is not this org's
        (or, with `require_assignee`, not held by that agent). `on_stored` (the sender's
        ack) runs once the event is committed, before the publish: the ack does not wait
        for Redis. The `sender`'s connection, if it is in the room, gets its copy in the
        same write as a `send_soon` ack (one write and one client wake-up fewer per
        message); this process's other members get theirs without waiting for Redis."""
        try:
            appended = await self.appender.append(messages.NewEvent(
                org_id, conversation_id, kind, author_role, text, client_id=client_id,
                author_id=author_id, author_name=author_name, stream_id=stream_id,
                sources=sources, meta=meta, require_assignee=require_assignee,
            ))
        except messages.DuplicateClientId:
            # a concurrent retry of the same client id won: answer with its event
            async with self.db.unit_of_work(org_id) as conn:
                first = await messages.by_client_id(conn, self.db.keys, org_id, conversation_id,
                                                    client_id or "")
                mode = await convs.mode_of(conn, org_id, conversation_id)
            if first is None or mode is None:
                raise
            if on_stored is not None:
                on_stored(first)
            return Stored(first, mode)
        if appended is None:
            return None
        event = appended.event
        if on_stored is not None:
            on_stored(event)
        if not event.duplicate:
            self.metrics.messages_stored[author_role].n += 1
            audience = AUDIENCE_AGENTS if kind == "note" else AUDIENCE_ALL
            await self.hub.publish(room(str(conversation_id)), event.frame(), audience,
                                   sender=sender)
        return Stored(event, appended.mode)

    async def replay(self, conn: Connection, org_id: UUID, conversation_id: UUID,
                     last_seq: int, *, include_notes: bool) -> int:
        """Join the room, then send every stored event after last_seq, in order.

        Live events arriving meanwhile are held and released after the replay without
        duplicates; returns the highest seq delivered.
        """
        key = str(conversation_id)
        conn.mark_seen(key, last_seq)
        conn.begin_replay(key)
        try:
            await self.hub.join(room(key), conn)
            conn.conversations.add(key)
            return await self._send_after(conn, org_id, conversation_id, last_seq, None,
                                          include_notes)
        finally:
            conn.end_replay(key)

    async def resume_visitor(self, conn: Connection, org_id: UUID, visitor_id: UUID,
                             requested: UUID, last_seq: int,
                             welcome: Callable[[convs.Conversation], None],
                             ) -> tuple[convs.Conversation | None, bool]:
        """A returning visitor's `hello {conversation_id, last_seq}`.

        The room is joined before anything is read (so no event can fall between the read
        and live delivery), then the conversation's owner and the missed events are read
        together (grouped with other visitors coming back at the same time). Until the
        owner is confirmed, live events are only held, never sent.
        `welcome(conv)` runs before the replay. Returns the visitor's conversation and
        whether it was the requested one and has been welcomed and replayed; otherwise the
        caller opens what it got like a first visit.
        """
        key = str(requested)
        conn.begin_replay(key)
        replayed = False
        try:
            await self.hub.join(room(key), conn)
            conv, batch = await self.resume_reads.read(
                ResumeAsk(org_id, visitor_id, requested, last_seq))
            if batch is not None:
                conn.conversations.add(key)
                conn.mark_seen(key, last_seq)
                welcome(conv)  # type: ignore[arg-type]  # batch is set only with conv
                await self._send_after(conn, org_id, requested, last_seq, batch, False)
                replayed = True
            return conv, replayed
        finally:
            if replayed:
                conn.end_replay(key)
            else:  # not theirs (or an error): nothing held for it may reach them
                conn.replaying.pop(key, None)
                if key not in conn.conversations:
                    await self.hub.leave(room(key), conn)

    async def _send_after(self, conn: Connection, org_id: UUID, conversation_id: UUID,
                          top: int, batch: list[Any] | None, include_notes: bool) -> int:
        key = str(conversation_id)
        while True:
            if batch is None:
                async with self.db.unit_of_work(org_id) as db_conn:
                    batch = await messages.after(db_conn, self.db.keys, org_id,
                                                 conversation_id, top,
                                                 include_notes=include_notes)
            for event in batch:
                conn.send(event.frame())
                conn.mark_seen(key, event.seq)
                top = event.seq
            if len(batch) < messages.REPLAY_BATCH:
                return top
            batch = None

    async def say(self, org_id: UUID, conversation_id: UUID, key: str,
                  meta: dict[str, Any] | None = None, **args: str) -> Stored | None:
        """Store a system message in the visitor's language."""
        async with self.db.unit_of_work(org_id) as conn:
            locale = await convs.visitor_locale(conn, org_id, conversation_id)
        return await self.store(org_id, conversation_id, kind="msg", author_role=Author.SYSTEM,
                                text=system_text(key, locale, **args), meta=meta)

    def repair_gap(self, conn: Connection, conversation_id: str) -> None:
        """A connection got seq N+k before N: fill the gap from the record if pub/sub does
        not within a moment."""
        task = asyncio.create_task(self._repair(conn, conversation_id))
        self._repairs.add(task)
        task.add_done_callback(self._repairs.discard)

    async def _repair(self, conn: Connection, key: str) -> None:
        await asyncio.sleep(GAP_GRACE_S)
        gap = conn.gaps.get(key)
        if not gap or conn.closed or conn.org_id is None:
            return
        top = max(gap)
        try:
            async with self.db.unit_of_work(conn.org_id) as db_conn:
                events = await messages.after(
                    db_conn, self.db.keys, conn.org_id, UUID(key), conn.seen_seq.get(key, 0),
                    include_notes=conn.kind == "agent", limit=top)
        except Exception:
            log.exception("gap repair failed", extra={"conn_id": conn.conn_id})
            conn.abort(CloseCode.RESTARTING)  # the client resumes by last_seq instead
            return
        for event in events:
            if event.seq >= top:
                break
            if event.seq > conn.seen_seq.get(key, 0):
                conn.seen_seq[key] = event.seq
                conn.send(event.frame())
        conn.release(key, known_through=top - 1)

    async def resync(self) -> None:
        """After a broker outage: every local member catches up from Postgres."""
        for channel, members in list(self.hub.members.items()):
            if not channel.startswith("c:"):
                continue
            conversation_id = UUID(channel[2:])
            for conn in list(members):
                if conn.org_id is None or conn.closed:
                    continue
                key = channel[2:]
                async with self.db.unit_of_work(conn.org_id) as db_conn:
                    events = await messages.after(
                        db_conn, self.db.keys, conn.org_id, conversation_id,
                        conn.seen_seq.get(key, 0),
                        include_notes=conn.kind == "agent",
                    )
                for event in events:
                    frame = event.frame()
                    conn.deliver(frame, conn.codec.encode(frame))

    # ---- visitors ---------------------------------------------------------------------

    async def join_new(self, conn: Connection, conversation_id: UUID) -> None:
        key = str(conversation_id)
        await self.hub.join(room(key), conn)
        conn.conversations.add(key)

    async def open_for_visitor(self, org: Org, visitor_id: UUID | None,
                               conversation_id: UUID | None) -> convs.Conversation | None:
        """The visitor's stored conversation: the one asked for if it is theirs, else their
        latest. None when they have none yet: a visitor who only opens the widget costs no
        rows; `materialize` stores the conversation when a frame first needs it."""
        if visitor_id is None:
            return None
        async with self.db.unit_of_work(org.id) as conn:
            return await convs.for_visitor(conn, org.id, visitor_id, conversation_id)

    async def materialize(self, org_id: UUID, visitor_id: UUID, conversation_id: UUID,
                          locale: str | None) -> None:
        """Store a new conversation (and its visitor, unless known) under the id the visitor
        was already given (on the message path: the visitor's first message waits on it).
        Past the plan's open conversations it is still stored, and goes to people at once
        (queued, the plan-limit message, the queue notice): never silent."""
        with_bot = self.admits is None or await self.admits(org_id)
        async with self.db.unit_of_work(org_id, message_path=True) as conn:
            await convs.insert_conversation_for(conn, org_id, visitor_id, conversation_id,
                                                locale)
        if not with_bot:
            await self.change_mode(org_id, conversation_id, Trigger.PLAN_LIMIT)

    # ---- reads for staff -----------------------------------------------------------------

    async def get(self, org_id: UUID, conversation_id: UUID) -> convs.Conversation | None:
        """None for "no such conversation" and "another org's" alike: nothing leaks."""
        async with self.db.unit_of_work(org_id) as conn:
            return await convs.get(conn, org_id, conversation_id)

    async def with_visitor(self, org_id: UUID, conversation_id: UUID,
                           ) -> tuple[convs.Conversation, dict[str, Any]] | None:
        async with self.db.unit_of_work(org_id) as conn:
            conv = await convs.get(conn, org_id, conversation_id)
            if conv is None:
                return None
            return (await convs.opened(conn, self.db.keys, conv),
                    await convs.visitor_details(conn, self.db.keys, org_id, conv.visitor_id))

    async def history(self, org_id: UUID, conversation_id: UUID, after: int,
                      limit: int) -> list[messages.StoredEvent] | None:
        """Events after seq `after`, notes included; None when the org has no such
        conversation."""
        async with self.db.unit_of_work(org_id) as conn:
            if await convs.get(conn, org_id, conversation_id) is None:
                return None
            return await messages.after(conn, self.db.keys, org_id, conversation_id, after,
                                        include_notes=True, limit=limit)

    async def summary(self, org_id: UUID, conversation_id: UUID) -> dict[str, Any] | None:
        async with self.db.unit_of_work(org_id) as conn:
            conv = await convs.get(conn, org_id, conversation_id)
            if conv is None:
                return None
            conv = await convs.opened(conn, self.db.keys, conv)
            visitor = await convs.visitor_details(conn, self.db.keys, org_id, conv.visitor_id)
            preview = (await messages.previews(conn, self.db.keys, org_id, [conversation_id])).get(
                conversation_id)
        return summary_of(conv, visitor, preview)

    # ---- mode changes -------------------------------------------------------------------

    async def change_mode(self, org_id: UUID, conversation_id: UUID, trigger: Trigger, *,
                          agent: dict[str, Any] | None = None, assignee_id: UUID | None = None,
                          message: str | None = None, message_args: dict[str, str] | None = None,
                          guard: Guard | None = None,
                          before_publish: Callable[[], Any] | None = None) -> str | None:
        """Move the conversation; store a system message; tell the room and the org's agents.

        Returns the new mode, or None when the move is not allowed from the current mode.
        `guard` runs under the row lock and may refuse with a reason (ModeRefused).
        `before_publish` runs after the change is committed and before anyone hears of it.
        `message` names the system message (domain/system_text.py; default: the trigger's,
        "" for none); it is written in the visitor's language.
        """
        if message is None:  # the trigger's own message, when it has one
            message = trigger.value if has_text(trigger.value) else ""
        key = message
        async with self.db.unit_of_work(org_id) as conn:
            conv = await convs.get(conn, org_id, conversation_id, for_update=True)
            if conv is None:
                return None
            if guard is not None and (reason := guard(conv)) is not None:
                raise ModeRefused(reason)
            try:
                target = transition(conv.mode, trigger)
            except TransitionError:
                return None
            keep_assignee = assignee_id if target is Mode.AGENT else None
            await convs.set_mode(conn, org_id, conversation_id, target.value,
                                 assignee_id=keep_assignee,
                                 needs_human=True if target is Mode.QUEUED else None)
            event = None
            if key:
                locale = await convs.visitor_locale(conn, org_id, conversation_id)
                text = system_text(key, locale, **(message_args or {}))
                appended = await messages.append(conn, self.db.keys, org_id,
                                                 conversation_id, kind="msg",
                                                 author_role=Author.SYSTEM, text=text,
                                                 meta={"mode": target.value})
                event = appended.event if appended else None
        if before_publish is not None:
            await before_publish()
        extra: dict[str, Any] = {}
        if target is Mode.QUEUED:
            self.metrics.handoffs.labels(trigger.value).inc()
            if self.agents_online is not None:
                extra["agents_online"] = (await self.agents_online(org_id)) > 0
        key = str(conversation_id)
        await self.hub.publish(room(key), frames.mode(key, target.value, agent, **extra))
        if event is not None:
            await self.hub.publish(room(key), event.frame())
        summary = await self.summary(org_id, conversation_id)
        if summary is not None:
            op = "remove" if target in (Mode.BOT, Mode.CLOSED) else (
                "add" if target is Mode.QUEUED else "update")
            await self.hub.publish(org_channel(str(org_id)),
                                   {"t": "queue", "op": op, "conversation": summary},
                                   AUDIENCE_AGENTS)
        return target.value


def summary_of(conv: convs.Conversation, visitor: dict[str, Any],
               preview: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(conv.id), "mode": conv.mode, "visitor": visitor, "last_seq": conv.last_seq,
        "updated_at": int(conv.updated_at.timestamp() * 1000),
        "assignee_id": str(conv.assignee_id) if conv.assignee_id else None,
        "tags": conv.tags,
    }
    if conv.queued_at is not None:
        out["queued_at"] = int(conv.queued_at.timestamp() * 1000)
    if preview is not None:
        out["preview"] = preview
    if conv.followup_email:
        out["followup_email"] = conv.followup_email
    if conv.csat_score is not None:
        out["csat"] = {"score": conv.csat_score, "comment": conv.csat_comment}
    return out
