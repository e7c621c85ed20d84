"""Notification mail people expect (docs/mail.md "Notifications"): a follow-up request to
the org's inbox, agents' replies to the visitor (debounced, swept), a transcript on
request, waiting conversations to offline agents, new-device sign-ins; settings and
unsubscribe links. Every mail is queued in the transaction of the change that caused it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from uuid import UUID

import asyncpg

from server.domain.notices import USER_SETTINGS, NoticeKind, NoticeSigner, Unsubscribe, agent_family
from server.domain.roles import Role
from server.mail import notices as mails
from server.mail.base import Mail
from server.mail.templates import (
    MailKind,
    Rendered,
    conversation_reply,
    locale_of,
    unsubscribe_headers,
)
from server.services.mail_outbox import MailOutbox
from server.services.rate_limits import RateLimiter, Scope
from server.storage import conversations as convs
from server.storage import mail_outbox, messages
from server.storage import notifications as store
from server.storage.db import Database, SystemJob

log = logging.getLogger("clienta.notifications")

SWEEP_BATCH = 100
# who may take a waiting conversation, and so hears that one waits
TAKERS = (Role.OWNER.value, Role.ADMIN.value, Role.AGENT.value)


class TranscriptRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # "rate_limited" | "no_address"


@dataclass(frozen=True, slots=True)
class NoticePolicy:
    public_url: str
    reply_delay: timedelta = timedelta(minutes=5)
    sweep_s: float = 10.0
    waiting_default_s: int = 600
    transcript_days: float = 30.0
    max_messages: int = 200


@dataclass(frozen=True, slots=True)
class TranscriptPage:
    org_name: str
    locale: str
    lines: list[mails.Line]
    expires_at: datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


class Notifications:
    def __init__(self, db: Database, outbox: MailOutbox, signer: NoticeSigner,
                 limiter: RateLimiter, policy: NoticePolicy, *,
                 online_users: Callable[[UUID], Awaitable[set[UUID]]]) -> None:
        self.db = db
        self.outbox = outbox
        self.signer = signer
        self.limiter = limiter
        self.policy = policy
        # presence's online users of an org: who is offline gets the waiting alert
        self.online_users = online_users
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_every(), name="notification-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    # ---- links ------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.policy.public_url + path

    def unsubscribe_url(self, kind: NoticeKind, org_id: UUID, subject_id: UUID) -> str:
        token = self.signer.unsubscribe_token(kind, org_id, subject_id)
        return self._url(f"/v1/unsubscribe?token={quote(token)}")

    def transcript_url(self, org_id: UUID, conversation_id: UUID, now: datetime) -> str:
        expires = now + timedelta(days=self.policy.transcript_days)
        token = self.signer.transcript_token(org_id, conversation_id, expires)
        # a query value, never a path: error reports carry paths and query names only
        return self._url(f"/c?token={quote(token)}")

    async def _queue(self, conn: asyncpg.Connection, org_id: UUID, kind: str, to: str,
                     locale: str, rendered: Rendered,
                     unsubscribe: tuple[NoticeKind, UUID] | None) -> None:
        headers = () if unsubscribe is None else unsubscribe_headers(
            self.unsubscribe_url(unsubscribe[0], org_id, unsubscribe[1]))
        await mail_outbox.enqueue(conn, self.db.keys, org_id, kind, Mail(
            to, rendered.subject, rendered.text, rendered.html, locale, headers))

    async def _lines(self, conn: asyncpg.Connection, org_id: UUID, conversation_id: UUID,
                     locale: str, *, after: int = 0, for_staff: bool = False
                     ) -> list[mails.Line]:
        """The conversation's visible messages (never notes), system lines left out."""
        events = await messages.after(conn, self.db.keys, org_id, conversation_id, after,
                                      include_notes=False, limit=self.policy.max_messages)
        return [mails.Line(mails.who(locale, e.author_role, e.author_name, for_staff=for_staff),
                           e.text) for e in events if e.author_role != "system"]

    # ---- a follow-up address left while nobody was online -----------------------------

    async def followup_left(self, conn: asyncpg.Connection, org_id: UUID,
                            conversation_id: UUID, visitor_email: str) -> bool:
        """In the caller's transaction (the one storing the address): the org's inbox
        address, or each owner when it set none, gets the request and the conversation so
        far. False when the org stopped these mails."""
        if await store.opted_out(conn, org_id, [org_id], NoticeKind.INBOX):
            return False
        settings = await store.org_settings(conn, org_id)
        owners = await store.staff(conn, org_id, (Role.OWNER.value,))
        first_locale = owners[0].locale if owners else "en"
        to = ([(settings.inbox_email, first_locale)] if settings.inbox_email
              else [(o.email, o.locale) for o in owners])
        name = await store.org_name(conn, org_id)
        for address, locale in to:
            rendered = mails.followup_inbox(
                locale, org_name=name, visitor_email=visitor_email,
                lines=await self._lines(conn, org_id, conversation_id, locale, for_staff=True),
                console_url=self._url("/console"),
                settings_url=self.unsubscribe_url(NoticeKind.INBOX, org_id, org_id))
            await self._queue(conn, org_id, mails.NoticeMail.FOLLOWUP_INBOX, address, locale,
                              rendered, (NoticeKind.INBOX, org_id))
        return bool(to)

    # ---- sweeps: agents' replies to visitors, waiting conversations --------------------

    async def _sweep_every(self) -> None:
        while True:
            await asyncio.sleep(self.policy.sweep_s)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification sweep failed")

    async def sweep(self) -> int:
        """One pass of both sweeps (every process runs them: each mail's own transaction
        decides which process queues it); how many mails were queued."""
        now = utc_now()
        async with self.db.system(SystemJob.NOTIFICATIONS) as conn:
            replies = await store.replies_due(conn, now - self.policy.reply_delay, SWEEP_BATCH)
            waits = await store.waits_due(conn, self.policy.waiting_default_s, SWEEP_BATCH)
        queued = 0
        for org_id, conversation_id in replies:
            queued += await self._mail_replies(org_id, conversation_id, now)
        for org_id, conversation_id, queued_at in waits:
            queued += await self._alert_wait(org_id, conversation_id, queued_at, now)
        if queued:
            self.outbox.wake()
        return queued

    async def _mail_replies(self, org_id: UUID, conversation_id: UUID, now: datetime) -> int:
        """The agents' replies the visitor has neither read nor been mailed, in one mail."""
        async with self.db.unit_of_work(org_id) as conn:
            taken = await store.take_replies(conn, org_id, conversation_id)
            if taken is None:
                return 0
            start, end, visitor_id = taken
            visitor = await convs.visitor_details(conn, self.db.keys, org_id, visitor_id)
            address, locale = visitor.get("email"), locale_of(visitor.get("locale"))
            events = await messages.after(conn, self.db.keys, org_id, conversation_id, start,
                                          include_notes=False, limit=self.policy.max_messages)
            replies = [e for e in events if e.seq <= end and e.author_role == "agent"]
            if not address or not replies:
                return 0  # erased, or only the visitor's own or system messages
            rendered = conversation_reply(
                locale, org_name=await store.org_name(conn, org_id),
                agent_name=replies[-1].author_name or mails.who(locale, "agent", None),
                message="\n\n".join(e.text for e in replies),
                conversation_url=self.transcript_url(org_id, conversation_id, now),
                settings_url=self.unsubscribe_url(NoticeKind.REPLIES, org_id, visitor_id))
            await self._queue(conn, org_id, MailKind.CONVERSATION_REPLY, address, locale,
                              rendered, (NoticeKind.REPLIES, visitor_id))
        return 1

    async def _alert_wait(self, org_id: UUID, conversation_id: UUID, queued_at: datetime,
                          now: datetime) -> int:
        """Each agent who is offline and has not stopped these hears of it, once a wait."""
        try:
            online = await self.online_users(org_id)
        except Exception:
            return 0  # presence unknown: better no alert now than one to everybody
        async with self.db.unit_of_work(org_id) as conn:
            if not await store.take_wait(conn, org_id, conversation_id, queued_at):
                return 0
            people = [p for p in await store.staff(conn, org_id, TAKERS)
                      if p.user_id not in online]
            stopped = await store.opted_out(conn, org_id, [p.user_id for p in people],
                                            NoticeKind.WAITING)
            people = [p for p in people if p.user_id not in stopped]
            if not people:
                return 0
            turns = await messages.recent_turns(conn, self.db.keys, org_id, conversation_id,
                                                limit=10)
            preview = next((text for role, text in reversed(turns) if role == "visitor"), "")
            name = await store.org_name(conn, org_id)
            minutes = max(1, int((now - queued_at).total_seconds() // 60))
            for p in people:
                rendered = mails.waiting_alert(
                    p.locale, org_name=name, minutes=minutes, preview=preview,
                    console_url=self._url("/console"),
                    settings_url=self.unsubscribe_url(NoticeKind.WAITING, org_id, p.user_id))
                await self._queue(conn, org_id, mails.NoticeMail.WAITING_ALERT, p.email,
                                  p.locale, rendered, (NoticeKind.WAITING, p.user_id))
        return len(people)

    # ---- a transcript the visitor asks for ---------------------------------------------

    async def send_transcript(self, org_id: UUID, visitor_id: UUID, conversation_id: UUID,
                              email: str | None) -> None:
        """The visitor's own conversation (the session holds it), notes excluded, to
        `email` or the address they left. Rate-limited per visitor."""
        verdict = await self.limiter.check(Scope.VISITOR_TRANSCRIPTS, str(visitor_id))
        if not verdict.allowed:
            raise TranscriptRefused("rate_limited", "too many transcripts asked for; "
                                    f"try again in {int(verdict.retry_after_s) + 1} s")
        async with self.db.unit_of_work(org_id) as conn:
            visitor = await convs.visitor_details(conn, self.db.keys, org_id, visitor_id)
            address, locale = email or visitor.get("email"), locale_of(visitor.get("locale"))
            if not address:
                raise TranscriptRefused("no_address", "no email address to send it to")
            rendered = mails.transcript(
                locale, org_name=await store.org_name(conn, org_id),
                lines=await self._lines(conn, org_id, conversation_id, locale),
                url=self.transcript_url(org_id, conversation_id, utc_now()),
                days=int(self.policy.transcript_days))
            await self._queue(conn, org_id, mails.NoticeMail.TRANSCRIPT, address, locale,
                              rendered, None)
        self.outbox.wake()

    async def transcript_page(self, token: str) -> TranscriptPage | None:
        """What a transcript link shows; None for a forged, altered or expired link."""
        ref = self.signer.read_transcript(token, utc_now())
        if ref is None:
            return None
        async with self.db.unit_of_work(ref.org_id) as conn:
            conv = await convs.get(conn, ref.org_id, ref.conversation_id)
            if conv is None:
                return None
            locale = (await convs.visitor_locale(conn, ref.org_id, ref.conversation_id)) or "en"
            locale = locale_of(locale)
            return TranscriptPage(await store.org_name(conn, ref.org_id), locale,
                                  await self._lines(conn, ref.org_id, ref.conversation_id,
                                                    locale), ref.expires_at)

    # ---- a sign-in from a new device ----------------------------------------------------

    async def signed_in(self, org_id: UUID, user_id: UUID, address: str | None,
                        user_agent: str | None) -> bool:
        """After a successful sign-in: a device (browser family, network) new to a user who
        had others alerts them (a required notice) and every other owner who has not
        stopped security alerts. A user's first device is only recorded. Never fails the
        sign-in: a failure is logged (ids only)."""
        fingerprint = self.signer.device_fingerprint(user_id, user_agent, address)
        try:
            async with self.db.unit_of_work(org_id) as conn:
                new, had_others = await store.see_device(conn, org_id, user_id, fingerprint)
                if not (new and had_others):
                    return False
                await self._new_device_mails(conn, org_id, user_id, agent_family(user_agent))
        except Exception as exc:
            log.warning("new-device check failed",
                        extra={"org_id": str(org_id), "error": type(exc).__name__})
            return False
        self.outbox.wake()
        return True

    async def _new_device_mails(self, conn: asyncpg.Connection, org_id: UUID, user_id: UUID,
                                device: str) -> None:
        member = await store.user(conn, org_id, user_id)
        if member is None:
            return
        name = await store.org_name(conn, org_id)
        when = utc_now().strftime("%Y-%m-%d %H:%M")
        console = self._url("/console")
        own = mails.new_device(member.locale, org_name=name, member=None, device=device,
                               when=when, console_url=console, settings_url=None)
        await self._queue(conn, org_id, mails.NoticeMail.NEW_DEVICE, member.email,
                          member.locale, own, None)
        owners = [o for o in await store.staff(conn, org_id, (Role.OWNER.value,))
                  if o.user_id != user_id]
        stopped = await store.opted_out(conn, org_id, [o.user_id for o in owners],
                                        NoticeKind.SECURITY)
        for owner in owners:
            if owner.user_id in stopped:
                continue
            rendered = mails.new_device(
                owner.locale, org_name=name, member=member.email, device=device, when=when,
                console_url=console,
                settings_url=self.unsubscribe_url(NoticeKind.SECURITY, org_id, owner.user_id))
            await self._queue(conn, org_id, mails.NoticeMail.NEW_DEVICE, owner.email,
                              owner.locale, rendered, (NoticeKind.SECURITY, owner.user_id))

    # ---- settings and unsubscribe -------------------------------------------------------

    async def unsubscribe(self, token: str, *, apply: bool) -> Unsubscribe | None:
        """What the token stops (None when it is not genuine); `apply` stops it."""
        ref = self.signer.read_unsubscribe(token)
        if ref is not None and apply:
            async with self.db.unit_of_work(ref.org_id) as conn:
                await store.set_opt_out(conn, ref.org_id, ref.subject_id, ref.kind, True)
        return ref

    async def org_settings(self, org_id: UUID) -> dict[str, Any]:
        async with self.db.unit_of_work(org_id) as conn:
            return await self._org_json(conn, org_id)

    async def _org_json(self, conn: asyncpg.Connection, org_id: UUID) -> dict[str, Any]:
        s = await store.org_settings(conn, org_id)
        stopped = await store.opted_out(conn, org_id, [org_id], NoticeKind.INBOX)
        return {"inbox_email": s.inbox_email, "inbox_enabled": not stopped,
                "waiting_alert_s": s.waiting_alert_s or self.policy.waiting_default_s}

    async def update_org_settings(self, org_id: UUID, changes: dict[str, Any]
                                  ) -> dict[str, Any]:
        """Keys present in `changes` are set (inbox_email None: the owners again)."""
        async with self.db.unit_of_work(org_id) as conn:
            s = await store.org_settings(conn, org_id)
            await store.put_org_settings(conn, org_id, store.OrgNotifications(
                changes.get("inbox_email", s.inbox_email),
                changes.get("waiting_alert_s", s.waiting_alert_s)))
            if "inbox_enabled" in changes:
                await store.set_opt_out(conn, org_id, org_id, NoticeKind.INBOX,
                                        not changes["inbox_enabled"])
            return await self._org_json(conn, org_id)

    async def user_settings(self, org_id: UUID, user_id: UUID) -> dict[str, bool]:
        async with self.db.unit_of_work(org_id) as conn:
            return await self._user_json(conn, org_id, user_id)

    async def _user_json(self, conn: asyncpg.Connection, org_id: UUID,
                         user_id: UUID) -> dict[str, bool]:
        out = {}
        for name, kind in USER_SETTINGS.items():
            out[name] = not await store.opted_out(conn, org_id, [user_id], kind)
        return out

    async def update_user_settings(self, org_id: UUID, user_id: UUID,
                                   changes: dict[str, bool]) -> dict[str, bool]:
        async with self.db.unit_of_work(org_id) as conn:
            for name, on in changes.items():
                await store.set_opt_out(conn, org_id, user_id, USER_SETTINGS[name], not on)
            return await self._user_json(conn, org_id, user_id)
