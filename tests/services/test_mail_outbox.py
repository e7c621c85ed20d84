"""The mail outbox against a real database, the real `resend` SDK and a fake Resend API:
sent once under the row's id, retried with backoff, given up when refused, never twice
across workers, and written as .eml files offline. A database of its own: the session's
server processes run outbox workers on the shared one."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from server.mail import templates
from server.mail.base import Mail
from server.mail.files import FileMailer
from server.mail.resend_client import ResendMailer
from server.services.mail_outbox import MailOutbox, OutboxPolicy
from server.storage import accounts, mail_outbox
from server.storage.db import Database, SystemJob
from server.storage.envelope import MasterKey, MasterKeys
from server.storage.keys import Keyring, destroy_org_key
from server.storage.migrate import apply_migrations
from tests.conftest import TEST_MASTER_KEY
from tests.fakes.resend_server import FakeResend
from tests.storage.databases import fresh_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

SENDER = "Clienta <no-reply@clienta.example>"
POLICY = OutboxPolicy(max_attempts=3, retry_base_s=30.0, retry_max_s=3600.0, lease_s=60.0)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def mail_url(database_url: str) -> str:
    url = await fresh_database(database_url, "mail_")
    await apply_migrations(url)
    return url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def mail_db(mail_url: str) -> AsyncIterator[Database]:
    db = await Database.connect(mail_url, min_size=1, max_size=4, keys=Keyring(
        MasterKeys(MasterKey.parse(TEST_MASTER_KEY))))
    yield db
    await db.close()


@pytest_asyncio.fixture(loop_scope="session")
async def db(mail_db: Database) -> Database:
    async with mail_db.pool.acquire() as conn:
        await conn.execute("DELETE FROM mail_outbox")
    return mail_db


@pytest_asyncio.fixture(loop_scope="session")
async def fake() -> AsyncIterator[FakeResend]:
    async with FakeResend() as server:
        yield server


def resend_outbox(db: Database, fake: FakeResend, policy: OutboxPolicy = POLICY) -> MailOutbox:
    return MailOutbox(db, ResendMailer(fake.api_key, SENDER, base_url=fake.base_url,
                                       timeout_s=5), policy)


async def new_org(db: Database) -> uuid.UUID:
    org_id = uuid.uuid4()
    async with db.unscoped() as conn:
        await accounts.insert_org(conn, org_id, "Mail", f"sk_{org_id.hex}")
    return org_id


def reply_mail(to: str, locale: str = "en", agent: str = "Ann") -> Mail:
    r = templates.conversation_reply(
        locale, org_name="Acme & Sons", agent_name=agent,
        message="Your refund <b>is</b> on its way.\n\nThanks & bye",
        conversation_url="https://help.acme.test/c/1?x=1&y=2",
        settings_url="https://help.acme.test/settings")
    return Mail(to, r.subject, r.text, r.html, templates.locale_of(locale),
                templates.unsubscribe_headers("https://help.acme.test/unsubscribe?t=abc"))


async def queue(db: Database, org_id: uuid.UUID, mail: Mail) -> uuid.UUID:
    async with db.unit_of_work(org_id) as conn:
        return await mail_outbox.enqueue(conn, db.keys, org_id,
                                         templates.MailKind.CONVERSATION_REPLY, mail)


async def row(db: Database, mail_id: uuid.UUID) -> dict:
    async with db.pool.acquire() as conn:
        found = await conn.fetchrow("SELECT * FROM mail_outbox WHERE id = $1", mail_id)
    return dict(found)


def later(seconds: float) -> datetime:
    # past the rows' own next_attempt_at (the database's now() when queued)
    return datetime.now(UTC) + timedelta(seconds=1 + seconds)


async def test_a_queued_mail_is_sent_once_under_its_row_id(db: Database,
                                                           fake: FakeResend) -> None:
    org_id = await new_org(db)
    mail_id = await queue(db, org_id, reply_mail("visitor@example.com"))
    # queued: sealed under the org's key, nothing of it readable in the row
    queued = (await row(db, mail_id))["content"]
    assert b"visitor@example.com" not in queued and b"refund" not in queued
    outbox = resend_outbox(db, fake)
    t = later(0)
    assert await outbox.run_once(now=t) == 1
    assert await outbox.run_once(now=t) == 0
    [sent] = fake.deliveries
    assert sent.key == str(mail_id)
    assert fake.received[0].headers["Authorization"] == f"Bearer {fake.api_key}"
    body = sent.body
    assert body["from"] == SENDER and body["to"] == ["visitor@example.com"]
    assert body["subject"] == "Ann replied to your conversation with Acme & Sons"
    assert "Your refund <b>is</b> on its way." in body["text"]
    assert "Your refund &lt;b&gt;is&lt;/b&gt; on its way." in body["html"]
    assert body["headers"]["Content-Language"] == "en"
    assert body["headers"]["List-Unsubscribe"] == "<https://help.acme.test/unsubscribe?t=abc>"
    done = await row(db, mail_id)
    # sent: the personal content is gone, the row stays (a retry is recognised by it)
    assert done["status"] == "sent" and done["content"] is None
    assert done["provider_id"] == sent.id and done["attempts"] == 1
    assert done["org_id"] == org_id


async def test_mail_of_a_rolled_back_change_is_never_queued(db: Database) -> None:
    org_id = await new_org(db)
    with pytest.raises(RuntimeError):
        async with db.unit_of_work(org_id) as conn:
            await mail_outbox.enqueue(conn, db.keys, org_id, templates.MailKind.CONVERSATION_REPLY,
                                      reply_mail("nobody@example.com"))
            raise RuntimeError("the change failed")
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM mail_outbox WHERE org_id = $1",
                                   org_id) == 0


async def test_rate_limits_and_outages_are_retried_with_backoff(db: Database,
                                                                fake: FakeResend) -> None:
    mail_id = await queue(db, await new_org(db), reply_mail("wait@example.com"))
    outbox = resend_outbox(db, fake)
    t0 = later(0)
    fake.fail_next(429, retry_after_s=2)
    assert await outbox.run_once(now=t0) == 1
    r = await row(db, mail_id)
    assert (r["status"], r["attempts"], r["last_error"]) == ("pending", 1,
                                                             "429:rate_limit_exceeded")
    # Retry-After asked for 2 s: the backoff's 30 s is longer and wins
    assert r["next_attempt_at"] == t0 + timedelta(seconds=30)
    assert await outbox.run_once(now=t0 + timedelta(seconds=29)) == 0  # not due yet
    fake.fail_next(503)
    t1 = t0 + timedelta(seconds=30)
    assert await outbox.run_once(now=t1) == 1
    r = await row(db, mail_id)
    assert (r["attempts"], r["last_error"]) == (2, "503:application_error")
    assert r["next_attempt_at"] == t1 + timedelta(seconds=60)  # doubled
    assert await outbox.run_once(now=t1 + timedelta(seconds=60)) == 1
    r = await row(db, mail_id)
    assert (r["status"], r["attempts"]) == ("sent", 3)
    assert [d.key for d in fake.deliveries] == [str(mail_id)]
    assert [x.status for x in fake.received] == [429, 503, 200]
    # a Retry-After longer than the backoff is honoured
    other = await queue(db, await new_org(db), reply_mail("slow@example.com"))
    fake.fail_next(429, retry_after_s=600)
    assert await outbox.run_once(now=t0) == 1
    assert (await row(db, other))["next_attempt_at"] == t0 + timedelta(seconds=600)


async def test_a_refused_mail_is_given_up_at_once_and_its_address_never_logged(
        db: Database, fake: FakeResend, caplog: pytest.LogCaptureFixture) -> None:
    address = "refused-person@example.com"
    fake.refused.add(address)
    mail_id = await queue(db, await new_org(db), reply_mail(address))
    caplog.set_level(logging.INFO, logger="clienta.mail")
    outbox = resend_outbox(db, fake)
    assert await outbox.run_once(now=later(0)) == 1
    r = await row(db, mail_id)
    assert (r["status"], r["attempts"], r["last_error"]) == ("failed", 1,
                                                             "422:validation_error")
    assert r["content"] is None and r["finished_at"] is not None
    assert await outbox.run_once(now=later(7200)) == 0  # never tried again
    assert fake.deliveries == []
    assert any(rec.getMessage() == "mail given up" for rec in caplog.records)
    logged = caplog.text + "".join(str(vars(rec)) for rec in caplog.records)
    assert address not in logged and "refused-person" not in logged


async def test_a_mail_that_keeps_failing_is_given_up_after_max_attempts(
        db: Database, fake: FakeResend) -> None:
    mail_id = await queue(db, await new_org(db), reply_mail("down@example.com"))
    outbox = resend_outbox(db, fake)
    fake.fail_next(500, count=10)
    t = later(0)
    for _ in range(POLICY.max_attempts):
        assert await outbox.run_once(now=t) == 1
        t = (await row(db, mail_id))["next_attempt_at"]
    r = await row(db, mail_id)
    assert (r["status"], r["attempts"], r["last_error"]) == ("failed", 3,
                                                             "500:application_error")
    assert fake.deliveries == []


async def test_two_workers_on_two_pools_never_send_one_row_twice(
        db: Database, fake: FakeResend, mail_url: str) -> None:
    org_id = await new_org(db)
    ids = {await queue(db, org_id, reply_mail(f"v{n}@example.com")) for n in range(24)}
    fake.latency_s = 0.02  # sends overlap the other worker's claims
    other_db = await Database.connect(mail_url, min_size=1, max_size=2, keys=Keyring(
        MasterKeys(MasterKey.parse(TEST_MASTER_KEY))))
    try:
        policy = OutboxPolicy(batch=4, lease_s=60.0)
        workers = [resend_outbox(db, fake, policy), resend_outbox(other_db, fake, policy)]
        t = later(0)

        async def drain(worker: MailOutbox) -> int:
            claimed = 0
            while n := await worker.run_once(now=t):
                claimed += n
            return claimed

        counts = await asyncio.gather(*(drain(w) for w in workers))
    finally:
        await other_db.close()
    assert sum(counts) == len(ids) and min(counts) > 0  # both took part
    # one request per row: the claim kept them apart (not Resend's idempotency)
    assert sorted(x.headers["Idempotency-Key"] for x in fake.received) == sorted(map(str, ids))
    assert fake.deliveries_by_key() == {str(i): 1 for i in ids}


async def test_a_send_cut_short_goes_out_again_under_the_same_key_and_once(
        db: Database, fake: FakeResend) -> None:
    """A worker that crashed after Resend took the message but before recording it: the
    lease runs out, another worker sends the row again under the same key, Resend answers
    from the first request, and the row is marked sent with the first message's id."""
    mail_id = await queue(db, await new_org(db), reply_mail("crash@example.com"))
    t = later(0)
    async with db.system(SystemJob.MAIL_OUTBOX) as conn:
        [held] = await mail_outbox.claim(conn, db.keys, t, timedelta(seconds=60), 10)
    mailer = ResendMailer(fake.api_key, SENDER, base_url=fake.base_url, timeout_s=5)
    first_id = await mailer.send(held.mail, str(held.id))  # ...and the worker dies here
    outbox = resend_outbox(db, fake)
    assert await outbox.run_once(now=t + timedelta(seconds=59)) == 0  # still leased
    assert await outbox.run_once(now=t + timedelta(seconds=60)) == 1
    r = await row(db, mail_id)
    assert (r["status"], r["attempts"], r["provider_id"]) == ("sent", 2, first_id)
    assert len(fake.received) == 2 and len(fake.deliveries) == 1
    # the crashed worker's late outcome is refused: its lease is gone
    async with db.pool.acquire() as conn:
        assert not await mail_outbox.mark_failed(conn, held, "late", t)


