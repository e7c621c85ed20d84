"""Organisations, users and bearer tokens (stored only as SHA-256 hashes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg

from server.domain.org_settings import OrgPrefs
from server.storage.db import set_tenant
from server.storage.org_settings import PREF_COLS, prefs_of


@dataclass(frozen=True, slots=True)
class Org:
    id: UUID
    name: str
    site_key: str
    allowed_origins: list[str]
    assignment: str
    agent_capacity: int
    # the look, keywords, limits and hours (migration 0020)
    prefs: OrgPrefs = field(default_factory=OrgPrefs)


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    org_id: UUID
    email: str
    name: str
    role: str
    password_hash: str = ""


def _org(row: asyncpg.Record) -> Org:
    return Org(row["id"], row["name"], row["site_key"], list(row["allowed_origins"]),
               row["assignment"], row["agent_capacity"], prefs_of(row))


def _user(row: asyncpg.Record) -> User:
    return User(row["id"], row["org_id"], row["email"], row["name"], row["role"],
                row["password_hash"])


_ORG_COLS = "id, name, site_key, allowed_origins, assignment, agent_capacity, " + PREF_COLS
_USER_COLS = "id, org_id, email, name, role, password_hash"


async def insert_org(conn: asyncpg.Connection, org_id: UUID, name: str, site_key: str) -> None:
    """A new org, and its id named as the transaction's tenant first: row-level security
    takes the org's row (and the rest of the sign-up) only in its own org."""
    await set_tenant(conn, org_id)
    await conn.execute(
        "INSERT INTO orgs (id, name, site_key) VALUES ($1, $2, $3)", org_id, name, site_key
    )


# The lookups that find the org (site key, email, token) run before any tenant is known:
# SECURITY DEFINER functions (migrations/0011), the only reads across orgs.
async def org_by_site_key(conn: asyncpg.Connection, site_key: str) -> Org | None:
    row = await conn.fetchrow(
        f"SELECT {_ORG_COLS} FROM clienta_org_by_site_key($1)", site_key)
    return _org(row) if row else None


async def org_by_id(conn: asyncpg.Connection, org_id: UUID) -> Org | None:
    row = await conn.fetchrow(f"SELECT {_ORG_COLS} FROM orgs WHERE id = $1", org_id)
    return _org(row) if row else None


async def update_org_settings(
    conn: asyncpg.Connection, org_id: UUID, *, allowed_origins: list[str] | None = None,
    assignment: str | None = None, agent_capacity: int | None = None,
) -> None:
    await conn.execute(
        "UPDATE orgs SET allowed_origins = coalesce($2, allowed_origins),"
        " assignment = coalesce($3, assignment), agent_capacity = coalesce($4, agent_capacity)"
        " WHERE id = $1",
        org_id, allowed_origins, assignment, agent_capacity,
    )


async def insert_user(
    conn: asyncpg.Connection, user_id: UUID, org_id: UUID, email: str, name: str, role: str,
    password_hash: str,
) -> bool:
    """False when the email is taken (emails are unique product-wide)."""
    status = await conn.execute(
        "INSERT INTO users (id, org_id, email, name, role, password_hash)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        user_id, org_id, email, name, role, password_hash,
    )
    return status.endswith(" 1")


async def user_by_email(conn: asyncpg.Connection, email: str) -> User | None:
    row = await conn.fetchrow(f"SELECT {_USER_COLS} FROM clienta_user_by_email($1)", email)
    return _user(row) if row else None


async def user_in_org(conn: asyncpg.Connection, org_id: UUID, user_id: UUID) -> User | None:
    row = await conn.fetchrow(
        f"SELECT {_USER_COLS} FROM users WHERE org_id = $1 AND id = $2", org_id, user_id
    )
    return _user(row) if row else None


async def update_password_hash(conn: asyncpg.Connection, org_id: UUID, user_id: UUID,
                               password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = $3 WHERE org_id = $1 AND id = $2",
                       org_id, user_id, password_hash)


async def insert_token(conn: asyncpg.Connection, token_hash: bytes, org_id: UUID,
                       user_id: UUID, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO auth_tokens (token_hash, org_id, user_id, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        token_hash, org_id, user_id, expires_at,
    )
    # a sign-in is activity: the members list shows it (never updated per request)
    await conn.execute("UPDATE users SET last_active_at = now() WHERE org_id = $1 AND id = $2",
                       org_id, user_id)


async def user_by_token(conn: asyncpg.Connection, token_hash: bytes) -> User | None:
    row = await conn.fetchrow(
        "SELECT id, org_id, email, name, role, '' AS password_hash"
        " FROM clienta_user_by_token($1)", token_hash)
    return _user(row) if row else None


async def delete_expired_tokens(conn: asyncpg.Connection) -> int:
    """Every org's expired tokens: only inside Database.system (a system job)."""
    return await conn.fetchval("SELECT clienta_delete_expired_tokens()")
