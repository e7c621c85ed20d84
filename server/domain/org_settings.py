"""An organisation's own settings beyond access: the widget's look, its handoff keywords,
turn and wait limits, business hours and tags; their bounds, validation and meaning.
No I/O: storage builds them from the orgs row, http parses a PATCH body into a change."""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Bounds of what an org may set (the form shows them; the server refuses anything else).
MAX_TITLE = 80
MAX_OFFLINE_MESSAGE = 500
MAX_KEYWORDS = 30  # per language
KEYWORD_LEN = (2, 60)
UNRESOLVED_TURNS = (1, 10)
QUEUE_WAIT_S = (30, 86_400)
MAX_INTERVALS = 3  # business hours: open intervals per day
MAX_TAGS = 100
TAG_LEN = 40
LOCALES = ("en", "th")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_COLOR = re.compile(r"#[0-9a-f]{6}")
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|24:00")
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}")


class SettingError(ValueError):
    """A value the org may not set; the message names the field and the rule."""


class Position(StrEnum):
    LEFT = "left"
    RIGHT = "right"


@dataclass(frozen=True, slots=True)
class WidgetLook:
    """None: the widget's own default (an embed attribute still wins over any of these)."""

    color: str | None = None
    title: str | None = None
    position: Position | None = None
    locale: str | None = None

    def styled(self) -> bool:
        return any(v is not None for v in (self.color, self.title, self.position, self.locale))

    def to_json(self) -> dict[str, Any]:
        return {"color": self.color, "title": self.title,
                "position": self.position.value if self.position else None,
                "locale": self.locale}


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """A weekly table in one time zone: per day (Monday first) the open intervals in
    minutes from midnight, [open, close). A day without intervals is closed all day."""

    timezone: str
    week: tuple[tuple[tuple[int, int], ...], ...]

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week[local.weekday()])

    def to_json(self) -> dict[str, Any]:
        def clock(m: int) -> str:
            return f"{m // 60:02d}:{m % 60:02d}"

        return {"timezone": self.timezone,
                "days": {day: [[clock(a), clock(b)] for a, b in spans]
                         for day, spans in zip(DAYS, self.week, strict=True)}}


@dataclass(frozen=True, slots=True)
class OrgPrefs:
    look: WidgetLook = field(default_factory=WidgetLook)
    # per language: English matched as whole words, Thai inside the text without spaces
    handoff_keywords: tuple[tuple[str, tuple[str, ...]], ...] = ()
    unresolved_turns: int | None = None  # None: CLIENTA_MAX_UNRESOLVED_TURNS
    queue_wait_s: int | None = None  # None: CLIENTA_QUEUE_WAIT
    hours: BusinessHours | None = None  # None: always open
    offline_message: str = ""
    tags: tuple[str, ...] = ()
    kb_threshold: float | None = None  # None: CLIENTA_KB_THRESHOLD

    def keywords(self, locale: str) -> tuple[str, ...]:
        return next((words for lang, words in self.handoff_keywords if lang == locale), ())

    def asks_for_human(self, text: str) -> bool:
        """The visitor used one of the org's own handoff keywords (in any language: a
        visitor's locale does not say which language they type in)."""
        if not self.handoff_keywords:
            return False
        norm = unicodedata.normalize("NFC", text).casefold()
        compact = norm.replace(" ", "")
        for lang, words in self.handoff_keywords:
            for word in words:
                w = word.casefold()
                if lang == "th":
                    if w.replace(" ", "") in compact:
                        return True
                elif re.search(r"(?<!\w)" + re.escape(w) + r"(?!\w)", norm):
                    return True
        return False

    def open_at(self, at: datetime) -> bool:
        return self.hours is None or self.hours.is_open(at)

    def to_json(self) -> dict[str, Any]:
        return {"widget": self.look.to_json(),
                "handoff_keywords": {lang: list(self.keywords(lang)) for lang in LOCALES},
                "unresolved_turns": self.unresolved_turns, "queue_wait_s": self.queue_wait_s,
                "business_hours": self.hours.to_json() if self.hours else None,
                "offline_message": self.offline_message, "tags": list(self.tags),
                "kb_threshold": self.kb_threshold}


# ---- parsing what a PATCH sends (and what storage kept, which passed the same rules) --

def _text(value: Any, name: str, max_len: int, min_len: int = 0) -> str:
    if not isinstance(value, str):
        raise SettingError(f"{name} must be a string")
    text = unicodedata.normalize("NFC", value.strip())
    if not min_len <= len(text) <= max_len:
        raise SettingError(f"{name} must be {min_len}-{max_len} characters")
    if any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\n" for c in text):
        raise SettingError(f"{name} must not contain control characters")
    return text


def _int(value: Any, name: str, bounds: tuple[int, int]) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not (
            bounds[0] <= value <= bounds[1]):
        raise SettingError(f"{name} must be an integer from {bounds[0]} to {bounds[1]}")
    return value


