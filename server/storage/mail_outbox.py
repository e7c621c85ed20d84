"""The mail outbox: `enqueue` in the caller's transaction, claims under a lease, outcomes.

The only reader and writer of a queued message's content (recipient, subject, bodies):
they are personal data, stored as one value sealed under the org's key (bound to the row
id: docs/privacy.md) and blanked as soon as the row is sent or given up."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import asyncpg

from server.mail.base import Mail
from server.storage.envelope import Field, Undecryptable, associated
from server.storage.keys import Keyring

_FORMAT = 1
_PLAIN = ord("{")  # a row queued before encryption at rest: its JSON as it is


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row this worker holds until `lease_until`; its outcome is recorded with the token."""

    id: UUID
    org_id: UUID
    kind: str
    mail: Mail | None  # None: it no longer opens (the org's key was erased)
    attempts: int  # this one included
    lease_token: UUID


def _encode(mail: Mail) -> bytes:
    return json.dumps({
        "v": _FORMAT, "to": mail.to, "subject": mail.subject, "text": mail.text,
        "html": mail.html, "locale": mail.locale, "headers": [list(h) for h in mail.headers],
    }, ensure_ascii=False).encode()


def _decode(content: bytes) -> Mail:
    value = json.loads(content)
    return Mail(value["to"], value["subject"], value["text"], value["html"], value["locale"],
                tuple((name, v) for name, v in value["headers"]))


async def enqueue(conn: asyncpg.Connection, keys: Keyring, org_id: UUID, kind: str,
                  mail: Mail) -> UUID:
    """Queue `mail` in the caller's transaction: it is sent if and only if that commits.
    The row's id is the provider's idempotency key."""
    mail_id = uuid4()
    key = await keys.org_key(conn, org_id)
    await conn.execute(
        "INSERT INTO mail_outbox (id, org_id, kind, content) VALUES ($1, $2, $3, $4)",
        mail_id, org_id, kind, key.seal(_encode(mail), associated(Field.MAIL, org_id, mail_id)))
    return mail_id


async def _open(conn: asyncpg.Connection, keys: Keyring, org_id: UUID, mail_id: UUID,
                content: bytes) -> Mail | None:
    if content[:1] == bytes((_PLAIN,)):
        return _decode(content)
    try:
        key = await keys.org_key(conn, org_id)
        return _decode(key.open(content, associated(Field.MAIL, org_id, mail_id)))
    except Undecryptable:
        return None


async def claim(conn: asyncpg.Connection, keys: Keyring, now: datetime, lease: timedelta,
                limit: int) -> list[Claimed]:
    """Take up to `limit` due rows that nobody holds. SKIP LOCKED lets concurrent claims
    pass each other; the lease keeps a row from the others after this commits, until the
    holder records an outcome or the lease runs out (a crashed holder). Every org's rows:
    only inside Database.system (a job function of migrations/0011); the outcomes are
    recorded in each row's own org. Each row is opened with its org's key (a lookup on a
    miss names that org, as row-level security wants)."""
    token = uuid4()
    rows = await conn.fetch(
        "SELECT id, org_id, kind, content, attempts FROM clienta_mail_claim($1, $2, $3, $4)",
        now, now + lease, limit, token)
    return [Claimed(r["id"], r["org_id"], r["kind"],
                    await _open(conn, keys, r["org_id"], r["id"], r["content"]),
                    r["attempts"], token)
            for r in rows]


async def mark_sent(conn: asyncpg.Connection, claimed: Claimed, provider_id: str,
                    now: datetime) -> bool:
    """False when the lease was lost (another holder records the outcome)."""
    status = await conn.execute(
        "UPDATE mail_outbox SET status = 'sent', content = NULL, provider_id = $3,"
        " finished_at = $4, lease_token = NULL, lease_until = NULL"
        " WHERE id = $1 AND lease_token = $2 AND status = 'pending'",
        claimed.id, claimed.lease_token, provider_id[:200], now)
    return status == "UPDATE 1"


async def mark_retry(conn: asyncpg.Connection, claimed: Claimed, error: str,
                     at: datetime) -> bool:
    status = await conn.execute(
        "UPDATE mail_outbox SET next_attempt_at = $3, last_error = $4,"
        " lease_token = NULL, lease_until = NULL"
        " WHERE id = $1 AND lease_token = $2 AND status = 'pending'",
        claimed.id, claimed.lease_token, at, error)
    return status == "UPDATE 1"


async def mark_failed(conn: asyncpg.Connection, claimed: Claimed, error: str,
                      now: datetime) -> bool:
    """Given up: the content goes (nothing will read it again), the error code stays."""
    status = await conn.execute(
        "UPDATE mail_outbox SET status = 'failed', content = NULL, last_error = $3,"
        " finished_at = $4, lease_token = NULL, lease_until = NULL"
        " WHERE id = $1 AND lease_token = $2 AND status = 'pending'",
        claimed.id, claimed.lease_token, error, now)
    return status == "UPDATE 1"


async def purge_finished(conn: asyncpg.Connection, before: datetime) -> int:
    """Delete rows sent or given up before `before` (they hold no content by then), of
    every org: only inside Database.system."""
    return await conn.fetchval("SELECT clienta_mail_purge($1)", before)
