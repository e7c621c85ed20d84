-- Appending many events in one statement: the hub groups the messages that arrive while
-- an append is in flight and stores them together, one round trip and one commit for the
-- group instead of one each (on a small box, the per-statement round trip and commit cost
-- Postgres more CPU than the insert itself). Each row goes through clienta_append_event,
-- so the tenant, the sequence and the duplicate rules are exactly those of one append.
-- `ord` is the row's 1-based position in the arrays; a row that stores nothing (not this
-- org's conversation, or not held by p_assignee) returns no row. The caller orders the
-- rows by conversation id, so concurrent groups lock conversations in one order.
CREATE FUNCTION clienta_append_events(
    p_org uuid[], p_conversation uuid[], p_kind text[], p_client_id text[],
    p_author_role text[], p_author_id uuid[], p_author_name text[], p_body text[],
    p_stream_id text[], p_sources jsonb[], p_meta jsonb[], p_assignee uuid[]
) RETURNS TABLE (
    ord int, conversation_id uuid, seq bigint, kind text, client_id text, author_role text,
    author_id uuid, author_name text, body text, stream_id text, sources jsonb, meta jsonb,
    created_at timestamptz, duplicate boolean, mode text
) LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    -- unnest walks the arrays once; subscripting them by position in a loop would walk
    -- each variable-length array from its start for every row (quadratic in the group)
    FOR r IN SELECT * FROM unnest(p_org, p_conversation, p_kind, p_client_id, p_author_role,
                                  p_author_id, p_author_name, p_body, p_stream_id, p_sources,
                                  p_meta, p_assignee)
                      WITH ORDINALITY AS u(org, conv, kind, client_id, author_role, author_id,
                                           author_name, body, stream_id, sources, meta,
                                           assignee, i)
    LOOP
        RETURN QUERY SELECT r.i::int, a.* FROM clienta_append_event(
            r.org, r.conv, r.kind, r.client_id, r.author_role, r.author_id, r.author_name,
            r.body, r.stream_id, r.sources, r.meta, r.assignee) a;
    END LOOP;
END
$$;
