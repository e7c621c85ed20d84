-- The append groups' plans no longer depend on table statistics. 0007's statement was
-- planned once per connection (plpgsql caches a generic plan) while `events` was still
-- small, e.g. on a fresh deployment: the duplicate check became a hash join over a scan
-- of every stored event, and the conversations were found by a sequential scan. Each
-- group then read the whole table, so Postgres CPU per message grew with it (~130 µs at
-- 7,700 events, ~350 µs at 61,000, in groups of 64) until autovacuum's ANALYZE happened
-- to invalidate the plan. Now:
--   * the duplicate check probes the (conversation_id, client_id) index once per row
--     (a LATERAL ... LIMIT 1 is never flattened into a join, and it names only that
--     index's columns, so no other index can stand in);
--   * the conversations are found by primary key (= ANY), and the function runs with
--     enable_seqscan off, so a plan made on a small table cannot scan it when it is big;
--   * seqs come from the locked rows (nothing can change them before the commit) and
--     the answer is built from the rows as stored, so no join matches the inserted rows
--     back to their input (those joins were nested loops, quadratic in the group size,
--     because the planner expects a handful of rows from a CTE).
-- ~55-75 µs of Postgres CPU per message, flat from the first event (micro-benchmark,
-- groups of 64, fresh database, autovacuum off). The rules of one append are 0007's.
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
-- locked by this transaction above: last_seq cannot move before the commit
locked AS (
    SELECT c.id, c.org_id, c.mode, c.assignee_id, c.last_seq FROM conversations c
    WHERE c.id = ANY (p_conversation)
),
stored AS (
    SELECT u.i, e.conversation_id, e.seq, e.kind, e.client_id, e.author_role, e.author_id,
           e.author_name, e.body, e.stream_id, e.sources, e.meta, e.created_at
    FROM input u
    CROSS JOIN LATERAL (  -- one index probe per row, whatever the statistics say
        SELECT * FROM events e
        WHERE e.conversation_id = u.conv AND e.client_id = u.client_id
        LIMIT 1
    ) e
    WHERE e.kind = u.kind AND e.org_id = u.org
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
    SELECT u.*, c.mode,
           c.last_seq + row_number() OVER (PARTITION BY u.conv ORDER BY u.i) AS seq
    FROM input u
    JOIN locked c ON c.id = u.conv AND c.org_id = u.org
    WHERE NOT EXISTS (SELECT 1 FROM stored s WHERE s.i = u.i)
      AND NOT EXISTS (SELECT 1 FROM repeats r WHERE r.i = u.i)
      AND (u.assignee IS NULL OR (c.mode = 'agent' AND c.assignee_id = u.assignee))
),
bump AS (
    UPDATE conversations c SET last_seq = f.top, updated_at = now()
    FROM (SELECT fresh.conv, max(fresh.seq) AS top FROM fresh GROUP BY fresh.conv) f
    WHERE c.id = f.conv AND c.id = ANY (p_conversation)
),
-- runs to completion although nothing reads it (as every data-modifying WITH does);
-- created_at is set here so the answer below states what was stored
ins AS (
    INSERT INTO events (org_id, conversation_id, seq, kind, client_id, author_role,
                        author_id, author_name, body, stream_id, sources, meta, created_at)
    SELECT f.org, f.conv, f.seq, f.kind, f.client_id, f.author_role, f.author_id,
           f.author_name, f.body, f.stream_id, f.sources, f.meta, now()
    FROM fresh f
)
SELECT f.i::int, f.conv, f.seq, f.kind, f.client_id, f.author_role, f.author_id,
       f.author_name, f.body, f.stream_id, f.sources, f.meta, now(), false, f.mode
FROM fresh f
UNION ALL
SELECT r.i::int, f.conv, f.seq, f.kind, f.client_id, f.author_role, f.author_id,
       f.author_name, f.body, f.stream_id, f.sources, f.meta, now(), true, f.mode
FROM repeats r JOIN fresh f ON f.i = r.first_i
UNION ALL
SELECT s.i::int, s.conversation_id, s.seq, s.kind, s.client_id, s.author_role, s.author_id,
       s.author_name, s.body, s.stream_id, s.sources, s.meta, s.created_at, true,
       (SELECT c.mode FROM locked c WHERE c.id = s.conversation_id)
FROM stored s;
END
$$ SET enable_seqscan = off;
