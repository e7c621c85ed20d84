"""Google sign-in (OpenID Connect): the flow's state between the redirects, and what a
verified Google identity may open. A linked Google account signs in; an address that
already has an account is linked only once its password is proved (or an invitation to it
is accepted); a new address makes a new organisation, named by the person first.

Between the redirects nothing is kept in Postgres: the flow (nonce, PKCE verifier,
invitation) and then its outcome wait in Redis under the SHA-256 of a random value that
only the browser holds (an HttpOnly cookie), for `flow_ttl_s`; each is spent once. No
bearer token is made before the console asks for it, so none is ever at rest."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID, uuid4

import asyncpg

from server.broker.base import Command
from server.domain.audit import Actor, AuditAction, Target, TargetKind
from server.domain.links import LinkKind, LinkRef, LinkSigner
from server.domain.roles import Role
from server.oidc.client import Identity, OidcClient, OidcError
from server.services.accounts import AccountError, AccountService, hash_token
from server.services.audit import AuditLog
from server.storage import accounts as accounts_store
from server.storage import google_ids as store
from server.storage.db import Database, set_tenant

log = logging.getLogger("clienta.google")

# a state, nonce or pending id: 256 bits, URL-safe (43 characters)
_RANDOM_BYTES = 32
MAX_HANDLE_CHARS = 64


class Step(StrEnum):
    """What a verified Google identity waits for in the console."""

    SIGNED_IN = "signed_in"  # its Google account is linked: nothing more to ask
    INVITED = "invited"  # an invitation to its address: accepted with nothing more to ask
    LINK = "link"  # its address has an account: the password, once, links them
    SIGNUP = "signup"  # a new address: the name of the organisation it creates


class Refusal(StrEnum):
    """A callback that opens nothing (the console shows why); OidcFailure's codes too."""

    BAD_STATE = "bad_state"  # no flow cookie, or not the state the provider sent back
    FLOW_EXPIRED = "flow_expired"  # unknown, already used, or older than the flow TTL
    DENIED = "denied"  # the person (or the provider) declined
    EMAIL_UNVERIFIED = "email_unverified"
    LINKED_ELSEWHERE = "linked_elsewhere"  # the address's account has another Google account
    INVITE_EMAIL_MISMATCH = "invite_email_mismatch"


class SignInRefused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Invitations(Protocol):
    """The team service's side of an invitation (services/team.py)."""

    signer: LinkSigner

    async def preview(self, token: str) -> dict[str, str]: ...

    async def accept_with(self, ref: LinkRef, name: str, password_hash: str,
                          address: str | None) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class Started:
    url: str  # the provider's authorization URL, to redirect to
    state: str  # for the browser's flow cookie


def _key(prefix: str, handle: str) -> str:
    # Redis holds a hash of the handle only: a read of Redis opens no flow
    return prefix + hashlib.sha256(handle.encode()).hexdigest()


def _handle(value: str | None) -> str | None:
    return value if value and len(value) <= MAX_HANDLE_CHARS else None


