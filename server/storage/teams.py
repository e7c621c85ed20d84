"""A team's members, its invitations and the one-time links mailed to users (only token
hashes stored), and revoking a user's bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg


@dataclass(frozen=True, slots=True)
class Member:
    id: UUID
    email: str
    name: str
    role: str
    locale: str
    last_active_at: datetime | None
    email_verified: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Invite:
    id: UUID
    org_id: UUID
    email: str
    role: str
    locale: str
    token_hash: bytes
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class UserLink:
    id: UUID
    org_id: UUID
    user_id: UUID
    purpose: str
    token_hash: bytes
    expires_at: datetime
    used_at: datetime | None


_MEMBER_COLS = ("id, email, name, role, locale, last_active_at,"
                " email_verified_at IS NOT NULL AS email_verified, created_at")
_INVITE_COLS = ("id, org_id, email, role, locale, token_hash, created_at, expires_at,"
                " accepted_at, revoked_at")


def _member(row: asyncpg.Record) -> Member:
    return Member(row["id"], row["email"], row["name"], row["role"], row["locale"],
                  row["last_active_at"], row["email_verified"], row["created_at"])


def _invite(row: asyncpg.Record) -> Invite:
    return Invite(*(row[k] for k in ("id", "org_id", "email", "role", "locale", "token_hash",
                                     "created_at", "expires_at", "accepted_at", "revoked_at")))


# ---- members --------------------------------------------------------------------------

async def members(conn: asyncpg.Connection, org_id: UUID,
                  after: tuple[datetime, UUID] | None, limit: int) -> list[Member]:
    """Oldest first, keyset by (created_at, id)."""
    at, ident = after if after is not None else (None, None)
    rows = await conn.fetch(
        f"SELECT {_MEMBER_COLS} FROM users WHERE org_id = $1"
        " AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))"
        " ORDER BY created_at, id LIMIT $4", org_id, at, ident, limit)
    return [_member(r) for r in rows]


async def member(conn: asyncpg.Connection, org_id: UUID, user_id: UUID) -> Member | None:
    row = await conn.fetchrow(f"SELECT {_MEMBER_COLS} FROM users WHERE org_id = $1 AND id = $2",
                              org_id, user_id)
    return _member(row) if row else None


async def lock_owners(conn: asyncpg.Connection, org_id: UUID) -> list[UUID]:
    """The org's owners, locked until the transaction ends: two changes that could each
    remove the last owner run one after the other, the second seeing the first's result."""
    rows = await conn.fetch("SELECT id FROM users WHERE org_id = $1 AND role = 'owner'"
                            " ORDER BY id FOR UPDATE", org_id)
    return [r["id"] for r in rows]


async def update_member(conn: asyncpg.Connection, org_id: UUID, user_id: UUID, *,
                        role: str | None, name: str | None, locale: str | None) -> None:
    await conn.execute(
        "UPDATE users SET role = coalesce($3, role), name = coalesce($4, name),"
        " locale = coalesce($5, locale) WHERE org_id = $1 AND id = $2",
        org_id, user_id, role, name, locale)


async def delete_member(conn: asyncpg.Connection, org_id: UUID, user_id: UUID) -> bool:
    """Their bearer tokens and links go with them (ON DELETE CASCADE)."""
    status = await conn.execute("DELETE FROM users WHERE org_id = $1 AND id = $2",
                                org_id, user_id)
    return status == "DELETE 1"


async def owners(conn: asyncpg.Connection, org_id: UUID) -> list[tuple[str, str]]:
    """(email, locale) of each owner: who gets a security alert."""
    rows = await conn.fetch("SELECT email, locale FROM users WHERE org_id = $1"
                            " AND role = 'owner' ORDER BY created_at", org_id)
    return [(r["email"], r["locale"]) for r in rows]


async def touch_by_token(conn: asyncpg.Connection, org_id: UUID,
                         token_hash: bytes) -> tuple[str, str] | None:
    """Mark the token's user active now; their (role, name) if the token still opens the
    account, None if it was revoked or expired meanwhile."""
    row = await conn.fetchrow(
        "UPDATE users u SET last_active_at = now() FROM auth_tokens t"
        " WHERE t.token_hash = $2 AND t.org_id = $1 AND t.expires_at > now()"
        " AND u.id = t.user_id AND u.org_id = $1 RETURNING u.role, u.name", org_id, token_hash)
    return (row["role"], row["name"]) if row else None


async def set_password(conn: asyncpg.Connection, org_id: UUID, user_id: UUID,
                       password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = $3 WHERE org_id = $1 AND id = $2",
                       org_id, user_id, password_hash)


async def mark_verified(conn: asyncpg.Connection, org_id: UUID, user_id: UUID) -> None:
    await conn.execute("UPDATE users SET email_verified_at = coalesce(email_verified_at, now())"
                       " WHERE org_id = $1 AND id = $2", org_id, user_id)


