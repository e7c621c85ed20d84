-- Row-level security: a tenant table shows and takes only the rows of the org its
-- transaction names in `clienta.org_id` (Database.unit_of_work sets it); a transaction
-- that names none sees no rows and can write none (fail closed).
--
-- Roles (cluster-wide, so created only where missing; an operator whose migrating role
-- may not CREATE ROLE creates both beforehand, as README says):
--   clienta_serving  NOLOGIN: the privileges the server needs. The server logs in as a
--                    member of it that is neither superuser, BYPASSRLS nor an owner
--                    (embedded mode: clienta_server).
--   clienta_system   NOLOGIN: owns the SECURITY DEFINER functions below, the only ways
--                    across orgs; its policy on each table admits every row. Nobody logs
--                    in as it and the serving role is not a member of it.
-- Tables and migrations stay the migrating role's (the owner). Tables FORCE row-level
-- security, so even the owner is held by the policies unless it is a superuser.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clienta_serving') THEN
        BEGIN
            CREATE ROLE clienta_serving NOLOGIN NOSUPERUSER NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object THEN NULL;  -- another database's migration won
        END;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clienta_system') THEN
        BEGIN
            CREATE ROLE clienta_system NOLOGIN NOSUPERUSER NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object THEN NULL;
        END;
    END IF;
    -- the owner hands functions to clienta_system (and later migrations replace them)
    IF NOT pg_has_role(current_user, 'clienta_system', 'MEMBER') THEN
        EXECUTE format('GRANT clienta_system TO %I', current_user);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO clienta_serving, clienta_system',
                   current_schema());
END
$$;

-- The org a transaction works for; NULL (so no row matches) when none is named.
CREATE FUNCTION clienta_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('clienta.org_id', true), '')::uuid $$;

-- THE PATTERN for every tenant table, this migration's and any later one's:
--     SELECT clienta_tenant_table('my_table');            -- rows carry org_id
--     SELECT clienta_tenant_table('orgs', 'id');          -- the row is the org
-- RLS enabled and forced, a `tenant` policy (USING and WITH CHECK on clienta_tenant()),
-- a `system` policy for clienta_system, and the serving privileges. A table that is
-- deliberately global is named in tests/storage/test_rls.py's allow-list instead.
CREATE FUNCTION clienta_tenant_table(t regclass, org_column name DEFAULT 'org_id')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('DROP POLICY IF EXISTS tenant ON %s', t);
    EXECUTE format('CREATE POLICY tenant ON %s USING (%I = clienta_tenant())'
                   ' WITH CHECK (%I = clienta_tenant())', t, org_column, org_column);
    EXECUTE format('DROP POLICY IF EXISTS system ON %s', t);
    EXECUTE format('CREATE POLICY system ON %s TO clienta_system USING (true)'
                   ' WITH CHECK (true)', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s'
                   ' TO clienta_serving, clienta_system', t);
END
$$;
REVOKE ALL ON FUNCTION clienta_tenant_table(regclass, name) FROM PUBLIC;

-- THE PATTERN for a function that must cross orgs (after each CREATE OR REPLACE too,
-- which resets SECURITY DEFINER and SET):
--     SELECT clienta_system_function('my_function(uuid[], text)');
-- It runs as clienta_system with a fixed search_path; only clienta_serving may call it.
-- A system job's function starts with PERFORM clienta_system_job().
CREATE FUNCTION clienta_system_function(f regprocedure) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER', f);
    EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO clienta_serving', f);
    EXECUTE format('ALTER FUNCTION %s OWNER TO clienta_system', f);
END
$$;
REVOKE ALL ON FUNCTION clienta_system_function(regprocedure) FROM PUBLIC;

-- The name of the system job this transaction runs (Database.system sets it); a
-- cross-tenant job's function refuses to run on a plain connection.
CREATE FUNCTION clienta_system_job() RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    job text := NULLIF(current_setting('clienta.system_job', true), '');
BEGIN
    IF job IS NULL THEN
        RAISE EXCEPTION 'cross-tenant work runs only inside a named system job'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN job;
