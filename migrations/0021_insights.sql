-- Insights and conversation history (issue 22 points 4 and 5): indexes that keep a
-- year of an org's conversations cheap to count and search, and a keyed index of
-- visitors' email addresses (their text is sealed: docs/insights.md "Finding a visitor").

-- A period's conversations by creation time. The included columns let the figures come
-- from the index alone; they change only with a conversation's mode or rating, which
-- already leave the heap-only path (conversations_org_mode_idx), while the hot columns
-- (last_seq, updated_at, read markers) stay out of every index (migration 0006).
CREATE INDEX conversations_org_created_idx ON conversations (org_id, created_at)
    INCLUDE (mode, closed_at, csat_score);

-- History search by tag (`tags @> ARRAY[...]`): tags change rarely.
CREATE INDEX conversations_tags_idx ON conversations USING gin (tags);

-- The moment each conversation first left the bot: the system message of every mode
-- change to queued or agent carries meta.mode (services/conversations.change_mode).
CREATE INDEX events_org_handoff_idx ON events (org_id, created_at) INCLUDE (conversation_id)
    WHERE author_role = 'system' AND (meta->>'mode') IN ('queued', 'agent');

-- The first reply of a person: agents' visible messages (not notes).
CREATE INDEX events_org_agent_msg_idx ON events (org_id, created_at) INCLUDE (conversation_id)
    WHERE author_role = 'agent' AND kind = 'msg';

-- History by agent: the conversations an agent wrote in (a closed one keeps no assignee).
CREATE INDEX events_org_agent_author_idx ON events (org_id, author_id, conversation_id)
    WHERE author_role = 'agent';

-- An HMAC of the normalised address under a key derived from the org's key: exact-match
-- search without plaintext; cleared when the visitor is erased.
ALTER TABLE visitors ADD COLUMN email_index bytea;
CREATE INDEX visitors_email_index_idx ON visitors (org_id, email_index)
    WHERE email_index IS NOT NULL;
