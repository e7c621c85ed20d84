-- Core tenancy, accounts, visitors, conversations and their event sequence.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE orgs (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    site_key text NOT NULL UNIQUE,
    allowed_origins text[] NOT NULL DEFAULT '{}',
    assignment text NOT NULL DEFAULT 'manual' CHECK (assignment IN ('manual', 'auto')),
    agent_capacity int NOT NULL DEFAULT 5 CHECK (agent_capacity > 0),
    kb_threshold real,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email text NOT NULL,
    name text NOT NULL DEFAULT '',
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'viewer')),
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- one login per email across the product: login takes only email + password
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_org_idx ON users (org_id);

CREATE TABLE auth_tokens (
    token_hash bytea PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_tokens_user_idx ON auth_tokens (org_id, user_id);

CREATE TABLE visitors (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name text,
    email text,
    locale text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX visitors_org_idx ON visitors (org_id);

CREATE TABLE conversations (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    visitor_id uuid NOT NULL REFERENCES visitors(id) ON DELETE CASCADE,
    mode text NOT NULL DEFAULT 'bot' CHECK (mode IN ('bot', 'queued', 'agent', 'closed')),
    last_seq bigint NOT NULL DEFAULT 0,
    assignee_id uuid REFERENCES users(id) ON DELETE SET NULL,
    unresolved_turns int NOT NULL DEFAULT 0,
    needs_human boolean NOT NULL DEFAULT false,
    queued_at timestamptz,
    followup_email text,
    csat_score smallint CHECK (csat_score BETWEEN 1 AND 5),
    csat_comment text,
    tags text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz
);
CREATE INDEX conversations_org_mode_idx ON conversations (org_id, mode, updated_at DESC, id);
CREATE INDEX conversations_visitor_idx ON conversations (org_id, visitor_id, created_at DESC);
CREATE INDEX conversations_assignee_idx ON conversations (org_id, assignee_id) WHERE assignee_id IS NOT NULL;

-- Every stored event of a conversation, in one gap-free sequence (contract guarantee 2).
-- kind: msg (visible to all), note (agents only).
CREATE TABLE events (
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    kind text NOT NULL CHECK (kind IN ('msg', 'note')),
    client_id text,
    author_role text NOT NULL CHECK (author_role IN ('visitor', 'bot', 'agent', 'system')),
    author_id uuid,
    author_name text,
    body text NOT NULL,
    stream_id text,
    sources jsonb,
    meta jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX events_client_id_key ON events (conversation_id, client_id)
    WHERE client_id IS NOT NULL;
CREATE INDEX events_org_idx ON events (org_id, created_at);