def parse_look(value: Any) -> WidgetLook:
    if not isinstance(value, dict) or set(value) - {"color", "title", "position", "locale"}:
        raise SettingError("widget must be an object of color, title, position and locale")
    color, title = value.get("color"), value.get("title")
    position, locale = value.get("position"), value.get("locale")
    if color is not None and not (isinstance(color, str) and _COLOR.fullmatch(color.lower())):
        raise SettingError("widget.color must be a colour as #rrggbb")
    if position is not None and position not in ("left", "right"):
        raise SettingError("widget.position must be left or right")
    if locale is not None and locale not in LOCALES:
        raise SettingError("widget.locale must be en or th")
    return WidgetLook(color.lower() if color else None,
                      _text(title, "widget.title", MAX_TITLE) or None if title is not None
                      else None,
                      Position(position) if position else None, locale)


def parse_keywords(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict) or set(value) - set(LOCALES):
        raise SettingError("handoff_keywords must be an object keyed by en and th")
    out = []
    for lang in LOCALES:
        words = value.get(lang) or []
        if not isinstance(words, list) or len(words) > MAX_KEYWORDS:
            raise SettingError(f"handoff_keywords.{lang} must be a list of at most "
                               f"{MAX_KEYWORDS} keywords")
        clean = [_text(w, f"handoff_keywords.{lang}", KEYWORD_LEN[1], KEYWORD_LEN[0])
                 for w in words]
        if clean:
            out.append((lang, tuple(dict.fromkeys(clean))))
    return tuple(out)


def _minutes(value: Any, name: str) -> int:
    m = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise SettingError(f"{name} must be a time as HH:MM (00:00-24:00)")
    if value == "24:00":
        return 1440
    return int(m.group(1)) * 60 + int(m.group(2))


def parse_hours(value: Any) -> BusinessHours | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"timezone", "days"}:
        raise SettingError("business_hours must be an object of timezone and days")
    zone = value.get("timezone")
    try:
        if not (isinstance(zone, str) and len(zone) <= 64 and _ZONE.fullmatch(zone)):
            raise ValueError(zone)
        ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        raise SettingError("business_hours.timezone must be an IANA time zone such as "
                           "Asia/Bangkok") from None
    days = value.get("days")
    if not isinstance(days, dict) or set(days) - set(DAYS):
        raise SettingError("business_hours.days must be an object keyed by mon..sun")
    week = []
    for day in DAYS:
        spans = days.get(day) or []
        if not isinstance(spans, list) or len(spans) > MAX_INTERVALS:
            raise SettingError(f"business_hours.days.{day} must be a list of at most "
                               f"{MAX_INTERVALS} [open, close] pairs")
        parsed = []
        for span in spans:
            if not (isinstance(span, list) and len(span) == 2):
                raise SettingError(f"business_hours.days.{day} must hold [open, close] pairs")
            start, end = (_minutes(v, f"business_hours.days.{day}") for v in span)
            if start >= end:
                raise SettingError(f"business_hours.days.{day}: each interval must open "
                                   "before it closes (split one past midnight over two days)")
            parsed.append((start, end))
        parsed.sort()
        if any(a[1] > b[0] for a, b in itertools.pairwise(parsed)):
            raise SettingError(f"business_hours.days.{day}: intervals must not overlap")
        week.append(tuple(parsed))
    return BusinessHours(zone, tuple(week))


def parse_tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise SettingError(f"tags must be a list of at most {MAX_TAGS} tags")
    # the conversations' own rule (services/tags.py): case-insensitive, trimmed
    return tuple(sorted({_text(t, "tags", TAG_LEN, 1).lower() for t in value}))


def parse_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise SettingError("kb_threshold must be a number from 0 to 1")
    return float(value)


@dataclass(frozen=True, slots=True)
class PrefsChange:
    """What a PATCH set: only the names in `fields` change (a None there clears it)."""

    fields: frozenset[str]
    prefs: OrgPrefs


PREF_FIELDS = ("widget", "handoff_keywords", "unresolved_turns", "queue_wait_s",
               "business_hours", "offline_message", "tags", "kb_threshold")


def parse_change(body: dict[str, Any]) -> PrefsChange:
    """The preference fields present in a PATCH body; null clears the nullable ones."""
    given = {name for name in PREF_FIELDS if name in body}
    v = body.get
    prefs = OrgPrefs(
        look=parse_look(v("widget")) if v("widget") is not None else WidgetLook(),
        handoff_keywords=parse_keywords(v("handoff_keywords") or {}),
        unresolved_turns=None if v("unresolved_turns") is None
        else _int(v("unresolved_turns"), "unresolved_turns", UNRESOLVED_TURNS),
        queue_wait_s=None if v("queue_wait_s") is None
        else _int(v("queue_wait_s"), "queue_wait_s", QUEUE_WAIT_S),
        hours=parse_hours(v("business_hours")),
        offline_message=_text(v("offline_message") or "", "offline_message",
                              MAX_OFFLINE_MESSAGE),
        tags=parse_tags(v("tags") or []),
        kb_threshold=None if v("kb_threshold") is None else parse_threshold(v("kb_threshold")),
    )
    return PrefsChange(frozenset(given), prefs)
