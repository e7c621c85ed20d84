-- The audit log: administrative and data-access events, append-only.
-- No foreign keys on purpose: an entry must outlive the user, document or org it names
-- (a removed user's sign-ins stay on record), and a cascade would be a way to delete it.
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    org_id uuid NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    actor_kind text NOT NULL,      -- server.domain.audit.ActorKind
    actor_id uuid,                 -- a user's or visitor's id; null for system jobs
    actor_label text,              -- a system job's name, e.g. 'backup'
    action text NOT NULL,          -- server.domain.audit.AuditAction
    target_kind text,              -- server.domain.audit.TargetKind
    target_id uuid,
    ip text,                       -- truncated: IPv4 /24, IPv6 /48
    detail jsonb NOT NULL DEFAULT '{}'::jsonb  -- names only (roles, settings), never values
);

-- newest first per org, keyset by (at, id)
CREATE INDEX audit_log_org_at_idx ON audit_log (org_id, at DESC, id DESC);

-- Append-only, enforced by the database for every role that writes to it, the table's
-- owner included: an UPDATE, DELETE or TRUNCATE raises. (The serving role of the RLS
-- work will also have no UPDATE/DELETE privilege on it; today the server connects as the
-- owner, so the trigger is what holds.)
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