async def delete_token(conn: asyncpg.Connection, org_id: UUID, token_hash: bytes) -> bool:
    status = await conn.execute("DELETE FROM auth_tokens WHERE org_id = $1 AND token_hash = $2",
                                org_id, token_hash)
    return status == "DELETE 1"


async def delete_tokens_of(conn: asyncpg.Connection, org_id: UUID, user_id: UUID) -> int:
    status = await conn.execute("DELETE FROM auth_tokens WHERE org_id = $1 AND user_id = $2",
                                org_id, user_id)
    return int(status.rsplit(" ", 1)[1])


# ---- invites --------------------------------------------------------------------------

async def insert_invite(conn: asyncpg.Connection, invite_id: UUID, org_id: UUID, email: str,
                        role: str, locale: str, token_hash: bytes, invited_by: UUID,
                        expires_at: datetime) -> None:
    """Replaces a pending invite of the same address (it is revoked first)."""
    await conn.execute(
        "UPDATE invites SET revoked_at = now() WHERE org_id = $1 AND lower(email) = lower($2)"
        " AND accepted_at IS NULL AND revoked_at IS NULL", org_id, email)
    await conn.execute(
        "INSERT INTO invites (id, org_id, email, role, locale, token_hash, invited_by,"
        " expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        invite_id, org_id, email, role, locale, token_hash, invited_by, expires_at)


async def invite(conn: asyncpg.Connection, org_id: UUID, invite_id: UUID, *,
                 lock: bool = False) -> Invite | None:
    row = await conn.fetchrow(
        f"SELECT {_INVITE_COLS} FROM invites WHERE org_id = $1 AND id = $2"
        + (" FOR UPDATE" if lock else ""), org_id, invite_id)
    return _invite(row) if row else None


async def pending_invites(conn: asyncpg.Connection, org_id: UUID,
                          after: tuple[datetime, UUID] | None, limit: int) -> list[Invite]:
    """Not accepted nor revoked (expired ones included: they can be resent)."""
    at, ident = after if after is not None else (None, None)
    rows = await conn.fetch(
        f"SELECT {_INVITE_COLS} FROM invites WHERE org_id = $1"
        " AND accepted_at IS NULL AND revoked_at IS NULL"
        " AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))"
        " ORDER BY created_at, id LIMIT $4", org_id, at, ident, limit)
    return [_invite(r) for r in rows]


async def renew_invite(conn: asyncpg.Connection, org_id: UUID, invite_id: UUID,
                       token_hash: bytes, expires_at: datetime) -> None:
    """A resent invite gets a new token: the old link stops working."""
    await conn.execute("UPDATE invites SET token_hash = $3, expires_at = $4"
                       " WHERE org_id = $1 AND id = $2", org_id, invite_id, token_hash,
                       expires_at)


async def revoke_invite(conn: asyncpg.Connection, org_id: UUID, invite_id: UUID) -> bool:
    status = await conn.execute(
        "UPDATE invites SET revoked_at = now() WHERE org_id = $1 AND id = $2"
        " AND accepted_at IS NULL AND revoked_at IS NULL", org_id, invite_id)
    return status == "UPDATE 1"


async def accept_invite(conn: asyncpg.Connection, org_id: UUID, invite_id: UUID,
                        user_id: UUID) -> None:
    await conn.execute("UPDATE invites SET accepted_at = now(), accepted_user = $3"
                       " WHERE org_id = $1 AND id = $2", org_id, invite_id, user_id)


# ---- one-time links -------------------------------------------------------------------

async def insert_link(conn: asyncpg.Connection, link_id: UUID, org_id: UUID, user_id: UUID,
                      purpose: str, token_hash: bytes, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO user_links (id, org_id, user_id, purpose, token_hash, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        link_id, org_id, user_id, purpose, token_hash, expires_at)


async def link(conn: asyncpg.Connection, org_id: UUID, link_id: UUID) -> UserLink | None:
    """Locked: of two uses at once, the second waits and then sees the first's mark."""
    row = await conn.fetchrow(
        "SELECT id, org_id, user_id, purpose, token_hash, expires_at, used_at FROM user_links"
        " WHERE org_id = $1 AND id = $2 FOR UPDATE", org_id, link_id)
    return UserLink(*row.values()) if row else None


async def use_links(conn: asyncpg.Connection, org_id: UUID, user_id: UUID,
                    purpose: str) -> None:
    """Spend every open link of this purpose: one reset also voids the older ones."""
    await conn.execute("UPDATE user_links SET used_at = now() WHERE org_id = $1"
                       " AND user_id = $2 AND purpose = $3 AND used_at IS NULL",
                       org_id, user_id, purpose)


async def delete_spent(conn: asyncpg.Connection, older_than: datetime) -> int:
    """Every org's links and invites over (expired, used, revoked or accepted) before
    `older_than`: only inside Database.system (a system job)."""
    return await conn.fetchval("SELECT clienta_delete_spent_links($1)", older_than)
