-- The transactional mail outbox: a row is written in the same transaction as the change
-- that caused it; a worker claims due rows (FOR UPDATE SKIP LOCKED, then a lease), sends
-- each with its id as the provider's Idempotency-Key and records the outcome.
CREATE TABLE mail_outbox (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind text NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    -- recipient, subject, bodies and headers as one opaque value written and read only by
    -- storage/mail_outbox.py (where encryption at rest goes); NULL once sent or given up
    content bytea,
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- a claim: who holds the row and until when; a result is recorded only by its holder
    lease_token uuid,
    lease_until timestamptz,
    -- an error code (the provider's status and error name), never its message
    last_error text,
    provider_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CHECK ((status = 'pending') = (content IS NOT NULL))
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX mail_outbox_finished_idx ON mail_outbox (finished_at) WHERE status <> 'pending';
CREATE INDEX mail_outbox_org_idx ON mail_outbox (org_id);
