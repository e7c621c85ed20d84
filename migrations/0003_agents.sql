-- Live agents: queue-wait offers, no bot<->queue loops, read receipts, canned responses.
ALTER TABLE conversations
    ADD COLUMN auto_handoff boolean NOT NULL DEFAULT true,
    ADD COLUMN wait_offered_at timestamptz,
    ADD COLUMN visitor_read_seq bigint NOT NULL DEFAULT 0,
    ADD COLUMN agent_read_seq bigint NOT NULL DEFAULT 0;

CREATE INDEX conversations_queued_idx ON conversations (queued_at)
    WHERE mode = 'queued' AND wait_offered_at IS NULL;

CREATE TABLE canned_responses (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    shortcut text NOT NULL,
    text text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, shortcut)
);
