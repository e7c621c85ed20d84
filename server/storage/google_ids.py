"""The Google account linked to a user (users.google_sub, migrations/0014)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from server.storage.accounts import User

_USER_COLS = "id, org_id, email, name, role, password_hash"


async def user_by_sub(conn: asyncpg.Connection, sub: str) -> User | None:
    """Across orgs (a SECURITY DEFINER function): a returning sign-in names no org yet."""
    row = await conn.fetchrow(
        f"SELECT {_USER_COLS} FROM clienta_user_by_google_sub($1)", sub)
    return User(*row.values()) if row else None


async def sub_of_email(conn: asyncpg.Connection, email: str) -> tuple[User, str | None] | None:
    """The account holding this address (any org), and the sub already linked to it."""
    row = await conn.fetchrow(
        f"SELECT {_USER_COLS}, google_sub FROM clienta_user_by_email($1)", email)
    if row is None:
        return None
    values = list(row.values())
    return User(*values[:-1]), values[-1]


async def link(conn: asyncpg.Connection, org_id: UUID, user_id: UUID, sub: str) -> bool:
    """Link a Google account to a user that has none; False when one is already linked.
    A sub linked elsewhere raises UniqueViolationError (one user per sub)."""
    status = await conn.execute(
        "UPDATE users SET google_sub = $3 WHERE org_id = $1 AND id = $2 AND google_sub IS NULL",
        org_id, user_id, sub)
    return status == "UPDATE 1"


async def mark_verified(conn: asyncpg.Connection, org_id: UUID, user_id: UUID) -> None:
    """The provider vouched for the address (email_verified): no mail needed to prove it."""
    await conn.execute(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, now())"
        " WHERE org_id = $1 AND id = $2", org_id, user_id)