async def test_finished_rows_are_purged_after_the_retention(db: Database,
                                                            fake: FakeResend) -> None:
    mail_id = await queue(db, await new_org(db), reply_mail("old@example.com"))
    pending = await queue(db, await new_org(db), reply_mail("later@example.com"))
    outbox = resend_outbox(db, fake)
    t = later(0)
    async with db.pool.acquire() as conn:  # only the first is due
        await conn.execute("UPDATE mail_outbox SET next_attempt_at = $2 WHERE id = $1",
                           pending, t + timedelta(days=30))
    assert await outbox.run_once(now=t) == 1
    assert await outbox.purge(now=t + POLICY.retention - timedelta(seconds=1)) == 0
    assert await outbox.purge(now=t + POLICY.retention + timedelta(seconds=1)) == 1
    async with db.pool.acquire() as conn:
        left = {r["id"] for r in await conn.fetch("SELECT id FROM mail_outbox")}
    assert left == {pending}  # a pending row is never purged
    assert mail_id not in left


async def test_offline_mail_is_an_eml_file_with_both_parts_escaped(
        db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="clienta.mail")
    mail_id = await queue(db, await new_org(db), reply_mail(
        "visitor@example.com", agent='<img src=x onerror="alert(1)">'))
    outbox = MailOutbox(db, FileMailer(tmp_path / "mail"), POLICY)
    assert await outbox.run_once(now=later(0)) == 1
    path = tmp_path / "mail" / f"{mail_id}.eml"
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == "visitor@example.com" and message["Content-Language"] == "en"
    assert message["List-Unsubscribe"] == "<https://help.acme.test/unsubscribe?t=abc>"
    text = message.get_body(("plain",)).get_content()
    page = message.get_body(("html",)).get_content()
    assert '<img src=x onerror="alert(1)">' in text  # plain text is shown as text
    assert "<img" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "&lt;b&gt;is&lt;/b&gt;" in page and "Thanks &amp; bye" in page
    assert 'href="https://help.acme.test/c/1?x=1&amp;y=2"' in page
    assert (await row(db, mail_id))["status"] == "sent"
    [written] = [rec for rec in caplog.records if rec.getMessage() == "mail written"]
    assert written.path == str(path)
    assert "visitor@example.com" not in caplog.text + str(vars(written))


