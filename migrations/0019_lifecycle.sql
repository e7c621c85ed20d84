-- The data lifecycle (issue 18 points 4-6): periodic jobs run once across processes, an
-- org's termination (export for 30 days, then purged), retention of closed conversations
-- and of usage records, sign-up's age confirmation, and the privacy policy's versions.

-- One row per periodic job (services/scheduler.py). A process runs a job only after its
-- UPDATE claimed the row (next_run_at due, no live lease): the row lock makes the claim
-- atomic, the lease (locked_until) hands a crashed holder's run to another process, and
-- next_run_at moves on in the same statement that frees the lease. Global: a job is the
-- platform's, not an org's (tests/storage/test_rls.py's allow-list says so).
CREATE TABLE scheduled_jobs (
    name text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    next_run_at timestamptz NOT NULL,
    locked_until timestamptz,
    lock_token uuid,
    last_run_at timestamptz,
    last_count bigint
);
GRANT SELECT, INSERT, UPDATE ON scheduled_jobs TO clienta_serving;

-- Termination: the service stops at terminated_at, the export stays open 30 days, and the
-- retention job purges the org (its key crypto-shredded, its rows deleted) after that.
ALTER TABLE orgs
    ADD COLUMN terminated_at timestamptz,
    ADD COLUMN terminated_by uuid;

-- Sign-up asks the person to confirm they are 20 or older (PDPA: minors under 20).
ALTER TABLE users ADD COLUMN age_confirmed_at timestamptz;

-- The privacy policy's versions with the day each takes effect. Global: one policy for the
-- platform (the allow-list again). A material change is dated at least 30 days after it
-- is published, checked here as well as by the CLI that publishes it.
CREATE TABLE policy_versions (
    version text PRIMARY KEY CHECK (length(version) BETWEEN 1 AND 32),
    effective_on date NOT NULL,
    material boolean NOT NULL,
    summary text CHECK (length(summary) <= 2000),
    published_at timestamptz NOT NULL,
    CHECK (NOT material OR effective_on >= (published_at + interval '30 days')::date)
);
-- INSERT: `clienta policy publish` may run on the serving role's URL too
GRANT SELECT, INSERT ON policy_versions TO clienta_serving;

-- A terminated org's visitors and staff are refused: the site key finds no org, a bearer
-- token opens nothing and a login finds no account. Only the export's own lookup below
-- opens a terminated org, and only while its export is open (30 days).
CREATE OR REPLACE FUNCTION clienta_org_by_site_key(p_site_key text) RETURNS SETOF orgs
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT * FROM orgs o WHERE o.site_key = p_site_key AND o.terminated_at IS NULL;
END
$$;
SELECT clienta_system_function('clienta_org_by_site_key(text)');

CREATE OR REPLACE FUNCTION clienta_user_by_token(p_token_hash bytea) RETURNS SETOF users
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT u.* FROM auth_tokens t JOIN users u ON u.id = t.user_id AND u.org_id = t.org_id
    JOIN orgs o ON o.id = u.org_id AND o.terminated_at IS NULL
    WHERE t.token_hash = p_token_hash AND t.expires_at > now();
END
$$;
SELECT clienta_system_function('clienta_user_by_token(bytea)');

-- The owner of an org in its export window: the user a token opens, whatever the org's
-- state, with the org's termination time (NULL: live). Used by the export endpoints only.
CREATE FUNCTION clienta_export_user_by_token(p_token_hash bytea)
RETURNS TABLE (user_id uuid, org_id uuid, role text, terminated_at timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT u.id, u.org_id, u.role, o.terminated_at
    FROM auth_tokens t JOIN users u ON u.id = t.user_id AND u.org_id = t.org_id
    JOIN orgs o ON o.id = u.org_id
    WHERE t.token_hash = p_token_hash AND t.expires_at > now();
END
$$;
SELECT clienta_system_function('clienta_export_user_by_token(bytea)');

-- Orgs terminated before p_before (their export window closed): the purge's work.
CREATE FUNCTION clienta_orgs_to_purge(p_before timestamptz, p_limit int)
RETURNS SETOF uuid LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM clienta_system_job();
    RETURN QUERY SELECT o.id FROM orgs o WHERE o.terminated_at <= p_before
                 ORDER BY o.terminated_at LIMIT p_limit;
END
$$;
SELECT clienta_system_function('clienta_orgs_to_purge(timestamptz, int)');

-- Orgs that keep closed conversations a limited time (org_privacy.closed_retention_days).
CREATE FUNCTION clienta_orgs_with_retention()
RETURNS TABLE (org_id uuid, days int) LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM clienta_system_job();
    RETURN QUERY SELECT p.org_id, p.closed_retention_days FROM org_privacy p
                 WHERE p.closed_retention_days IS NOT NULL;
END
$$;
SELECT clienta_system_function('clienta_orgs_with_retention()');

-- Live orgs with an owner: who hears of a policy change.
CREATE FUNCTION clienta_live_orgs() RETURNS SETOF uuid LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM clienta_system_job();
    RETURN QUERY SELECT o.id FROM orgs o WHERE o.terminated_at IS NULL
                 AND EXISTS (SELECT 1 FROM users u WHERE u.org_id = o.id AND u.role = 'owner');
END
$$;
SELECT clienta_system_function('clienta_live_orgs()');

-- Usage records older than p_before (24 months), every org's: the LLM token counts, the
-- anonymous skeletons an erasure left for the counts, and the audit log's entries (ids and
-- truncated addresses). The audit log stays append-only for everyone else: its trigger
-- lets this function alone delete, and only entries older than the cut-off it names.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_user = 'clienta_system'
       AND current_setting('clienta.system_job', true) = 'retention'
       AND OLD.at < NULLIF(current_setting('clienta.audit_before', true), '')::timestamptz THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
GRANT DELETE ON audit_log TO clienta_system;

CREATE FUNCTION clienta_usage_purge(p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    total bigint := 0;
BEGIN
    PERFORM clienta_system_job();
    DELETE FROM usage_tokens WHERE created_at < p_before;
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM conversations c USING visitors v
    WHERE v.id = c.visitor_id AND v.org_id = c.org_id AND v.erased_at IS NOT NULL
      AND c.created_at < p_before;
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    PERFORM set_config('clienta.audit_before', p_before::text, true);
    DELETE FROM audit_log WHERE at < p_before;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN total + n;
END
$$;
SELECT clienta_system_function('clienta_usage_purge(timestamptz)');
