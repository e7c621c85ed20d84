-- Teams: invitations, one-time links (password reset, email verification), and what the
-- members list shows (locale for their mail, last activity, a verified address).
ALTER TABLE users
    ADD COLUMN locale text NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'th')),
    -- set at sign-in and at an agent socket's hello, never per request
    ADD COLUMN last_active_at timestamptz,
    ADD COLUMN email_verified_at timestamptz;
-- accounts made before verification existed were never asked to verify
UPDATE users SET email_verified_at = created_at;

-- An invitation by email. Only a hash of its link's token is stored; the link is single-use
-- (accepted_at), expiring, and revocable. At most one pending invite per org and address.
CREATE TABLE invites (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email text NOT NULL,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'viewer')),
    locale text NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'th')),
    token_hash bytea NOT NULL,
    invited_by uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_user uuid,
    revoked_at timestamptz
);
CREATE UNIQUE INDEX invites_pending_email_key ON invites (org_id, lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invites_org_idx ON invites (org_id, created_at, id);

-- One-time links mailed to a user: a password reset (1 hour) or an address to verify.
CREATE TABLE user_links (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose text NOT NULL CHECK (purpose IN ('password_reset', 'email_verify')),
    token_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX user_links_user_idx ON user_links (org_id, user_id, purpose);
CREATE INDEX user_links_expiry_idx ON user_links (expires_at);

-- Tenant isolation, as every tenant table (migrations/0011's pattern): RLS forced, the
-- tenant and system policies, the serving role's privileges.
SELECT clienta_tenant_table('invites');
SELECT clienta_tenant_table('user_links');

-- The hourly purge of every org's spent links and finished invites: a system job.
CREATE FUNCTION clienta_delete_spent_links(p_older_than timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    a bigint;
    b bigint;
BEGIN
    PERFORM clienta_system_job();
    DELETE FROM user_links WHERE expires_at < p_older_than;
    GET DIAGNOSTICS a = ROW_COUNT;
    DELETE FROM invites WHERE coalesce(accepted_at, revoked_at, expires_at) < p_older_than;
    GET DIAGNOSTICS b = ROW_COUNT;
    RETURN a + b;
END
$$;
SELECT clienta_system_function('clienta_delete_spent_links(timestamptz)');
