"""Insights for owners and admins (GET /v1/insights, ../shared/contract.md §5): a period's
conversations per day, bot-only vs handed over, response and resolution times, CSAT, the
busiest hours and the top unanswered questions (docs/insights.md defines each)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from server.domain.insights import Period, top_questions
from server.storage import insights as store
from server.storage.db import Database


@dataclass(frozen=True, slots=True)
class InsightsPolicy:
    max_days: int = 366  # the longest period one request may ask for
    unanswered_sample: int = 1000  # the newest unanswered questions grouped into "top"
    top_unanswered: int = 10


def _ms(pair: list[float] | None) -> dict[str, int | None]:
    if not pair:
        return {"p50": None, "p90": None}
    return {"p50": round(pair[0]), "p90": round(pair[1])}


class Insights:
    def __init__(self, db: Database, policy: InsightsPolicy) -> None:
        self.db = db
        self.policy = policy

    async def report(self, org_id: UUID, period: Period) -> dict[str, Any]:
        start, end = period.bounds()
        async with self.db.unit_of_work(org_id) as conn:
            raw = await store.figures(conn, org_id, start, end, period.tz)
            asked = await store.unanswered(conn, self.db.keys, org_id, start, end,
                                           self.policy.unanswered_sample)
        per_day = {d["date"]: d for d in raw["days"]}
        days = []
        for day in period.days:
            row = per_day.get(day.isoformat(), {"conversations": 0, "handed_over": 0})
            days.append({"date": day.isoformat(), "conversations": row["conversations"],
                         "bot_only": row["conversations"] - row["handed_over"],
                         "handed_over": row["handed_over"]})
        counts = {str(score): int(raw["csat"].get(str(score), 0)) for score in range(1, 6)}
        rated = sum(counts.values())
        average = (round(sum(int(s) * n for s, n in counts.items()) / rated, 2)
                   if rated else None)
        times = raw["times"]
        return {
            "from": period.first.isoformat(), "to": period.last.isoformat(), "tz": period.tz,
            "totals": {"conversations": sum(d["conversations"] for d in days),
                       "bot_only": sum(d["bot_only"] for d in days),
                       "handed_over": sum(d["handed_over"] for d in days)},
            "days": days,
            "first_response_ms": {**_ms(times["first"]), "n": times["responded"]},
            "resolution_ms": {**_ms(times["resolution"]), "n": times["resolved"]},
            "csat": {"average": average, "counts": counts, "n": rated},
            "busiest_hours": [{"hour": h, "conversations": int(raw["hours"].get(str(h), 0))}
                              for h in range(24)],
            "top_unanswered": [
                {"question": q.question, "count": q.count,
                 "last_at": int(q.last_at.timestamp() * 1000)}
                for q in top_questions(asked, self.policy.top_unanswered)],
        }
