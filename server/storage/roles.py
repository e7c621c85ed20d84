"""Database roles: the login the server serves as (created in embedded mode), and whether
row-level security holds it (a superuser, a BYPASSRLS role or a table owner it is not)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

# migrations/0011 creates both; the serving login is a member of the first only
SERVING_GROUP = "clienta_serving"
SYSTEM_ROLE = "clienta_system"
EMBEDDED_LOGIN = "clienta_server"


@dataclass(frozen=True, slots=True)
class RlsPosture:
    role: str
    # why the role is not held by the policies: superuser, bypassrls, owner, system;
    # empty when it is
    reasons: tuple[str, ...]

    @property
    def bypassed(self) -> bool:
        return bool(self.reasons)


async def rls_posture(conn: asyncpg.Connection) -> RlsPosture:
    """What the connection's role could do past the policies. An owner can switch them
    off (ALTER TABLE), and a member of clienta_system passes them."""
    row = await conn.fetchrow(
        "SELECT current_user AS role, r.rolsuper, r.rolbypassrls,"
        " EXISTS (SELECT 1 FROM pg_class c"
        "         WHERE c.relnamespace = current_schema()::regnamespace"
        "           AND c.relkind = 'r' AND pg_has_role(current_user, c.relowner, 'MEMBER'))"
        "   AS owner,"
        " EXISTS (SELECT 1 FROM pg_roles s WHERE s.rolname = $1"
        "         AND pg_has_role(current_user, s.oid, 'MEMBER')) AS system"
        " FROM pg_roles r WHERE r.rolname = current_user",
        SYSTEM_ROLE)
    assert row is not None  # current_user is always a row of pg_roles
    reasons = tuple(name for name, key in (("superuser", "rolsuper"),
                                           ("bypassrls", "rolbypassrls"),
                                           ("owner", "owner"), ("system", "system"))
                    if row[key])
    return RlsPosture(row["role"], reasons)


async def ensure_serving_login(owner_url: str, login: str, password: str) -> None:
    """Create (or re-password) the login the server serves as: no superuser, no
    BYPASSRLS, owns nothing, a member of clienta_serving only. Run as the owner; the
    group is created here too when migrations have not run yet (0011 then keeps it)."""
    conn = await asyncpg.connect(owner_url, statement_cache_size=0)
    try:
        async with conn.transaction():
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1",
                                       SERVING_GROUP):
                await conn.execute(f"CREATE ROLE {SERVING_GROUP} NOLOGIN NOSUPERUSER"
                                   " NOBYPASSRLS")
            verb = "ALTER" if await conn.fetchval(
                "SELECT 1 FROM pg_roles WHERE rolname = $1", login) else "CREATE"
            # DDL takes no parameters: format() quotes the name and the password
            statement = await conn.fetchval(
                "SELECT format('%s ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB"
                " NOCREATEROLE INHERIT PASSWORD %L', $1::text, $2::text, $3::text)",
                verb, login, password)
            await conn.execute(statement)
            await conn.execute(
                await conn.fetchval("SELECT format('GRANT %I TO %I', $1::text, $2::text)",
                                    SERVING_GROUP, login))
    finally:
        await conn.close()


def login_url(url: str, login: str, password: str) -> str:
    """`url` with its user and password replaced (host, port, database and options kept)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(login, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
