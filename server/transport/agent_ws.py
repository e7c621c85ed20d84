"""`/v1/ws/agent`: an agent's session. `hello {token}` first (never a token in the URL)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any
from uuid import UUID

from server.domain.origins import same_host
from server.domain.roles import Author, Role
from server.hub.rooms import org_channel, room
from server.protocol import frames, permissions
from server.protocol.codes import CloseCode, ErrorCode
from server.protocol.frames import AGENT_FRAMES
from server.services.accounts import Principal
from server.services.agents import user_channel
from server.services.conversations import ModeRefused
from server.transport.socket import Closed, FrameSocket, serve
from server.transport.wire import WireSocket

log = logging.getLogger("clienta.agent")


async def agent_endpoint(peer: WireSocket) -> None:
    await serve(peer, "agent", AGENT_FRAMES, AgentSession)


class AgentSession:
    def __init__(self, services: Any, sock: FrameSocket) -> None:
        self.s = services
        self.sock = sock
        self.conn = sock.conn
        self.me: Principal | None = None
        self.away = False

    async def run(self) -> None:
        hello = await self.sock.next_frame(self.s.settings.limits.hello_timeout_s)
        if hello["t"] != "hello":
            self.sock.error(ErrorCode.BAD_FRAME, "the first frame must be hello {token}")
            raise Closed(CloseCode.UNAUTHORIZED)
        with self.s.admission.foreground():
            await self._hello(hello)
        with contextlib.suppress(Exception):  # Redis down: no presence, the session goes on
            await self.s.agents.track(self.me, self.conn.conn_id, self.away)
        while True:
            frame = await self.sock.next_frame()
            try:
                await self._dispatch(frame)
            except ModeRefused as exc:
                self.sock.error(ErrorCode.CONFLICT, str(exc), frame.get("conversation_id"))
            except Exception as exc:
                self.sock.failed(frame, exc)

    async def _hello(self, hello: dict[str, Any]) -> None:
        me = await self.s.accounts.authenticate(hello["token"])
        if me is None:
            self.sock.error(ErrorCode.FORBIDDEN, "this token is not valid")
            raise Closed(CloseCode.UNAUTHORIZED)
        if not await self._origin_allowed(me):
            self.sock.error(ErrorCode.FORBIDDEN, "this origin is not allowed for this org")
            raise Closed(CloseCode.FORBIDDEN)
        self.me = me
        self.conn.org_id = me.org_id
        self.conn.user_id = me.user_id
        await self.s.hub.join(org_channel(str(me.org_id)), self.conn)
        await self.s.hub.join(user_channel(me.user_id), self.conn)
        # registered, then the token checked again: a logout or removal committed during
        # this hello is seen now, or its control message reaches the channel just joined
        current = await self.s.sessions.attach(self, me, hello["token"])
        if current is None:
            self.sock.error(ErrorCode.FORBIDDEN, "this token is not valid")
            raise Closed(CloseCode.UNAUTHORIZED)
        self.me = me = current
        self.conn.send(await self.s.agents.welcome(me))

    def revoked(self) -> None:
        """The token was revoked or the user removed (StaffSessions, any process)."""
        self.sock.error(ErrorCode.FORBIDDEN, "this session has ended; log in again")
        self.conn.abort(CloseCode.UNAUTHORIZED)

    def narrowed(self, role: Role) -> None:
        """The user's role changed: every frame from now on is checked against it."""
        if self.me is not None and self.me.role != role:
            self.me = dataclasses.replace(self.me, role=role)
            self.conn.send({"t": "role", "role": role.value})

    async def _origin_allowed(self, me: Principal) -> bool:
        """A browser page's socket (it names its Origin) is let in from this server's own
        origin (the console is served here) or one the org lists; with no list, any. Other
        clients send no Origin and are trusted on their token alone."""
        headers = self.sock.peer.headers
        origin = headers.get("origin")
        if origin is None or same_host(origin, headers.get("host", "")):
            return True  # the common case costs no query
        org = await self.s.orgs.by_id(me.org_id)
        return org is not None and (not org.allowed_origins or origin in org.allowed_origins)

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        me = self.me
        assert me is not None
        t = frame["t"]
        refused = permissions.refusal(me.role, t)
        if refused is not None:
            self.sock.error(ErrorCode.FORBIDDEN, refused,
                            frame.get("id") or frame.get("conversation_id"))
            return
        if t == "away":
            self.away = frame["on"]
            await self.s.agents.track(me, self.conn.conn_id, self.away)
            return
        if t == "hello":
            self.sock.error(ErrorCode.BAD_FRAME, "hello was already received")
            return
        conv_id = UUID(frame["conversation_id"])
        if t == "join":
            await self._join(conv_id, frame.get("last_seq", 0))
        elif t == "leave":
            self.conn.conversations.discard(str(conv_id))
            await self.s.hub.leave(room(str(conv_id)), self.conn)
        elif t == "claim":
            if not await self._ensure_joined(conv_id):
                return
            await self.s.agents.claim(me, conv_id)
        elif t == "release":
            await self.s.agents.release(me, conv_id)
        elif t == "transfer":
            if not await self.s.agents.transfer(me, conv_id, UUID(frame["user_id"])):
                self.sock.error(ErrorCode.NOT_FOUND, "conversation not found", str(conv_id))
        elif t == "close":
            await self.s.agents.close_conversation(me, conv_id)
        elif t in ("msg", "note"):
            await self._write(t, conv_id, frame)
        elif t == "typing":
            key = str(conv_id)
            if await self._visible(conv_id):
                await self.s.hub.publish(room(key), frames.typing(
                    key, {"role": Author.AGENT, "name": me.name, "id": str(me.user_id)},
                    frame["on"]))
        elif t == "read":
            if not await self.s.reads.agent_read(me, conv_id, frame["seq"]):
                # the same answer for "does not exist" and "another org's": nothing leaks
                self.sock.error(ErrorCode.NOT_FOUND, "conversation not found", str(conv_id))

    async def _visible(self, conv_id: UUID) -> bool:
        assert self.me is not None
        found = await self.s.conversations.get(self.me.org_id, conv_id) is not None
        if not found:
            # the same answer for "does not exist" and "another org's": nothing leaks
            self.sock.error(ErrorCode.NOT_FOUND, "conversation not found", str(conv_id))
        return found

    async def _ensure_joined(self, conv_id: UUID) -> bool:
        if str(conv_id) in self.conn.conversations:
            return True
        return await self._join(conv_id, None)

    async def _join(self, conv_id: UUID, last_seq: int | None) -> bool:
        me = self.me
        assert me is not None
        found = await self.s.conversations.with_visitor(me.org_id, conv_id)
        if found is None:
            self.sock.error(ErrorCode.NOT_FOUND, "conversation not found", str(conv_id))
            return False
        conv, visitor = found
        if last_seq is not None:
            self.conn.send({"t": "joined", "conversation_id": str(conv_id), "mode": conv.mode,
                            "visitor": visitor, "last_seq": conv.last_seq,
                            "assignee_id": str(conv.assignee_id) if conv.assignee_id else None,
                            "tags": conv.tags, "followup_email": conv.followup_email})
        await self.s.conversations.replay(self.conn, me.org_id, conv_id, last_seq or 0,
                                          include_notes=True)
        snapshot = await self.s.bot.snapshot(str(conv_id))
        if snapshot is not None:
            self.conn.send(snapshot)
        # on record after the replay, which it must not delay (one entry per join, never
        # per frame); a failed entry fails the frame like any error, logged, not lost quietly
        peer = self.sock.peer
        await self.s.audit.history_opened(me.org_id, me.user_id, conv_id,
                                          self.s.audit.address(peer.peer_address, peer.headers),
                                          "socket")
        return True

    async def _write(self, kind: str, conv_id: UUID, frame: dict[str, Any]) -> None:
        me = self.me
        assert me is not None
        # a reply is stored only while this agent holds the conversation (checked in the
        # same statement); notes need only the conversation to be the org's
        stored = await self.s.conversations.store(
            me.org_id, conv_id, kind=kind, author_role=Author.AGENT, text=frame["text"],
            client_id=frame["id"], author_id=me.user_id, author_name=me.name or None,
            require_assignee=me.user_id if kind == "msg" else None,
            on_stored=lambda event: self.conn.send_soon(frames.ack(frame["id"], event.seq)),
            sender=self.conn)
        if stored is None:
            conv = await self.s.conversations.get(me.org_id, conv_id)
            if conv is not None:
                # in agent mode the conversation is another agent's
                refused = permissions.refusal(me.role, kind, conv.mode)
                self.sock.error(ErrorCode.FORBIDDEN,
                                refused or "another agent holds this conversation", frame["id"])
            else:
                self.sock.error(ErrorCode.NOT_FOUND, "conversation not found", frame["id"])

    async def leave(self) -> None:
        if self.me is not None:
            self.s.sessions.detach(self, self.me.user_id)
            with contextlib.suppress(Exception):
                await self.s.agents.untrack(self.me, self.conn.conn_id)
        channels = [room(k) for k in self.conn.conversations]
        if self.me is not None:
            channels += [org_channel(str(self.me.org_id)), user_channel(self.me.user_id)]
        for channel in channels:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.s.hub.leave(channel, self.conn))

