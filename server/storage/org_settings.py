"""The orgs row's own settings (migration 0020): read into domain OrgPrefs with the org,
written by name, and the facts the onboarding checklist is made of."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from server.domain.org_settings import (
    OrgPrefs,
    Position,
    PrefsChange,
    WidgetLook,
    parse_hours,
)

# selected with the org everywhere it is read (storage/accounts.py's _ORG_COLS)
PREF_COLS = ("widget_color, widget_title, widget_position, widget_locale, handoff_keywords,"
             " unresolved_turns, queue_wait_s, business_hours, offline_message, tags,"
             " kb_threshold")


def prefs_of(row: asyncpg.Record) -> OrgPrefs:
    keywords = row["handoff_keywords"] or {}
    return OrgPrefs(
        look=WidgetLook(row["widget_color"], row["widget_title"],
                        Position(row["widget_position"]) if row["widget_position"] else None,
                        row["widget_locale"]),
        handoff_keywords=tuple((lang, tuple(words)) for lang, words in sorted(keywords.items())
                               if words),
        unresolved_turns=row["unresolved_turns"], queue_wait_s=row["queue_wait_s"],
        # stored only after the same parse, so it parses again
        hours=parse_hours(row["business_hours"]),
        offline_message=row["offline_message"], tags=tuple(row["tags"]),
        kb_threshold=None if row["kb_threshold"] is None else float(row["kb_threshold"]),
    )


def _columns(change: PrefsChange) -> dict[str, Any]:
    p, out = change.prefs, dict[str, Any]()
    if "widget" in change.fields:
        out.update(widget_color=p.look.color, widget_title=p.look.title,
                   widget_position=p.look.position.value if p.look.position else None,
                   widget_locale=p.look.locale)
    if "handoff_keywords" in change.fields:
        out["handoff_keywords"] = {lang: list(words) for lang, words in p.handoff_keywords}
    if "business_hours" in change.fields:
        out["business_hours"] = p.hours.to_json() if p.hours else None
    for name in ("unresolved_turns", "queue_wait_s", "offline_message", "kb_threshold"):
        if name in change.fields:
            out[name] = getattr(p, name)
    if "tags" in change.fields:
        out["tags"] = list(p.tags)
    return out


async def update_prefs(conn: asyncpg.Connection, org_id: UUID, change: PrefsChange) -> None:
    columns = _columns(change)
    if not columns:
        return
    # names come from _columns' fixed list, values are parameters
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    await conn.execute(f"UPDATE orgs SET {sets} WHERE id = $1", org_id, *columns.values())


async def rename(conn: asyncpg.Connection, org_id: UUID, name: str) -> None:
    await conn.execute("UPDATE orgs SET name = $2 WHERE id = $1", org_id, name)


async def mark_snippet_copied(conn: asyncpg.Connection, org_id: UUID) -> None:
    await conn.execute("UPDATE orgs SET snippet_copied_at = coalesce(snippet_copied_at, now())"
                       " WHERE id = $1", org_id)


@dataclass(frozen=True, slots=True)
class SetupFacts:
    has_document: bool
    styled: bool
    snippet_copied: bool
    has_origins: bool
    has_teammate: bool  # a second member, or an invitation still pending


async def setup_facts(conn: asyncpg.Connection, org_id: UUID) -> SetupFacts:
    row = await conn.fetchrow(
        """SELECT EXISTS (SELECT 1 FROM kb_documents d WHERE d.org_id = o.id) AS doc,
                  (o.widget_color IS NOT NULL OR o.widget_title IS NOT NULL
                   OR o.widget_position IS NOT NULL OR o.widget_locale IS NOT NULL) AS styled,
                  o.snippet_copied_at IS NOT NULL AS snippet,
                  cardinality(o.allowed_origins) > 0 AS origins,
                  ((SELECT count(*) FROM users u WHERE u.org_id = o.id) > 1
                   OR EXISTS (SELECT 1 FROM invites i WHERE i.org_id = o.id
                              AND i.accepted_at IS NULL AND i.revoked_at IS NULL
                              AND i.expires_at > now())) AS teammate
           FROM orgs o WHERE o.id = $1""", org_id)
    assert row is not None  # the caller's own org, in its unit of work
    return SetupFacts(row["doc"], row["styled"], row["snippet"], row["origins"],
                      row["teammate"])