async def test_thai_mail_is_in_thai_in_both_parts(db: Database, tmp_path: Path) -> None:
    mail_id = await queue(db, await new_org(db), reply_mail("th@example.com", "th-TH"))
    outbox = MailOutbox(db, FileMailer(tmp_path / "mail"), POLICY)
    assert await outbox.run_once(now=later(0)) == 1
    message = email.message_from_bytes((tmp_path / "mail" / f"{mail_id}.eml").read_bytes(),
                                       policy=email.policy.default)
    assert message["Subject"] == "Ann ตอบกลับการสนทนาของคุณกับ Acme & Sons"
    assert message["Content-Language"] == "th"
    assert "ตอบกลับว่า" in message.get_body(("plain",)).get_content()
    page = message.get_body(("html",)).get_content()
    assert '<html lang="th">' in page and "สนทนาต่อ" in page



async def test_a_row_queued_before_encryption_still_goes_and_an_erased_orgs_does_not(
        db: Database, fake: FakeResend) -> None:
    """A row queued in plaintext before encryption at rest is sent as it is; a sealed row
    whose org key was destroyed meanwhile is given up (nothing of it can be sent)."""
    old_org, erased_org = await new_org(db), await new_org(db)
    plain = uuid.uuid4()
    async with db.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO mail_outbox (id, org_id, kind, content) VALUES ($1, $2, 'reply', $3)",
            plain, old_org, b'{"v": 1, "to": "old@example.com", "subject": "s", "text": "t",'
            b' "html": "<p>t</p>", "locale": "en", "headers": []}')
    sealed = await queue(db, erased_org, reply_mail("gone@example.com"))
    async with db.unit_of_work(erased_org) as conn:
        await destroy_org_key(conn, erased_org, datetime.now(UTC))
    db.keys.forget_org(erased_org)
    assert await resend_outbox(db, fake).run_once(now=later(0)) == 2
    assert [d.body["to"] for d in fake.deliveries] == [["old@example.com"]]
    assert (await row(db, plain))["status"] == "sent"
    gone = await row(db, sealed)
    assert gone["status"] == "failed" and gone["last_error"] == "key_erased"
    assert gone["content"] is None
