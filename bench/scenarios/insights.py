"""`insights`: an org with a year of conversations (100,000 at full size) seeded in SQL,
then the time to answer GET /v1/insights for a month, a quarter and a year, and the first
page of the history list (all, closed, by tag), each the median of a few runs.

The seed writes what the server would have stored (docs/insights.md): per conversation a
visitor's message and the bot's answer; 40 % handed over (a `queued` and an `agent` mode
change, an agent's reply, a close); 85 % closed, a third of those rated; every 20th asked
one of 30 unanswered questions; every 10th tagged. Timings only; nothing is asserted.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import httpx

from bench.console import Ui
from bench.http_api import Api
from bench.services import Stack
from bench.stats import Result


@dataclass(frozen=True, slots=True)
class Params:
    conversations: int = 100_000
    runs: int = 5

    @classmethod
    def full(cls) -> Params:
        return cls()

    @classmethod
    def quick(cls) -> Params:
        return cls(conversations=20_000, runs=3)

    @classmethod
    def tiny(cls) -> Params:
        return cls(conversations=500, runs=1)


_SEED = [
    """CREATE TEMP TABLE seed ON COMMIT DROP AS
       SELECT g AS n, gen_random_uuid() AS id, gen_random_uuid() AS visitor_id,
              now() - random() * interval '365 days' AS created_at,
              random() < 0.4 AS handed, random() < 0.85 AS closed,
              random() AS r1, random() AS r2, random() AS r3
       FROM generate_series(1, $1::int) g""",
    "INSERT INTO visitors (id, org_id, created_at) SELECT visitor_id, $1, created_at FROM seed",
    """INSERT INTO conversations (id, org_id, visitor_id, mode, last_seq, created_at, updated_at,
                                  closed_at, csat_score, tags, needs_human)
       SELECT id, $1, visitor_id, CASE WHEN closed THEN 'closed' ELSE 'bot' END,
              2 + CASE WHEN handed THEN 3 ELSE 0 END + CASE WHEN closed THEN 1 ELSE 0 END,
              created_at, created_at + interval '1 hour',
              CASE WHEN closed THEN created_at + interval '20 minutes' + r2 * interval '3 hours'
              END,
              CASE WHEN closed AND r3 < 0.33 THEN 1 + floor(r1 * 5)::int END,
              CASE WHEN n % 10 = 0 THEN ARRAY['refund'] ELSE '{}' END, handed
       FROM seed""",
    # the events of each conversation, seq by seq, at the times the conversation implies
    """INSERT INTO events (org_id, conversation_id, seq, kind, author_role, author_id, body,
                           meta, created_at)
       SELECT $1, s.id, row_number() OVER (PARTITION BY s.id ORDER BY e.at, e.ord), 'msg',
              e.role, e.author, e.body, e.meta, e.at
       FROM seed s CROSS JOIN LATERAL (VALUES
           (1, 'visitor', NULL::uuid, 'Where is my order?', NULL::jsonb, s.created_at, true),
           (2, 'bot', NULL, 'Orders ship in 1-3 days.', NULL, s.created_at + interval '2 s',
            true),
           (3, 'system', NULL, 'Asking a person.', '{"mode": "queued"}'::jsonb,
            s.created_at + interval '10 s', s.handed),
           (4, 'system', $2::uuid, 'Joined.', '{"mode": "agent"}'::jsonb,
            s.created_at + interval '10 s' + s.r1 * interval '10 minutes', s.handed),
           (5, 'agent', $2::uuid, 'Hello, let me check.', NULL,
            s.created_at + interval '11 s' + s.r1 * interval '10 minutes'
            + s.r2 * interval '2 minutes', s.handed),
           (6, 'system', NULL, 'Closed.', '{"mode": "closed"}'::jsonb,
            s.created_at + interval '20 minutes' + s.r2 * interval '3 hours', s.closed)
       ) AS e(ord, role, author, body, meta, at, keep)
       WHERE e.keep""",
    """INSERT INTO kb_unanswered (id, org_id, conversation_id, question, best_score, created_at)
       SELECT gen_random_uuid(), $1, id, 'Do you deliver to island ' || (n % 30) || '?', 0.05,
              created_at + interval '1 s'
       FROM seed WHERE n % 20 = 0""",
]


async def seed(database_url: str, org_id: UUID, owner_id: UUID, n: int) -> float:
    """Seed as the schema's owner (row-level security does not hold it); seconds taken."""
    started = time.monotonic()
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute(_SEED[0], n)
            await conn.execute(_SEED[1], org_id)
            await conn.execute(_SEED[2], org_id)
            await conn.execute(_SEED[3], org_id, owner_id)
            await conn.execute(_SEED[4], org_id)
        # what autovacuum would have done over a year: statistics and the visibility map
        for table in ("visitors", "conversations", "events", "kb_unanswered"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await conn.close()
    return time.monotonic() - started


async def _median_ms(http: httpx.AsyncClient, path: str, params: dict[str, str],
                     runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs + 1):  # the first warms the pool's prepared statements: not counted
        started = time.perf_counter()
        resp = await http.get(path, params=params)
        resp.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:]), times[1:]


async def run(stack: Stack, params: Params, ui: Ui) -> Result:
    result = Result("insights", False, asdict(params))
    await stack.migrate()
    server = await stack.start_server("clienta")
    try:
        async with Api(server.url) as api:
            org = await api.signup("insights")
        ui.phase("insights", f"seeding {params.conversations:,} conversations over a year")
        took = await seed(stack.database_url, UUID(org.org_id), UUID(org.owner_id),
                          params.conversations)
        result.metrics["seed_s"] = round(took, 1)
        today = datetime.now(UTC).date()
        periods = {"month": 30, "quarter": 91, "year": 365}
        headers = {"Authorization": f"Bearer {org.token}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=120,
                                     trust_env=False) as http:
            for name, days in periods.items():
                first = (today - timedelta(days=days - 1)).isoformat()
                median, samples = await _median_ms(
                    http, "/v1/insights", {"from": first, "to": today.isoformat()},
                    params.runs)
                result.metrics[f"insights_{name}_p50_ms"] = round(median, 1)
                result.add_latency(f"insights_{name}", samples)
            for name, query in (("all", {}), ("closed", {"status": "closed"}),
                                ("tag", {"tag": "refund"})):
                median, samples = await _median_ms(http, "/v1/conversations",
                                                   {"limit": "50", **query}, params.runs)
                result.metrics[f"history_{name}_p50_ms"] = round(median, 1)
                result.add_latency(f"history_{name}", samples)
    finally:
        await stack.stop(server)
    return result
