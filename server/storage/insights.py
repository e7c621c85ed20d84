"""Insights' SQL: a period's figures aggregated in Postgres from conversations and their
stored events (migration 0021's indexes), and the period's unanswered questions, opened."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from server.storage.envelope import Field, Undecryptable, associated, is_sealed
from server.storage.keys import Keyring

# One statement, one snapshot. Each conversation created in the period is one row of `per`;
# events are read from the period's start on (an event is never older than its
# conversation), through the partial indexes of handoffs and agents' messages.
_FIGURES = """
WITH c AS MATERIALIZED (
    SELECT id, created_at, closed_at, csat_score FROM conversations
    WHERE org_id = $1 AND created_at >= $2 AND created_at < $3
), h AS MATERIALIZED (
    SELECT e.conversation_id, min(e.created_at) AS at FROM events e
    WHERE e.org_id = $1 AND e.created_at >= $2 AND e.author_role = 'system'
      AND (e.meta->>'mode') IN ('queued', 'agent')
    GROUP BY e.conversation_id
), r AS (
    SELECT a.conversation_id, min(a.created_at) AS at FROM events a
    JOIN h ON h.conversation_id = a.conversation_id
    WHERE a.org_id = $1 AND a.created_at >= $2 AND a.author_role = 'agent'
      AND a.kind = 'msg' AND a.created_at >= h.at
    GROUP BY a.conversation_id
), per AS MATERIALIZED (
    SELECT (c.created_at AT TIME ZONE $4)::date AS day,
           extract(hour FROM c.created_at AT TIME ZONE $4)::int AS hour,
           h.at IS NOT NULL AS handed_over,
           extract(epoch FROM r.at - h.at) * 1000 AS first_response_ms,
           extract(epoch FROM c.closed_at - c.created_at) * 1000 AS resolution_ms,
           c.csat_score
    FROM c LEFT JOIN h ON h.conversation_id = c.id LEFT JOIN r ON r.conversation_id = c.id
)
SELECT
    (SELECT coalesce(json_agg(json_build_object('date', d.day, 'conversations', d.n,
                                                'handed_over', d.handed) ORDER BY d.day), '[]')
     FROM (SELECT day, count(*) AS n, count(*) FILTER (WHERE handed_over) AS handed
           FROM per GROUP BY day) d) AS days,
    (SELECT json_build_object(
         'first', percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY first_response_ms)
                  FILTER (WHERE first_response_ms IS NOT NULL),
         'resolution', percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY resolution_ms)
                  FILTER (WHERE resolution_ms IS NOT NULL),
         'responded', count(first_response_ms), 'resolved', count(resolution_ms))
     FROM per) AS times,
    (SELECT coalesce(json_object_agg(s.csat_score, s.n), '{}')
     FROM (SELECT csat_score, count(*) AS n FROM per WHERE csat_score IS NOT NULL
           GROUP BY csat_score) s) AS csat,
    (SELECT coalesce(json_object_agg(b.hour, b.n), '{}')
     FROM (SELECT hour, count(*) AS n FROM per GROUP BY hour) b) AS hours
"""


async def figures(conn: asyncpg.Connection, org_id: UUID, start: datetime, end: datetime,
                  tz: str) -> dict[str, Any]:
    """The raw aggregates of conversations created in [start, end), days and hours in
    `tz`: days [{date, conversations, handed_over}], times {first, resolution: [p50, p90]
    or null, responded, resolved}, csat {score: n}, hours {hour: n}."""
    row = await conn.fetchrow(_FIGURES, org_id, start, end, tz)
    assert row is not None  # aggregates alone: always one row
    return {k: json.loads(row[k]) for k in ("days", "times", "csat", "hours")}


async def unanswered(conn: asyncpg.Connection, keys: Keyring, org_id: UUID, start: datetime,
                     end: datetime, limit: int) -> list[tuple[str, datetime]]:
    """The period's unanswered questions, newest first, at most `limit`, opened: under the
    asker's key when the conversation is known, else the org's (storage/backfill.py). Those
    whose key was erased are left out."""
    rows = await conn.fetch(
        "SELECT id, conversation_id, question, created_at FROM kb_unanswered"
        " WHERE org_id = $1 AND created_at >= $2 AND created_at < $3"
        " ORDER BY created_at DESC, id DESC LIMIT $4", org_id, start, end, limit)
    sealed = [r for r in rows if is_sealed(r["question"])]
    subjects = await keys.for_conversations(
        conn, {(org_id, r["conversation_id"]) for r in sealed if r["conversation_id"]})
    org_key = await keys.org_key(conn, org_id) if any(
        r["conversation_id"] is None or r["conversation_id"] not in subjects
        for r in sealed) else None
    out: list[tuple[str, datetime]] = []
    for r in rows:
        text = r["question"]
        if is_sealed(text):
            subject = subjects.get(r["conversation_id"]) if r["conversation_id"] else None
            key = subject.key if subject is not None else org_key
            if key is None:
                continue  # erased
            try:
                text = key.open_text(text, associated(Field.UNANSWERED, org_id, r["id"]))
            except Undecryptable:
                continue
        out.append((text, r["created_at"]))
    return out
