"""Insights' rules without I/O: the period asked for (dates in a time zone, bounded), and
how unanswered questions are grouped into "top" ones (docs/insights.md defines each figure)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.domain.text import normalise


class PeriodError(ValueError):
    """The period cannot be served: the message says why (it names no stored value)."""


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days `first`..`last` (both included) in time zone `tz`."""

    first: date
    last: date
    tz: str = "UTC"

    @classmethod
    def parse(cls, first: str, last: str, tz: str | None, max_days: int) -> Period:
        try:
            start, end = date.fromisoformat(first), date.fromisoformat(last)
        except ValueError:
            raise PeriodError("from and to must be dates (YYYY-MM-DD)") from None
        if len(first) != 10 or len(last) != 10:
            raise PeriodError("from and to must be dates (YYYY-MM-DD)")
        if end < start:
            raise PeriodError("to must not be before from")
        if (end - start).days + 1 > max_days:
            raise PeriodError(f"a period is at most {max_days} days")
        zone = tz or "UTC"
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise PeriodError("tz must be an IANA time zone such as Asia/Bangkok") from None
        return cls(start, end, zone)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def bounds(self) -> tuple[datetime, datetime]:
        """[start of `first`, start of the day after `last`) in the zone, as UTC instants."""
        zone = ZoneInfo(self.tz)
        start = datetime.combine(self.first, time(), zone)
        end = datetime.combine(self.last + timedelta(days=1), time(), zone)
        return start.astimezone(UTC), end.astimezone(UTC)


_PUNCT = re.compile(r"[\s\"'“”‘’.,!?？！。…]+")


def question_key(text: str) -> str:
    """Questions that differ only in case, width, spacing or punctuation count as one."""
    return _PUNCT.sub(" ", normalise(text)).strip()


@dataclass(frozen=True, slots=True)
class TopQuestion:
    question: str  # the most recent wording of the group
    count: int
    last_at: datetime


def top_questions(asked: Iterable[tuple[str, datetime]], limit: int) -> list[TopQuestion]:
    """The most asked questions, most first (ties: most recently asked first). `asked` is
    (text, when) newest first."""
    groups: dict[str, TopQuestion] = {}
    for text, at in asked:
        key = question_key(text)
        if not key:
            continue
        seen = groups.get(key)
        if seen is None:
            groups[key] = TopQuestion(text.strip(), 1, at)
        else:
            groups[key] = TopQuestion(seen.question, seen.count + 1, max(seen.last_at, at))
    ranked = sorted(groups.values(), key=lambda q: (-q.count, -q.last_at.timestamp()))
    return ranked[:limit]
