"""Staff sessions that end or narrow at once: this process's open agent sockets by user and
token, logout, and the control messages that close (4001) or re-role those sockets on
every process when a token is revoked, a user removed or a role changed."""

from __future__ import annotations

import logging
from typing import Any, Protocol
from uuid import UUID

from server.domain.audit import Actor, AuditAction, Target, TargetKind
from server.domain.roles import Role
from server.hub.rooms import Hub
from server.services.accounts import Principal, hash_token
from server.services.agents import user_channel
from server.services.audit import AuditLog
from server.storage import teams as store
from server.storage.db import Database

log = logging.getLogger("clienta.sessions")

OP_REVOKE = "session_revoke"
OP_ROLE = "session_role"


def token_key(token: str) -> str:
    """What names a token between processes: half of its stored hash, never the token."""
    return hash_token(token)[:16].hex()


class StaffSession(Protocol):
    """What an open agent socket offers the registry."""

    def revoked(self) -> None:
        """Its token or user is gone: close with 4001."""
        ...

    def narrowed(self, role: Role) -> None:
        """Its user's role changed: apply it to every frame from now on."""
        ...


class StaffSessions:
    def __init__(self, db: Database, hub: Hub, audit: AuditLog) -> None:
        self.db = db
        self.hub = hub
        self.audit = audit
        # user id -> {session: token key}: the local sockets a control message may reach
        self._open: dict[str, dict[StaffSession, str]] = {}
        hub.on_control(self._on_control)

    async def attach(self, session: StaffSession, me: Principal,
                     token: str) -> Principal | None:
        """Register an authenticated socket (after it joined its user's channel), then check
        its token again, marking the user active: a revocation committed while the socket
        said hello is either seen here or published after the channel was subscribed.
        The principal with its current role, or None when the token no longer opens it."""
        self._open.setdefault(str(me.user_id), {})[session] = token_key(token)
        async with self.db.unit_of_work(me.org_id) as conn:
            found = await store.touch_by_token(conn, me.org_id, hash_token(token))
        if found is None:
            return None
        role, name = found
        return Principal(me.user_id, me.org_id, Role(role), name, me.email)

    def detach(self, session: StaffSession, user_id: UUID) -> None:
        sessions = self._open.get(str(user_id))
        if sessions is not None:
            sessions.pop(session, None)
            if not sessions:
                del self._open[str(user_id)]

    async def logout(self, me: Principal, token: str, address: str | None = None) -> None:
        """The token stops opening anything: deleted, then its sockets closed everywhere."""
        async with self.db.unit_of_work(me.org_id) as conn:
            await store.delete_token(conn, me.org_id, hash_token(token))
            await self.audit.record(conn, me.org_id, Actor.user(me.user_id, address),
                                    AuditAction.SIGN_OUT, Target(TargetKind.USER, me.user_id))
        await self.revoke(me.user_id, token_key(token))

    async def revoke(self, user_id: UUID, token: str | None = None) -> None:
        """Close the user's sockets on every process (only those of one token when given).
        Call after the change that revoked them has committed. Every agent socket is a
        member of its user's channel (joined at hello): the message reaches exactly the
        processes holding one."""
        message: dict[str, Any] = {"op": OP_REVOKE, "user": str(user_id)}
        if token is not None:
            message["token"] = token
        await self.hub.control(user_channel(user_id), message)

    async def narrow(self, user_id: UUID, role: Role) -> None:
        await self.hub.control(user_channel(user_id),
                               {"op": OP_ROLE, "user": str(user_id), "role": role.value})

    def _on_control(self, channel: str, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op not in (OP_REVOKE, OP_ROLE):
            return
        sessions = self._open.get(str(message.get("user")))
        if not sessions:
            return
        for session, key in tuple(sessions.items()):
            try:
                if op == OP_ROLE:
                    session.narrowed(Role(message["role"]))
                elif message.get("token") in (None, key):
                    session.revoked()
            except Exception:
                log.exception("session control failed", extra={"op": op})