class GoogleSignIn:
    def __init__(self, db: Database, command: Command, client: OidcClient | None,
                 accounts: AccountService, audit: AuditLog, token_ttl_s: int,
                 flow_ttl_s: int, invitations: Invitations | None = None) -> None:
        self.db = db
        self.command = command
        self.client = client
        self.accounts = accounts
        self.audit = audit
        self.token_ttl = timedelta(seconds=token_ttl_s)
        self.flow_ttl_s = flow_ttl_s
        self.invitations = invitations

    @property
    def enabled(self) -> bool:
        return self.client is not None

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    # ---- the redirects ----------------------------------------------------------------

    async def start(self, invite: str | None = None) -> Started:
        """A new flow: its secrets kept here, the provider's URL to send the browser to.
        An invitation token is checked now, so a dead link fails before Google is asked."""
        assert self.client is not None
        if invite is not None:
            if self.invitations is None:
                raise AccountError(404, "not_found", "invitations are not available")
            await self.invitations.preview(invite)  # AccountError 400/410 when not usable
        state, nonce = secrets.token_urlsafe(_RANDOM_BYTES), secrets.token_urlsafe(_RANDOM_BYTES)
        verifier = secrets.token_urlsafe(48)  # 64 characters (RFC 7636: 43-128)
        url = await self.client.authorization_url(state, nonce, verifier)
        flow = {"nonce": nonce, "verifier": verifier, "invite": invite}
        await self.command("SET", _key("oidc:f:", state), json.dumps(flow),
                           "EX", self.flow_ttl_s)
        return Started(url, state)

    async def callback(self, state: str | None, cookie_state: str | None, code: str | None,
                       error: str | None) -> str:
        """The provider sent the browser back: check it is this browser's flow, spend the
        flow, verify the identity and decide what it opens. Answers the pending handle
        for the browser's cookie; SignInRefused (or OidcError) when it opens nothing."""
        assert self.client is not None
        state, cookie_state = _handle(state), _handle(cookie_state)
        # the cookie binds the flow to the browser that started it: a callback URL made
        # by someone else (login CSRF) carries a state this browser never had
        if not state or not cookie_state or not hmac.compare_digest(state, cookie_state):
            raise SignInRefused(Refusal.BAD_STATE)
        raw = await self.command("GETDEL", _key("oidc:f:", state))
        if raw is None:
            raise SignInRefused(Refusal.FLOW_EXPIRED)
        if error or not code or len(code) > 2048:
            raise SignInRefused(Refusal.DENIED)
        flow = json.loads(raw)
        identity = await self.client.identity(code, flow["verifier"], flow["nonce"])
        if not identity.email_verified:
            raise SignInRefused(Refusal.EMAIL_UNVERIFIED)
        pending = await self._decide(identity, flow.get("invite"))
        handle = secrets.token_urlsafe(_RANDOM_BYTES)
        await self.command("SET", _key("oidc:p:", handle), json.dumps(pending),
                           "EX", self.flow_ttl_s)
        return handle

    async def _decide(self, identity: Identity, invite: str | None) -> dict[str, Any]:
        base = {"sub": identity.subject, "email": identity.email, "name": identity.name}
        async with self.db.unscoped() as conn:
            user = await store.user_by_sub(conn, identity.subject)
            held = None if user else await store.sub_of_email(conn, identity.email)
        if user is not None:
            return base | {"step": Step.SIGNED_IN, "org": str(user.org_id),
                           "user": str(user.id), "email": user.email}
        if held is not None:
            holder, linked = held
            if linked is not None and linked != identity.subject:
                raise SignInRefused(Refusal.LINKED_ELSEWHERE)
            return base | {"step": Step.LINK, "org": str(holder.org_id),
                           "user": str(holder.id), "email": holder.email}
        if invite is not None and self.invitations is not None:
            invited = await self.invitations.preview(invite)
            # the link reached that mailbox; Google vouches for this one: they must agree
            if invited["email"].lower() != identity.email.lower():
                raise SignInRefused(Refusal.INVITE_EMAIL_MISMATCH)
            return base | {"step": Step.INVITED, "invite": invite,
                           "org_name": invited.get("org_name", "")}
        return base | {"step": Step.SIGNUP}

    # ---- the console's side -----------------------------------------------------------

    async def pending(self, handle: str | None) -> dict[str, str]:
        """What the console shows: the step and the address (never the sub)."""
        found = await self._pending(handle)
        out = {"step": found["step"], "email": found["email"], "name": found["name"]}
        if found["step"] == Step.INVITED:
            out["org_name"] = found.get("org_name", "")
        return out

    async def complete(self, handle: str | None, *, password: str | None,
                       org_name: str | None, address: str | None) -> dict[str, str]:
        """Finish the sign-in the handle names: the answer is a login's (a sign-up's for a
        new organisation). A refused password leaves it waiting, for another try."""
        found = await self._pending(handle)
        step, key = Step(found["step"]), _key("oidc:p:", handle or "")
        if step in (Step.SIGNED_IN, Step.INVITED):
            # spent before use: two tabs completing at once make one session
            if await self.command("GETDEL", key) is None:
                raise _nothing_pending()
            if step == Step.SIGNED_IN:
                return await self._sign_in(found, address)
            return await self._accept(found, address)
        if step == Step.LINK:
            if not password:
                raise AccountError(422, "bad_request", "password is required to link")
            out = await self.accounts.login(found["email"], password, address)
            await self._link(UUID(out["org_id"]), UUID(out["user_id"]), found["sub"],
                             address)
        else:
            if not org_name:
                raise AccountError(422, "bad_request", "org_name is required")
            out = await self._sign_up(found, org_name, address)
        await self.command("DEL", key)
        return out

    async def _pending(self, handle: str | None) -> dict[str, Any]:
        handle = _handle(handle)
        raw = await self.command("GET", _key("oidc:p:", handle)) if handle else None
        if raw is None:
            raise _nothing_pending()
        return json.loads(raw)

    async def _issue(self, conn: asyncpg.Connection, org_id: UUID, user_id: UUID) -> str:
        token = "ct_" + secrets.token_urlsafe(32)
        await accounts_store.insert_token(conn, hash_token(token), org_id, user_id,
                                          datetime.now(UTC) + self.token_ttl)
        return token

    async def _sign_in(self, found: dict[str, Any], address: str | None) -> dict[str, str]:
        org_id, user_id = UUID(found["org"]), UUID(found["user"])
        async with self.db.unit_of_work(org_id) as conn:
            user = await accounts_store.user_in_org(conn, org_id, user_id)
            if user is None:  # removed since the callback
                raise _nothing_pending()
            token = await self._issue(conn, org_id, user_id)
            await self.audit.record(conn, org_id, Actor.user(user_id, address),
                                    AuditAction.SIGN_IN, Target(TargetKind.USER, user_id))
        return {"token": token, "user_id": str(user_id), "org_id": str(org_id),
                "role": user.role}

    async def _accept(self, found: dict[str, Any], address: str | None) -> dict[str, str]:
        assert self.invitations is not None
        ref = self.invitations.signer.read(found["invite"], LinkKind.INVITE)
        if ref is None:
            raise AccountError(400, "invalid_token", "this invitation link is not valid")
        # no password: "" is no argon2 hash, so a password login fails until one is set
        # (a password reset sets one)
        out = await self.invitations.accept_with(ref, found["name"], "", address)
        await self._link(UUID(out["org_id"]), UUID(out["user_id"]), found["sub"], address)
        return out

    async def _link(self, org_id: UUID, user_id: UUID, sub: str,
                    address: str | None) -> None:
        try:
            async with self.db.unit_of_work(org_id) as conn:
                if await store.link(conn, org_id, user_id, sub):
                    await self.audit.record(conn, org_id, Actor.user(user_id, address),
                                            AuditAction.GOOGLE_LINKED,
                                            Target(TargetKind.USER, user_id))
        except asyncpg.UniqueViolationError:  # linked to another account meanwhile
            raise AccountError(409, "conflict",
                               "this Google account is linked to another account") from None

    async def _sign_up(self, found: dict[str, Any], org_name: str,
                       address: str | None) -> dict[str, str]:
        org_id, user_id = uuid4(), uuid4()
        site_key = "sk_" + secrets.token_urlsafe(18)
        try:
            async with self.db.unscoped() as conn:
                await accounts_store.insert_org(conn, org_id, org_name, site_key)
                await set_tenant(conn, org_id)
                if not await accounts_store.insert_user(conn, user_id, org_id, found["email"],
                                                        found["name"], Role.OWNER, ""):
                    raise AccountError(409, "conflict",
                                       "an account with this email already exists")
                await store.link(conn, org_id, user_id, found["sub"])
                await store.mark_verified(conn, org_id, user_id)
                token = await self._issue(conn, org_id, user_id)
                await self.audit.record(conn, org_id, Actor.user(user_id, address),
                                        AuditAction.ORG_CREATED, Target(TargetKind.ORG, org_id))
        except asyncpg.UniqueViolationError:  # this Google account signed up meanwhile
            raise AccountError(409, "conflict",
                               "this Google account already has an account") from None
        return {"org_id": str(org_id), "user_id": str(user_id), "site_key": site_key,
                "token": token, "role": Role.OWNER}


def _nothing_pending() -> AccountError:
    return AccountError(404, "not_found", "no Google sign-in is waiting; start again")


__all__ = ["GoogleSignIn", "OidcError", "Refusal", "SignInRefused", "Started", "Step"]
