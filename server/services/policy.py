"""The privacy policy's versions (PDPA; docs/privacy.md "Policy changes"): an operator
publishes one with the day it takes effect; a material change is dated at least 30 days
ahead and every live org's owners are mailed at once (the console shows a banner)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from server.mail import privacy_templates as mails
from server.services.metering import queue_mail
from server.storage import billing as billing_store
from server.storage import lifecycle as store
from server.storage.db import Database, SystemJob
from server.storage.keys import UnknownMasterKey

log = logging.getLogger("clienta.policy")

NOTICE_DAYS = 30  # a material change takes effect no sooner than this after publication


class PolicyRefused(Exception):
    """A version that cannot be published as given (the message says why)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class PolicyVersions:
    def __init__(self, db: Database, public_url: str,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.db = db
        self.public_url = public_url
        self.clock = clock

    async def publish(self, version: str, effective_on: date, material: bool,
                      summary: str | None) -> tuple[int, int]:
        """Store the version; for a material change, mail every live org's owners. Returns
        how many orgs were told, and how many could not be."""
        now = self.clock()
        if not 1 <= len(version) <= 32:
            raise PolicyRefused("a version is 1 to 32 characters")
        if effective_on < now.date():
            raise PolicyRefused("a version cannot take effect in the past")
        earliest = (now + timedelta(days=NOTICE_DAYS)).date()
        if material and effective_on < earliest:
            raise PolicyRefused(f"a material change takes effect at least {NOTICE_DAYS} days "
                                f"after it is published: {earliest.isoformat()} or later")
        async with self.db.system(SystemJob.POLICY_NOTICE) as conn:
            if not await store.publish_policy(conn, version, effective_on, material, summary,
                                              now):
                raise PolicyRefused(f"version {version} exists already")
            orgs = await store.live_orgs(conn) if material else []
        told = 0
        for org_id in orgs:
            try:
                async with self.db.unit_of_work(org_id) as conn:
                    for email, locale in await billing_store.owners(conn, org_id):
                        rendered = mails.policy_changed(
                            locale, version=version, date=effective_on.isoformat(),
                            summary=summary or "", url=f"{self.public_url}/privacy")
                        await queue_mail(conn, self.db.keys, org_id,
                                         mails.LifecycleMail.POLICY_CHANGED, email, locale,
                                         rendered)
                told += 1
            except UnknownMasterKey:
                # an org whose key no configured master key opens (a rotation without
                # CLIENTA_MASTER_KEY_PREVIOUS): the others are still told; it is reported
                log.error("policy notice not queued: the org's key cannot be opened",
                          extra={"org_id": str(org_id)})
        log.info("policy version published",
                 extra={"version": version, "orgs": len(orgs), "told": told})
        return told, len(orgs) - told
