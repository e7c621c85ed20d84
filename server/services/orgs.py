"""Organisations: site key -> org, cached briefly (every visitor hello needs it, and it
rarely changes: a changed allowed-origins list takes effect within the TTL on other
processes), and an org's own settings.

Concurrent misses of one key share one lookup: after a restart thousands of visitors say
hello to an empty cache at once, and one query each kept the pool full for seconds
(`/readyz` could not get a connection).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from uuid import UUID

from server.domain.audit import Actor, AuditAction, Target, TargetKind
from server.domain.org_settings import OrgPrefs, PrefsChange
from server.services.audit import AuditLog
from server.storage import accounts, org_settings
from server.storage.accounts import Org
from server.storage.db import Database

__all__ = ["Org", "OrgDirectory", "SetupFacts"]

SetupFacts = org_settings.SetupFacts


def _pref_values(a: OrgPrefs, b: OrgPrefs) -> list[tuple[str, object, object]]:
    """Each setting's name with its value before and after (only names are audited)."""
    pairs = [("widget", a.look, b.look), ("handoff_keywords", a.handoff_keywords,
                                          b.handoff_keywords),
             ("business_hours", a.hours, b.hours)]
    pairs += [(n, getattr(a, n), getattr(b, n)) for n in (
        "unresolved_turns", "queue_wait_s", "offline_message", "tags", "kb_threshold")]
    return pairs


# a site key as a client may send one: what we issue, and no more than 128 characters
SITE_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")

class OrgDirectory:
    def __init__(self, db: Database, ttl_s: float = 5.0, max_entries: int = 10_000,
                 audit: AuditLog | None = None) -> None:
        self.db = db
        self.audit = audit or AuditLog(db)
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: OrderedDict[str, tuple[float, accounts.Org | None]] = OrderedDict()
        self._lookups: dict[str, asyncio.Future[accounts.Org | None]] = {}
        self.queries = 0

    async def by_site_key(self, site_key: str) -> accounts.Org | None:
        if not SITE_KEY.fullmatch(site_key):
            # no key we issue looks like this (sk_ + URL-safe base64): not worth a query,
            # and a NUL or a lone surrogate would only make Postgres raise
            return None
        now = time.monotonic()
        hit = self._cache.get(site_key)
        if hit is not None and hit[0] > now:
            return hit[1]
        lookup = self._lookups.get(site_key)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup(site_key))
            self._lookups[site_key] = lookup
            lookup.add_done_callback(lambda f: self._done(site_key, f))
        # shielded: one caller giving up (its socket closed) must not cancel the others'
        return await asyncio.shield(lookup)

    def _done(self, site_key: str, lookup: asyncio.Future[accounts.Org | None]) -> None:
        self._lookups.pop(site_key, None)
        if not lookup.cancelled():
            lookup.exception()  # retrieved even when every caller has gone

    async def _lookup(self, site_key: str) -> accounts.Org | None:
        self.queries += 1
        async with self.db.unscoped() as conn:
            org = await accounts.org_by_site_key(conn, site_key)
        self._cache[site_key] = (time.monotonic() + self.ttl_s, org)
        self._cache.move_to_end(site_key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return org

    async def by_id(self, org_id: UUID) -> Org | None:
        """Uncached: settings pages and the rare socket from a foreign origin."""
        async with self.db.unit_of_work(org_id) as conn:
            return await accounts.org_by_id(conn, org_id)

    async def update_settings(self, org_id: UUID, *, allowed_origins: list[str] | None,
                              assignment: str | None, agent_capacity: int | None,
                              actor: Actor, name: str | None = None,
                              prefs: PrefsChange | None = None) -> Org:
        """None leaves a setting as it is. This process's cached copy is dropped at once.
        The names of the settings that changed (never their values) are audited."""
        async with self.db.unit_of_work(org_id) as conn:
            before = await accounts.org_by_id(conn, org_id)
            await accounts.update_org_settings(
                conn, org_id, allowed_origins=allowed_origins, assignment=assignment,
                agent_capacity=agent_capacity)
            if name is not None:
                await org_settings.rename(conn, org_id, name)
            if prefs is not None:
                await org_settings.update_prefs(conn, org_id, prefs)
            org = await accounts.org_by_id(conn, org_id)
            assert before is not None and org is not None  # the principal's own org
            changed = [n for n in ("name", "allowed_origins", "assignment",
                                         "agent_capacity")
                       if getattr(before, n) != getattr(org, n)]
            changed += [n for n, old, new in _pref_values(before.prefs, org.prefs)
                        if old != new]
            if changed:
                await self.audit.record(conn, org_id, actor, AuditAction.ORG_SETTINGS_CHANGED,
                                        Target(TargetKind.ORG, org_id), {"settings": changed})
        self._cache.pop(org.site_key, None)
        return org

    async def setup_facts(self, org_id: UUID) -> SetupFacts:
        """What the onboarding checklist shows done, read from the org's own data."""
        async with self.db.unit_of_work(org_id) as conn:
            return await org_settings.setup_facts(conn, org_id)

    async def snippet_copied(self, org_id: UUID) -> None:
        async with self.db.unit_of_work(org_id) as conn:
            await org_settings.mark_snippet_copied(conn, org_id)
