"""`/v1/ws/visitor`: one visitor's session, from `hello` to close."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import UUID, uuid4

from server.domain.client_ip import client_ip, parse_networks
from server.domain.handoff import asks_for_human, says_unhelped
from server.domain.modes import Mode, Trigger
from server.domain.roles import Author
from server.hub.rooms import AUDIENCE_AGENTS, room
from server.protocol import frames
from server.protocol.codes import CloseCode, ErrorCode
from server.protocol.frames import VISITOR_FRAMES
from server.services.conversations import Conversation
from server.services.notifications import TranscriptRefused
from server.services.orgs import Org
from server.services.rate_limits import Scope, subject_key
from server.services.visitors import RatingRefused
from server.transport.socket import VISITOR_QUOTAS, Closed, FrameSocket, serve
from server.transport.wire import WireSocket

log = logging.getLogger("clienta.visitor")

# frames that store the conversation first if the visitor has none yet
NEEDS_RECORD = frozenset({"msg", "handoff", "email", "identify"})
# frames with nothing to act on before then (no one else can see the conversation)
UNSTORED_NOOPS = frozenset({"typing", "read", "wait"})


async def visitor_endpoint(peer: WireSocket) -> None:
    await serve(peer, "visitor", VISITOR_FRAMES, VisitorSession)


class VisitorSession:
    def __init__(self, services: Any, sock: FrameSocket) -> None:
        self.s = services
        self.sock = sock
        self.conn = sock.conn
        self.org: Org | None = None
        self.visitor_id: UUID | None = None
        self.conversation_id: UUID | None = None
        self.locale: str | None = None
        self.stored = False  # the conversation has a row (else it is stored on first need)
        self.ip_key = ""  # the client address, hashed: what per-IP quotas count under
        self.site_key = ""

    async def run(self) -> None:
        peer = self.sock.peer
        ip = client_ip(peer.peer_address, peer.headers,
                       parse_networks(self.s.settings.trusted_proxies))
        self.ip_key = subject_key(ip)
        # counted before anything is looked up: refused sockets cost one Redis call
        verdict = await self.s.limiter.check(Scope.IP_SOCKETS, self.ip_key)
        if not verdict.allowed:
            self.sock.rate_limited("too many connections from this address",
                                   None, verdict.retry_after_s)
            raise Closed(CloseCode.POLICY)
        site_key = self.site_key = peer.query.get("site_key", "")
        org = None
        if site_key and len(site_key) <= 128:
            org = await self.s.orgs.by_site_key(site_key)
        if org is None:
            raise Closed(CloseCode.FORBIDDEN)
        origin = peer.headers.get("origin")
        if org.allowed_origins and origin not in org.allowed_origins:
            raise Closed(CloseCode.FORBIDDEN)
        self.org = org
        self.conn.org_id = org.id
        hello = await self.sock.next_frame(self.s.settings.limits.hello_timeout_s)
        if hello["t"] != "hello":
            self.sock.error(ErrorCode.BAD_FRAME, "the first frame must be hello")
            raise Closed(CloseCode.POLICY)
        with self.s.admission.foreground():
            await self._hello(hello)
        while True:
            frame = await self.sock.next_frame()
            try:
                await self._dispatch(frame)
            except Exception as exc:
                self.sock.failed(frame, exc)

    async def _hello(self, hello: dict[str, Any]) -> None:
        assert self.org is not None
        visitor_id = None
        token = hello.get("visitor_token")
        if token:
            visitor_id = self.s.visitor_tokens.verify(token, self.org.id)
            if visitor_id is None:
                self.sock.error(ErrorCode.FORBIDDEN, "this visitor token is not valid here")
                raise Closed(CloseCode.UNAUTHORIZED)
        requested = UUID(hello["conversation_id"]) if hello.get("conversation_id") else None
        self.locale = hello.get("locale")
        self.visitor_id = visitor_id or uuid4()
        # the visitor's quotas hold over all its sockets (a token resumes the same visitor)
        self.sock.limit_by(self.s.limiter, VISITOR_QUOTAS, str(self.visitor_id))
        token = self.s.visitor_tokens.issue(self.org.id, self.visitor_id)

        def welcome(conv: Conversation | None) -> None:
            # None: nothing stored yet, so bot mode and nothing to catch up on
            self.conn.send({"t": "welcome", "visitor_token": token,
                            "conversation_id": str(conv.id if conv else self.conversation_id),
                            "mode": conv.mode if conv else Mode.BOT.value,
                            "last_seq": conv.last_seq if conv else 0})

        replayed = False
        if visitor_id is not None and requested is not None:  # a resume: the common reconnect
            conv, replayed = await self.s.conversations.resume_visitor(
                self.conn, self.org.id, visitor_id, requested, hello.get("last_seq", 0),
                welcome)
        else:
            conv = await self.s.conversations.open_for_visitor(self.org, visitor_id,
                                                               requested)
        if conv is None and visitor_id is not None and await self.s.privacy.is_erased(
                self.org.id, visitor_id):
            # an erased visitor's token names nobody any more (their conversations were
            # moved off it, so only this rare path asks)
            self.sock.error(ErrorCode.FORBIDDEN, "this visitor token is not valid here")
            raise Closed(CloseCode.UNAUTHORIZED)
        if conv is None:
            # nothing stored yet, so nothing to replay and nobody to hear from: the
            # conversation is stored (and its room joined) when a frame first needs it
            self.conversation_id = uuid4()
            welcome(None)
            return
        self.stored = True
        self.conversation_id = conv.id
        last_seq = hello.get("last_seq", 0) if conv.id == requested or not requested else 0
        if not replayed:
            welcome(conv)
            await self.s.conversations.replay(self.conn, self.org.id, conv.id, last_seq,
                                              include_notes=False)
        snapshot = await self.s.bot.snapshot(str(conv.id))
        if snapshot is not None:
            self.conn.send(snapshot)
        if replayed and conv.mode == Mode.BOT.value:
            # a question the last process stored but never answered (a deploy), or whose
            # stream died with its process (its key lapses), is answered
            self.s.bot.answer_pending(self.org.id, self.org.name, conv.id, self.locale)

    async def _materialize(self, ref: str | None) -> bool:
        """Store the conversation, unless this address or site key has started too many
        lately: then the frame is refused and nothing is stored (the visitor may retry)."""
        assert self.org is not None and self.conversation_id is not None
        assert self.visitor_id is not None
        # the address first: a flood from one address must not spend the site's quota
        for scope, subject in ((Scope.IP_CONVERSATIONS, self.ip_key),
                               (Scope.SITE_CONVERSATIONS, subject_key(self.site_key))):
            verdict = await self.s.limiter.check(scope, subject)
            if not verdict.allowed:
                self.sock.rate_limited("too many new conversations; try again later", ref,
                                       verdict.retry_after_s)
                return False
        # joined first: from the insert on, agents may write to it
        await self.s.conversations.join_new(self.conn, self.conversation_id)
        await self.s.conversations.materialize(self.org.id, self.visitor_id,
                                               self.conversation_id, self.locale)
        self.stored = True
        return True

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        assert self.org is not None  # run() sets it before the first frame
        t = frame["t"]
        if not self.stored:
            if t in UNSTORED_NOOPS:
                return
            if t in NEEDS_RECORD and not await self._materialize(frame.get("id")):
                return
        if t == "msg":
            await self._message(frame)
        elif t == "typing":
            await self._publish_agents({"t": "typing", "author": {"role": Author.VISITOR},
                                        "on": frame["on"]})
        elif t == "read":
            await self.s.reads.visitor_read(self.org.id, self.conversation_id, frame["seq"])
        elif t == "handoff":
            await self._handoff(Trigger.VISITOR_HANDOFF)
        elif t == "csat":
            try:
                await self.s.visitors.rate(self.org.id, self.conversation_id, frame["score"],
                                           frame.get("comment"))
            except RatingRefused as exc:
                self.sock.error(ErrorCode.FORBIDDEN, str(exc))
        elif t == "email":
            await self.s.visitors.follow_up_by_email(self.org.id, self.visitor_id,
                                                     self.conversation_id, frame["email"])
        elif t == "identify":
            await self.s.visitors.identify(self.org.id, self.visitor_id,
                                           name=frame.get("name"), email=frame.get("email"))
        elif t == "wait":
            await self._wait_choice(frame["choice"])
        elif t == "transcript":
            await self._transcript(frame.get("email"))
        elif t == "hello":
            self.sock.error(ErrorCode.BAD_FRAME, "hello was already received")

    async def _transcript(self, email: str | None) -> None:
        if not self.stored:
            self.sock.error(ErrorCode.NOT_FOUND, "there is no conversation to send yet")
            return
        assert self.org is not None and self.conversation_id is not None
        try:
            await self.s.notifications.send_transcript(self.org.id, self.visitor_id,
                                                       self.conversation_id, email)
        except TranscriptRefused as exc:
            code = ErrorCode.RATE_LIMITED if exc.code == "rate_limited" else ErrorCode.BAD_FRAME
            self.sock.error(code, str(exc))
            return
        self.conn.send({"t": "transcript", "sent": True})

    async def _publish_agents(self, frame: dict[str, Any]) -> None:
        key = str(self.conversation_id)
        frame["conversation_id"] = key
        await self.s.hub.publish(room(key), frame, AUDIENCE_AGENTS)

    async def _message(self, frame: dict[str, Any]) -> None:
        org, conv_id = self.org, self.conversation_id
        assert org is not None and conv_id is not None
        stored = await self.s.conversations.store(
            org.id, conv_id, kind="msg", author_role=Author.VISITOR, text=frame["text"],
            client_id=frame["id"],
            on_stored=lambda event: self.conn.send_soon(frames.ack(frame["id"], event.seq)),
            sender=self.conn,
        )
        if stored is None:
            self.sock.error(ErrorCode.NOT_FOUND, "conversation not found", frame["id"])
            return
        if stored.event.duplicate:
            return
        mode = stored.mode
        if mode == Mode.CLOSED.value:
            mode = await self.s.conversations.change_mode(org.id, conv_id, Trigger.REOPEN,
                                                          message="") or mode
        if mode != Mode.BOT.value:
            return
        text = frame["text"]
        # the org's settings as they are now (cached per process, dropped on a change), not
        # as they were at hello: an open socket follows a new keyword list too
        prefs = (await self.s.orgs.by_site_key(self.site_key) or org).prefs
        if asks_for_human(text) or prefs.asks_for_human(text):
            await self._handoff(Trigger.ASKED_FOR_HUMAN)
            return
        if says_unhelped(text) and await self.s.bot.note_unresolved(org.id, conv_id,
                                                                    prefs.unresolved_turns):
            await self._handoff(Trigger.UNRESOLVED)
            return
        self.s.bot.answer(org.id, org.name, conv_id, text, self.locale)

    async def _handoff(self, trigger: Trigger) -> None:
        assert self.org is not None and self.conversation_id is not None
        await self.s.bot.cancel(str(self.conversation_id))
        await self.s.conversations.change_mode(self.org.id, self.conversation_id, trigger)
        await self.s.agents.after_queued(self.org.id, self.conversation_id)

    async def _wait_choice(self, choice: str) -> None:
        assert self.org is not None
        if choice == "bot":
            await self.s.agents.back_to_bot(self.org.id, self.conversation_id)
        elif choice != "keep":
            self.sock.error(ErrorCode.BAD_FRAME, "wait.choice must be keep or bot")

    async def leave(self) -> None:
        for key in list(self.conn.conversations):
            with contextlib.suppress(Exception):
                await asyncio.shield(self.s.hub.leave(room(key), self.conn))