END
$$;

SELECT clienta_tenant_table('orgs', 'id');
SELECT clienta_tenant_table(t) FROM unnest(ARRAY[
    'users', 'auth_tokens', 'visitors', 'conversations', 'events', 'kb_documents',
    'kb_chunks', 'kb_unanswered', 'canned_responses', 'mail_outbox', 'audit_log'
]::regclass[]) AS t;

-- append-only for the server too: no UPDATE or DELETE granted (the trigger of 0010 holds
-- for everyone else)
REVOKE UPDATE, DELETE ON audit_log FROM clienta_serving, clienta_system;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO clienta_serving;
-- a starting server checks what is applied
GRANT SELECT ON schema_migrations TO clienta_serving;

-- Grouped appends serve callers of several orgs in one statement: each row's org is in
-- every predicate (0007/0008), and the function runs as clienta_system, whose policy
-- admits the rows of all of them.
SELECT clienta_system_function(
    'clienta_append_events(uuid[], uuid[], text[], text[], text[], uuid[], text[], text[],'
    ' text[], jsonb[], jsonb[], uuid[])');

-- Returning visitors' grouped reads (services/resume_reads.py): ask i's answer under i,
-- each scoped by the ask's own org.
CREATE FUNCTION clienta_resume_conversations(p_org uuid[], p_visitor uuid[],
                                             p_requested uuid[])
RETURNS TABLE (i bigint, c conversations) LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT a.n, x.r
    FROM unnest(p_org, p_visitor, p_requested) WITH ORDINALITY AS a(org, visitor, requested, n)
    CROSS JOIN LATERAL (
        SELECT cv AS r FROM conversations cv
        WHERE cv.org_id = a.org AND cv.visitor_id = a.visitor
        ORDER BY coalesce(cv.id = a.requested, false) DESC, cv.created_at DESC LIMIT 1
    ) x;
END
$$;
SELECT clienta_system_function('clienta_resume_conversations(uuid[], uuid[], uuid[])');

CREATE FUNCTION clienta_resume_events(p_org uuid[], p_conversation uuid[],
                                      p_last_seq bigint[], p_kinds text[], p_limit int)
RETURNS TABLE (i bigint, e events) LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT a.n, x.r
    FROM unnest(p_org, p_conversation, p_last_seq) WITH ORDINALITY AS a(org, conv, last_seq, n)
    CROSS JOIN LATERAL (
        SELECT ev AS r, ev.seq FROM events ev
        WHERE ev.org_id = a.org AND ev.conversation_id = a.conv AND ev.seq > a.last_seq
          AND ev.kind = ANY (p_kinds)
        ORDER BY ev.seq LIMIT p_limit
    ) x
    ORDER BY a.n, x.seq;
END
$$;
SELECT clienta_system_function(
    'clienta_resume_events(uuid[], uuid[], bigint[], text[], int)');

-- Lookups that find the org: a visitor's site key, a login's email, a bearer token.
CREATE FUNCTION clienta_org_by_site_key(p_site_key text) RETURNS SETOF orgs
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT * FROM orgs o WHERE o.site_key = p_site_key;
END
$$;
SELECT clienta_system_function('clienta_org_by_site_key(text)');

CREATE FUNCTION clienta_user_by_email(p_email text) RETURNS SETOF users
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT * FROM users u WHERE lower(u.email) = lower(p_email);
END
$$;
SELECT clienta_system_function('clienta_user_by_email(text)');

CREATE FUNCTION clienta_user_by_token(p_token_hash bytea) RETURNS SETOF users
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT u.* FROM auth_tokens t JOIN users u ON u.id = t.user_id AND u.org_id = t.org_id
    WHERE t.token_hash = p_token_hash AND t.expires_at > now();
END
$$;
SELECT clienta_system_function('clienta_user_by_token(bytea)');

