"""Row-level security (migrations/0011): every tenant table has its policies (read from the
catalogue, so a new table without them fails here), and the serving role, with no org
named or with another org named, reads and writes nothing of an org's rows."""

from __future__ import annotations

import uuid
from uuid import UUID

import asyncpg
import pytest

from server.storage.db import Database, SystemJob

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Tables that are deliberately global (no org's data): name one here only with a reason.
GLOBAL_TABLES = {
    "schema_migrations": "which migrations ran; no org's data",
    "scheduled_jobs": "the periodic jobs' leases (services/scheduler.py): the platform's",
    "policy_versions": "the privacy policy's versions: one policy for the platform",
}
# the org column of a table whose rows are the orgs themselves
ORG_COLUMN = {"orgs": "id"}
TENANT_PREDICATES = ("clienta_tenant()", "current_setting('clienta.org_id'")


async def _tables(db: Database) -> dict[str, asyncpg.Record]:
    async with db.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
            " WHERE c.relnamespace = current_schema()::regnamespace"
            " AND c.relkind IN ('r', 'p') AND NOT c.relispartition")
    return {r["relname"]: r for r in rows}


async def _tenant_tables(db: Database) -> list[str]:
    return sorted(set(await _tables(db)) - set(GLOBAL_TABLES))


async def test_every_table_but_the_global_ones_has_forced_tenant_policies(db: Database):
    tables = await _tables(db)
    assert "events" in tables and "orgs" in tables  # the catalogue is read at all
    async with db.pool.acquire() as conn:
        policies = await conn.fetch(
            "SELECT tablename, policyname, permissive, roles, cmd, qual, with_check"
            " FROM pg_policies WHERE schemaname = current_schema()")
    missing = []
    for name, row in sorted(tables.items()):
        if name in GLOBAL_TABLES:
            continue
        if not (row["relrowsecurity"] and row["relforcerowsecurity"]):
            missing.append(f"{name}: row-level security not enabled and forced")
            continue
        column = ORG_COLUMN.get(name, "org_id")
        # a policy for everyone (or the serving role), for every command, holding reads
        # (USING) and writes (WITH CHECK) to the transaction's org
        tenant = [p for p in policies if p["tablename"] == name and p["permissive"] == "PERMISSIVE"
                  and p["cmd"] == "ALL"
                  and set(p["roles"]) & {"public", "clienta_serving"}
                  and all(p[k] and column in p[k] and any(t in p[k] for t in TENANT_PREDICATES)
                          for k in ("qual", "with_check"))]
        if not tenant:
            missing.append(f"{name}: no tenant policy (USING and WITH CHECK) on {column}")
        # no other permissive policy may widen what the serving role sees
        wider = [p["policyname"] for p in policies
                 if p["tablename"] == name and p["permissive"] == "PERMISSIVE"
                 and p not in tenant and set(p["roles"]) & {"public", "clienta_serving"}]
        if wider:
            missing.append(f"{name}: policies {wider} also admit the serving role")
    assert not missing, ("tables without row-level security; call "
                         "clienta_tenant_table('<table>') in the migration, or name a truly "
                         "global table in GLOBAL_TABLES:\n" + "\n".join(missing))


async def test_cross_tenant_functions_are_narrow_definers(db: Database):
    """Every function owned by clienta_system runs as it with a fixed search_path, and
    only the serving role may call it."""
    async with db.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT p.oid::regprocedure::text AS name, p.prosecdef, p.proconfig,"
            " has_function_privilege('public', p.oid, 'EXECUTE') AS public_may"
            " FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner"
            " WHERE r.rolname = 'clienta_system'")
    names = {r["name"].split("(")[0] for r in rows}
    assert {"clienta_append_events", "clienta_resume_events", "clienta_user_by_token",
            "clienta_take_due_wait_offers", "clienta_mail_claim"} <= names
    wrong = [r["name"] for r in rows
             if not r["prosecdef"] or r["public_may"]
             or not any(c.startswith("search_path=") for c in r["proconfig"] or [])]
    assert not wrong, f"call clienta_system_function() after (re)creating: {wrong}"


async def test_the_serving_role_is_held_and_may_not_rewrite_the_audit_log(
        db: Database, app_db: Database):
    assert app_db.rls is not None and not app_db.rls.bypassed, app_db.rls
    assert db.rls is not None and "superuser" in db.rls.reasons
    async with app_db.pool.acquire() as conn:
        grants = await conn.fetchrow(
            "SELECT has_table_privilege('audit_log', 'UPDATE') AS upd,"
            " has_table_privilege('audit_log', 'DELETE') AS del,"
            " has_table_privilege('audit_log', 'INSERT') AS ins")
    assert (grants["upd"], grants["del"], grants["ins"]) == (False, False, True)


