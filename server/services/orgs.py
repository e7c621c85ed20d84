"""Site key -> organisation, cached briefly: every visitor hello needs it, and it rarely
changes (a changed allowed-origins list takes effect within the TTL)."""

from __future__ import annotations

import time
from collections import OrderedDict

from server.storage import accounts
from server.storage.db import Database


class OrgDirectory:
    def __init__(self, db: Database, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: OrderedDict[str, tuple[float, accounts.Org | None]] = OrderedDict()

    async def by_site_key(self, site_key: str) -> accounts.Org | None:
        now = time.monotonic()
        hit = self._cache.get(site_key)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self.db.unscoped() as conn:
            org = await accounts.org_by_site_key(conn, site_key)
        self._cache[site_key] = (now + self.ttl_s, org)
        self._cache.move_to_end(site_key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return org
