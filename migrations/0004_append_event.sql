-- Appending an event as one statement that is its own unit of work: the function names the
-- tenant for its transaction first (as every unit of work does), then bumps the sequence
-- and inserts. One round trip per stored message instead of three (BEGIN, insert, COMMIT).
-- With p_assignee, nothing is stored unless that agent holds the conversation.
CREATE FUNCTION clienta_append_event(
    p_org uuid, p_conversation uuid, p_kind text, p_client_id text, p_author_role text,
    p_author_id uuid, p_author_name text, p_body text, p_stream_id text, p_sources jsonb,
    p_meta jsonb, p_assignee uuid DEFAULT NULL
) RETURNS TABLE (
    conversation_id uuid, seq bigint, kind text, client_id text, author_role text,
    author_id uuid, author_name text, body text, stream_id text, sources jsonb, meta jsonb,
    created_at timestamptz, duplicate boolean, mode text
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('clienta.org_id', p_org::text, true);
    RETURN QUERY
    WITH existing AS (
        SELECT e.conversation_id, e.seq, e.kind, e.client_id, e.author_role, e.author_id,
               e.author_name, e.body, e.stream_id, e.sources, e.meta, e.created_at
        FROM events e
        WHERE e.conversation_id = p_conversation AND e.client_id = p_client_id
          AND e.kind = p_kind
    ),
    bump AS (
        UPDATE conversations c SET last_seq = c.last_seq + 1, updated_at = now()
        WHERE c.id = p_conversation AND c.org_id = p_org
          AND NOT EXISTS (SELECT 1 FROM existing)
          -- an agent's reply is stored only while that agent holds the conversation
          AND (p_assignee IS NULL OR (c.mode = 'agent' AND c.assignee_id = p_assignee))
        RETURNING c.last_seq, c.mode
    ),
    ins AS (
        INSERT INTO events AS e (org_id, conversation_id, seq, kind, client_id, author_role,
                                 author_id, author_name, body, stream_id, sources, meta)
        SELECT p_org, p_conversation, bump.last_seq, p_kind, p_client_id, p_author_role,
               p_author_id, p_author_name, p_body, p_stream_id, p_sources, p_meta
        FROM bump
        RETURNING e.conversation_id, e.seq, e.kind, e.client_id, e.author_role, e.author_id,
                  e.author_name, e.body, e.stream_id, e.sources, e.meta, e.created_at
    )
    SELECT ins.*, false, (SELECT bump.mode FROM bump) FROM ins
    UNION ALL
    SELECT existing.*, true,
           (SELECT c.mode FROM conversations c
            WHERE c.id = p_conversation AND c.org_id = p_org)
    FROM existing;
END
$$;