async def _seed(db: Database, org_id: UUID) -> UUID:
    """An org with a user, a token, a visitor, a conversation, a message and a canned
    response, written by the owner (whom the policies do not hold here)."""
    user, visitor, conv = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO orgs (id, name, site_key) VALUES ($1, 'rls', $2)",
                           org_id, f"sk_rls_{org_id.hex}")
        await conn.execute(
            "INSERT INTO users (id, org_id, email, role, password_hash)"
            " VALUES ($1, $2, $3, 'owner', 'x')", user, org_id, f"rls-{org_id.hex}@example.com")
        await conn.execute(
            "INSERT INTO auth_tokens (token_hash, org_id, user_id, expires_at)"
            " VALUES ($1, $2, $3, now() + interval '1 hour')", org_id.bytes, org_id, user)
        await conn.execute("INSERT INTO visitors (id, org_id) VALUES ($1, $2)", visitor, org_id)
        await conn.execute(
            "INSERT INTO conversations (id, org_id, visitor_id, last_seq) VALUES ($1, $2, $3, 1)",
            conv, org_id, visitor)
        await conn.execute(
            "INSERT INTO events (org_id, conversation_id, seq, kind, author_role, body)"
            " VALUES ($1, $2, 1, 'msg', 'visitor', 'hello')", org_id, conv)
        await conn.execute(
            "INSERT INTO canned_responses (id, org_id, shortcut, text) VALUES ($1, $2, 'hi', 'x')",
            uuid.uuid4(), org_id)
        await conn.execute(
            "INSERT INTO audit_log (org_id, actor_kind, action) VALUES ($1, 'system', 'test')",
            org_id)
    return conv


@pytest.fixture
async def two_orgs(db: Database) -> tuple[UUID, UUID, UUID, UUID]:
    a, b = uuid.uuid4(), uuid.uuid4()
    return a, await _seed(db, a), b, await _seed(db, b)


async def _counts(conn: asyncpg.Connection, tables: list[str],
                  org: UUID | None = None) -> dict[str, int]:
    """Rows of each table as the connection sees them; with `org`, only that org's."""
    out = {}
    for t in tables:
        where = f" WHERE {ORG_COLUMN.get(t, 'org_id')} = $1" if org else ""
        out[t] = await conn.fetchval(f'SELECT count(*) FROM "{t}"{where}',
                                     *((org,) if org else ()))
    return out


async def test_no_org_named_reads_nothing_and_writes_nothing(db, app_db, two_orgs):
    a, conv_a, _, _ = two_orgs
    tables = await _tenant_tables(db)
    async with app_db.unscoped() as conn:
        seen = await _counts(conn, tables)
    assert seen == dict.fromkeys(tables, 0)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with app_db.unscoped() as conn:
            await conn.execute("INSERT INTO visitors (id, org_id) VALUES ($1, $2)",
                               uuid.uuid4(), a)
    async with app_db.unscoped() as conn:
        assert await conn.execute("UPDATE conversations SET tags = '{x}'") == "UPDATE 0"
        assert await conn.execute("DELETE FROM events") == "DELETE 0"
    async with db.pool.acquire() as conn:  # the owner still finds everything as it was
        assert await conn.fetchval("SELECT tags FROM conversations WHERE id = $1",
                                   conv_a) == []
        assert await conn.fetchval("SELECT count(*) FROM events WHERE conversation_id = $1",
                                   conv_a) == 1


async def test_another_orgs_rows_are_out_of_reach_of_an_unscoped_query(db, app_db, two_orgs):
    """Org A's unit of work, queries that forget their org predicate (or name B's rows):
    they see exactly A's rows, change none of B's, and cannot store a row for B."""
    a, _, b, conv_b = two_orgs
    tables = await _tenant_tables(db)
    async with db.pool.acquire() as conn:
        a_only = await _counts(conn, tables, a)
    async with app_db.unit_of_work(a) as conn:
        assert await _counts(conn, tables) == a_only
        assert await conn.fetchval("SELECT count(*) FROM events WHERE conversation_id = $1",
                                   conv_b) == 0
        assert await conn.execute(
            "UPDATE conversations SET mode = 'closed' WHERE id = $1", conv_b) == "UPDATE 0"
        assert await conn.execute("DELETE FROM events WHERE org_id = $1", b) == "DELETE 0"
        assert await conn.execute("DELETE FROM canned_responses WHERE org_id <> $1",
                                  a) == "DELETE 0"
        # a row of A cannot be moved into B either
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE canned_responses SET org_id = $1", b)
    for statement, args in (
        ("INSERT INTO events (org_id, conversation_id, seq, kind, author_role, body)"
         " VALUES ($1, $2, 2, 'msg', 'visitor', 'injected')", (b, conv_b)),
        ("INSERT INTO canned_responses (id, org_id, shortcut, text)"
         " VALUES ($1, $2, 'x', 'x')", (uuid.uuid4(), b)),
        ("INSERT INTO audit_log (org_id, actor_kind, action) VALUES ($1, 'system', 'x')", (b,)),
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with app_db.unit_of_work(a) as conn:
                await conn.execute(statement, *args)
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT mode FROM conversations WHERE id = $1",
                                   conv_b) == "bot"
        assert await conn.fetchval("SELECT count(*) FROM events WHERE org_id = $1", b) == 1
        assert await conn.fetchval("SELECT count(*) FROM canned_responses WHERE org_id = $1",
                                   b) == 1
        assert await conn.fetchval("SELECT count(*) FROM canned_responses WHERE org_id = $1",
                                   a) == 1


async def test_cross_tenant_jobs_run_only_as_named_system_jobs(app_db, two_orgs):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with app_db.unscoped() as conn:
            await conn.fetch("SELECT * FROM clienta_take_due_wait_offers(0, 10)")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with app_db.unit_of_work(two_orgs[0]) as conn:
            await conn.fetchval("SELECT clienta_delete_expired_tokens()")
    async with app_db.system(SystemJob.TOKEN_PURGE) as conn:
        assert await conn.fetchval("SELECT clienta_delete_expired_tokens()") >= 0
        # the job's name opens its functions, not the tables
        assert await conn.fetchval("SELECT count(*) FROM conversations") == 0