-- System jobs (Database.system): each refuses to run outside one.
CREATE FUNCTION clienta_take_due_wait_offers(p_older_than_s double precision, p_limit int)
RETURNS TABLE (org_id uuid, id uuid) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM clienta_system_job();
    RETURN QUERY
    UPDATE conversations c SET wait_offered_at = now() WHERE c.id IN (
        SELECT q.id FROM conversations q
        WHERE q.mode = 'queued' AND q.wait_offered_at IS NULL
          AND q.queued_at < now() - make_interval(secs => p_older_than_s)
        LIMIT p_limit FOR UPDATE SKIP LOCKED)
    RETURNING c.org_id, c.id;
END
$$;
SELECT clienta_system_function('clienta_take_due_wait_offers(double precision, int)');

CREATE FUNCTION clienta_delete_expired_tokens() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM clienta_system_job();
    DELETE FROM auth_tokens WHERE expires_at <= now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
SELECT clienta_system_function('clienta_delete_expired_tokens()');

CREATE FUNCTION clienta_kb_fail_interrupted(p_older_than_s double precision) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM clienta_system_job();
    UPDATE kb_documents SET status = 'failed', error = 'processing was interrupted',
           updated_at = now()
    WHERE status = 'processing' AND updated_at < now() - make_interval(secs => p_older_than_s);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
SELECT clienta_system_function('clienta_kb_fail_interrupted(double precision)');

CREATE FUNCTION clienta_kb_stale_orgs(p_model text) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM clienta_system_job();
    RETURN QUERY SELECT DISTINCT k.org_id FROM kb_chunks k WHERE k.embed_model <> p_model;
END
$$;
SELECT clienta_system_function('clienta_kb_stale_orgs(text)');

CREATE FUNCTION clienta_mail_claim(p_now timestamptz, p_until timestamptz, p_limit int,
                                   p_token uuid) RETURNS SETOF mail_outbox
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM clienta_system_job();
    RETURN QUERY
    WITH due AS (
        SELECT d.id FROM mail_outbox d
        WHERE d.status = 'pending' AND d.next_attempt_at <= p_now
          AND (d.lease_until IS NULL OR d.lease_until <= p_now)
        ORDER BY d.next_attempt_at LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE mail_outbox m SET attempts = m.attempts + 1, lease_token = p_token,
                             lease_until = p_until
    FROM due WHERE m.id = due.id
    RETURNING m.*;
END
$$;
SELECT clienta_system_function('clienta_mail_claim(timestamptz, timestamptz, int, uuid)');

CREATE FUNCTION clienta_mail_purge(p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM clienta_system_job();
    DELETE FROM mail_outbox WHERE status <> 'pending' AND finished_at < p_before;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
SELECT clienta_system_function('clienta_mail_purge(timestamptz)');

-- An HNSW index for an embedder's dimension, made at start-up: CREATE INDEX needs the
-- table's owner, so this one runs as the owner (this migration's role), not as
-- clienta_system; the dimension is an int, so the DDL is safe to build.
CREATE FUNCTION clienta_kb_ensure_hnsw(p_dim int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM clienta_system_job();
    PERFORM pg_advisory_xact_lock(hashtext('clienta.kb.hnsw'));
    EXECUTE format('CREATE INDEX IF NOT EXISTS kb_chunks_hnsw_%s ON kb_chunks'
                   ' USING hnsw ((embedding::vector(%s)) vector_cosine_ops)'
                   ' WHERE embed_dim = %s', p_dim, p_dim, p_dim);
END
$$;
ALTER FUNCTION clienta_kb_ensure_hnsw(int) SECURITY DEFINER;
REVOKE ALL ON FUNCTION clienta_kb_ensure_hnsw(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION clienta_kb_ensure_hnsw(int) TO clienta_serving;
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION clienta_kb_ensure_hnsw(int) SET search_path = %I, pg_temp',
                   current_schema());
END
$$;
