-- Appending a group as set-based statements. 0005 ran clienta_append_event once per row:
-- a function call, a CTE and three index probes each, ~175 µs of Postgres CPU per message
-- in groups of 64 (~100 µs here). The group's conversations are locked first, in id
-- order (the appender sorts groups the same way, so two groups never deadlock); then one
-- statement, whose snapshot already has whatever a concurrent group committed on those
-- rows, moves each conversation's last_seq past all of its new rows in one UPDATE and
-- stores them in one INSERT. The rules of one append hold per row:
--   * a row whose (conversation, client id, kind) is already stored is answered with the
--     stored event, duplicate = true; so is a later row of the group repeating an earlier
--     one's client id (answered with that row's event); rows without a client id never
--     repeat each other;
--   * a row is stored only in its own org's conversation, and a row with an assignee only
--     while that agent holds the conversation (read under the lock);
--   * seqs are gap-free per conversation, in the group's order (`ord`).
-- A client id that another kind of event already took raises unique_violation, which
-- voids the group (the appender then stores its messages one by one).
CREATE OR REPLACE FUNCTION clienta_append_events(
    p_org uuid[], p_conversation uuid[], p_kind text[], p_client_id text[],
    p_author_role text[], p_author_id uuid[], p_author_name text[], p_body text[],
    p_stream_id text[], p_sources jsonb[], p_meta jsonb[], p_assignee uuid[]
) RETURNS TABLE (
    ord int, conversation_id uuid, seq bigint, kind text, client_id text, author_role text,
    author_id uuid, author_name text, body text, stream_id text, sources jsonb, meta jsonb,
    created_at timestamptz, duplicate boolean, mode text
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
PERFORM set_config('clienta.org_id',
                  CASE WHEN count(DISTINCT o) = 1 THEN min(o::text) ELSE '' END, true)
FROM unnest(p_org) o;
-- Lock first, in its own statement: the next statement's snapshot then already sees
-- what a concurrent group committed on these rows, so its UPDATE re-checks nothing
-- (locking inside the same statement made every row of a contended group go through
-- EvalPlanQual, about doubling the group's CPU under the chat bench).
PERFORM 1 FROM conversations c WHERE c.id = ANY (p_conversation) ORDER BY c.id FOR UPDATE;
RETURN QUERY
WITH input AS (
    SELECT * FROM unnest(p_org, p_conversation, p_kind, p_client_id, p_author_role,
                         p_author_id, p_author_name, p_body, p_stream_id, p_sources, p_meta,
                         p_assignee)
         WITH ORDINALITY AS u(org, conv, kind, client_id, author_role, author_id,
                              author_name, body, stream_id, sources, meta, assignee, i)
),
locked AS (
    SELECT c.id, c.org_id, c.mode, c.assignee_id FROM conversations c
    WHERE c.id IN (SELECT conv FROM input)
),
stored AS (
    SELECT u.i, e.conversation_id, e.seq, e.kind, e.client_id, e.author_role, e.author_id,
           e.author_name, e.body, e.stream_id, e.sources, e.meta, e.created_at
    FROM input u
    JOIN events e ON e.conversation_id = u.conv AND e.client_id = u.client_id
                 AND e.kind = u.kind AND e.org_id = u.org
),
repeats AS (
    SELECT u.i, min(v.i) AS first_i
    FROM input u
    JOIN input v ON v.conv = u.conv AND v.client_id = u.client_id AND v.kind = u.kind
                AND v.i < u.i
    WHERE NOT EXISTS (SELECT 1 FROM stored s WHERE s.i = u.i)
    GROUP BY u.i
),
fresh AS (
    SELECT u.*, row_number() OVER (PARTITION BY u.conv ORDER BY u.i) AS n
    FROM input u
    JOIN locked c ON c.id = u.conv AND c.org_id = u.org
    WHERE NOT EXISTS (SELECT 1 FROM stored s WHERE s.i = u.i)
      AND NOT EXISTS (SELECT 1 FROM repeats r WHERE r.i = u.i)
      AND (u.assignee IS NULL OR (c.mode = 'agent' AND c.assignee_id = u.assignee))
),
bump AS (
    UPDATE conversations c SET last_seq = c.last_seq + f.cnt, updated_at = now()
    FROM (SELECT fresh.conv, count(*) AS cnt FROM fresh GROUP BY fresh.conv) f
    WHERE c.id = f.conv
    RETURNING c.id, c.last_seq - f.cnt AS base, c.mode
),
ins AS (
    INSERT INTO events AS e (org_id, conversation_id, seq, kind, client_id, author_role,
                             author_id, author_name, body, stream_id, sources, meta)
    SELECT f.org, f.conv, b.base + f.n, f.kind, f.client_id, f.author_role, f.author_id,
           f.author_name, f.body, f.stream_id, f.sources, f.meta
    FROM fresh f JOIN bump b ON b.id = f.conv
    RETURNING e.conversation_id, e.seq, e.kind, e.client_id, e.author_role, e.author_id,
              e.author_name, e.body, e.stream_id, e.sources, e.meta, e.created_at
),
answered AS (
    SELECT f.i, ins.*, b.mode
    FROM ins
    JOIN bump b ON b.id = ins.conversation_id
    JOIN fresh f ON f.conv = ins.conversation_id AND b.base + f.n = ins.seq
)
SELECT a.i::int, a.conversation_id, a.seq, a.kind, a.client_id, a.author_role, a.author_id,
       a.author_name, a.body, a.stream_id, a.sources, a.meta, a.created_at, false, a.mode
FROM answered a
UNION ALL
SELECT r.i::int, a.conversation_id, a.seq, a.kind, a.client_id, a.author_role, a.author_id,
       a.author_name, a.body, a.stream_id, a.sources, a.meta, a.created_at, true, a.mode
FROM repeats r JOIN answered a ON a.i = r.first_i
UNION ALL
SELECT s.i::int, s.conversation_id, s.seq, s.kind, s.client_id, s.author_role, s.author_id,
       s.author_name, s.body, s.stream_id, s.sources, s.meta, s.created_at, true,
       (SELECT c.mode FROM locked c WHERE c.id = s.conversation_id)
FROM stored s;
END
$$;
