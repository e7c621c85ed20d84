"""The composition root: settings -> services -> Starlette routes. Nothing else wires."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from server.billing.charges import ChargeProvider
from server.broker.base import Broker
from server.broker.redis import RedisBroker
from server.domain.client_ip import parse_networks
from server.domain.links import LinkSigner
from server.domain.notices import NoticeSigner
from server.domain.passwords import PasswordPolicy, load_common_passwords
from server.domain.plans import Metric
from server.http import (
    accounts,
    agent_tools,
    audit,
    billing,
    conversations,
    credentials,
    google_auth,
    health,
    insights,
    kb,
    lifecycle,
    notifications,
    openapi,
    org,
    privacy,
    static,
    team,
    widget_config,
)
from server.http.body_limits import BodyLimits, BodyPolicy
from server.http.csrf import CsrfGuard
from server.http.errors import exception_handlers
from server.http.metrics_listener import MetricsListener
from server.hub.rooms import Hub
from server.kb.extractive import extractive_answer
from server.kb.service import KnowledgeBase, build_knowledge_base
from server.llm.chat import build_chat_provider
from server.metrics import Metrics
from server.presence.redis import RedisPresence
from server.providers import (
    build_google,
    build_keyring,
    build_mailer,
    build_payments,
    build_reporter,
)
from server.reporting.base import ErrorReporter
from server.reporting.off import NoReporter
from server.services.account_links import AccountLinks, LinkPolicy
from server.services.accounts import AccountService
from server.services.admission import Admission
from server.services.agents import AgentService
from server.services.appender import Appender
from server.services.audit import AuditLog
from server.services.billing import BillingService
from server.services.billing_charges import ChargeBilling, ChargePolicy
from server.services.bot import BotRunner
from server.services.bot_preview import BotPreview
from server.services.canned import CannedReplies
from server.services.conversations import ConversationService
from server.services.credentials import Credentials
from server.services.google_signin import GoogleSignIn
from server.services.grounding import Grounding
from server.services.history import ConversationHistory
from server.services.insights import Insights, InsightsPolicy
from server.services.keys import ErasureLedger, KeyService
from server.services.lifecycle import LifecyclePolicy, OrgLifecycle
from server.services.mail_outbox import MailOutbox, OutboxPolicy
from server.services.metering import Meter, MeterPolicy
from server.services.notifications import NoticePolicy, Notifications
from server.services.orgs import OrgDirectory
from server.services.privacy import PrivacyService
from server.services.privacy_settings import PrivacySettings
from server.services.rate_limits import RateLimiter, RedisCounters, rules_from
from server.services.read_markers import ReadMarkers
from server.services.resume_reads import ResumeReads
from server.services.retention import RetentionJobs, RetentionPolicy
from server.services.scheduler import Scheduler, SchedulerPolicy
from server.services.staff_sessions import StaffSessions
from server.services.stream_texts import StreamTexts
from server.services.tags import Tags
from server.services.team import TeamPolicy, TeamService
from server.services.visitor_tokens import VisitorTokens
from server.services.visitors import VisitorService
from server.settings import Settings
from server.storage.db import Database
from server.storage.migrate import apply_migrations
from server.transport.agent_ws import agent_endpoint
from server.transport.sockets import Sockets
from server.transport.visitor_ws import visitor_endpoint

log = logging.getLogger("clienta.app")


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a request handler may use, built complete once per process by
    `build_services` (each collaborator reaches its service through its constructor)."""

    settings: Settings
    db: Database
    broker: Broker
    hub: Hub
    metrics: Metrics
    accounts: AccountService
    visitor_tokens: VisitorTokens
    conversations: ConversationService
    bot: BotRunner
    admission: Admission  # session set-ups before bot work
    limiter: RateLimiter  # limits per visitor, IP, site key and account, across processes
    audit: AuditLog  # administrative and data-access events, append-only
    visitors: VisitorService
    reads: ReadMarkers
    tags: Tags
    canned: CannedReplies
    orgs: OrgDirectory
    kb: KnowledgeBase
    preview: BotPreview  # the console's "try the bot": the bot's steps, nothing stored
    agents: AgentService  # presence, assignment, the queue-wait sweeper
    mail: MailOutbox  # the outbox worker (mail is queued in Postgres)
    keys: KeyService  # crypto-shredding (erase a visitor or org), master-key rotation
    sessions: StaffSessions  # logout; revoked or re-roled staff sockets, across processes
    team: TeamService  # members and invitations
    links: AccountLinks  # password reset, email verification
    billing: BillingService  # plans, usage against limits, payments (docs/billing.md)
    google: GoogleSignIn  # Google sign-in (OpenID Connect); off unless configured
    notifications: Notifications  # follow-ups, replies, transcripts, alerts (docs/mail.md)
    privacy: PrivacyService  # data-subject rights, consent, requests (docs/privacy.md)
    privacy_settings: PrivacySettings  # the org's notice and retention (org_privacy)
    lifecycle: OrgLifecycle  # termination, org and own-account exports, the purge
    scheduler: Scheduler  # the retention jobs, each run once across processes
    history: ConversationHistory  # past conversations: search, read-only timelines
    insights: Insights  # a period's support figures for owners and admins
    demo_site_key: str | None

    def begin_stop(self) -> None:
        """uvicorn is shutting the sockets down (once per socket; acts on the first): rooms
        are left without unsubscribing, and the bot starts nothing new."""
        if not self.hub.stopping:
            self.hub.stopping = True
            self.bot.stop_new_work()


async def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("DATABASE_URL and REDIS_URL must be resolved before the app starts "
                           "(the CLI starts embedded services when they are unset)")
    if migrate:
        await apply_migrations(settings.migrate_database_url or settings.database_url)
    db = await Database.connect(settings.database_url, min_size=settings.db_pool_min,
                                max_size=settings.db_pool_max,
                                statement_cache_size=settings.db_statement_cache,
                                keys=build_keyring(settings))
    broker: Broker = RedisBroker(settings.redis_url)
    metrics = Metrics()
    hub = Hub(broker)
    presence = RedisPresence(broker.commands, settings.presence_ttl_s)
    admission = Admission()
    admission.start()
    audit_log = AuditLog(db, parse_networks(settings.trusted_proxies))
    mail = MailOutbox(db, build_mailer(settings), OutboxPolicy(
        max_attempts=settings.mail.max_attempts, retry_base_s=settings.mail.retry_base_s,
        retry_max_s=settings.mail.retry_max_s, poll_s=settings.mail.poll_s,
        # a live holder never loses its row to another worker mid-send
        lease_s=3 * settings.mail.send_timeout_s,
        retention=timedelta(days=settings.mail.retention_days)))
    meter_policy = MeterPolicy(
        refresh_s=settings.billing.meter_refresh_s, max_orgs=settings.billing.meter_max_orgs,
        grace=timedelta(days=settings.billing.grace_days), public_url=settings.public_url,
        enforced=frozenset(Metric(m) for m in settings.billing.limits))
    meter = Meter(db, mail, meter_policy)
    # the plan's limits: open conversations, documents and seats (docs/billing.md)
    conversation_service = ConversationService(db, hub, metrics, Appender(db),
                                               ResumeReads(db),
                                               agents_online=presence.online_count,
                                               admits=meter.admits_conversation)
    knowledge = build_knowledge_base(settings, db, documents=meter.document_refusal)
    chat = build_chat_provider(settings, extractive_answer)  # offline: quotes the KB
    bot = BotRunner(db, hub, conversation_service, chat, metrics,
                    StreamTexts(broker.command, db),
                    delta_window_s=settings.delta_window_s,
                    max_unresolved_turns=settings.max_unresolved_turns,
                    knowledge=Grounding(knowledge), admission=admission, meter=meter)
    preview = BotPreview(Grounding(knowledge), chat, meter, timeout_s=settings.llm_timeout_s)
    agents = AgentService(db, hub, conversation_service, bot, presence,
                          queue_wait_s=settings.queue_wait_s)
    passwords = PasswordPolicy(settings.password_min_length, settings.password_max_length,
                               load_common_passwords())
    credentials = Credentials(passwords, settings.token_ttl_s)
    signer = LinkSigner(settings.secret_bytes())
    sessions = StaffSessions(db, hub, audit_log)
    accounts = AccountService(db, settings.token_ttl_s, passwords, mail, audit_log,
                              seats=meter.seat_refusal)
    team = TeamService(db, audit_log, mail, signer, credentials, sessions, TeamPolicy(
        settings.public_url, timedelta(seconds=settings.invite_ttl_s)),
        seats=meter.seat_refusal)
    limiter = RateLimiter(RedisCounters(broker.command), rules_from(settings.quotas))
    note = settings.notifications
    notices = Notifications(db, mail, NoticeSigner(settings.secret_bytes()), limiter, NoticePolicy(
        settings.public_url, timedelta(seconds=note.reply_delay_s), note.sweep_s,
        note.waiting_alert_s, note.transcript_link_days, note.transcript_max_messages),
        online_users=agents.presence_users)
    key_service = KeyService(db, audit_log, ErasureLedger(settings.erasure_ledger_path))
    privacy = PrivacyService(db, key_service, audit_log, conversation_service, bot, agents,
                             broker.command, public_url=settings.public_url)
    life = settings.lifecycle
    org_life = OrgLifecycle(db, hub, key_service, audit_log, mail.mailer,
                             broker.command, LifecyclePolicy(settings.public_url,
                                                             life.export_days))
    retention = RetentionJobs(db, org_life, privacy, broker.command, RetentionPolicy(
        timedelta(seconds=life.jobs_every_s), timedelta(days=life.usage_keep_days)))
    services = Services(
        settings=settings, db=db, broker=broker, hub=hub, metrics=metrics,
        accounts=accounts,
        visitor_tokens=VisitorTokens(settings.secret_bytes()),
        conversations=conversation_service, bot=bot, admission=admission,
        limiter=limiter, audit=audit_log, notifications=notices,
        visitors=VisitorService(db, conversation_service, notices), reads=ReadMarkers(db, hub),
        tags=Tags(db, hub), canned=CannedReplies(db),
        orgs=OrgDirectory(db, audit=audit_log), kb=knowledge, agents=agents, mail=mail,
        preview=preview,
        keys=key_service,
        privacy=privacy, lifecycle=org_life,
        privacy_settings=PrivacySettings(db, audit_log),
        scheduler=Scheduler(db, retention.jobs(), SchedulerPolicy(
            life.poll_s, timedelta(seconds=life.lease_s))),
        demo_site_key=settings.demo_site_key, sessions=sessions,
        history=ConversationHistory(db),
        insights=Insights(db, InsightsPolicy(settings.insights.max_days,
                                             settings.insights.unanswered_sample,
                                             settings.insights.top_unanswered)),
        team=team, google=build_google(settings, db, broker, accounts, audit_log, team),
        links=AccountLinks(db, audit_log, mail, signer, credentials, sessions, LinkPolicy(
            settings.public_url, timedelta(seconds=settings.password_reset_ttl_s),
            timedelta(seconds=settings.email_verify_ttl_s))),
        billing=build_billing(settings, db, meter, audit_log, meter_policy),
    )
    mail.start()
    services.accounts.start()  # purges expired bearer tokens hourly
    services.links.start()  # purges spent links and invites hourly
    notices.start()  # replies to mail, waits to alert
    agents.start()  # presence sweep, queue-wait offers
    services.scheduler.start()  # retention jobs (docs/privacy.md)
    await broker.start(hub.on_message, conversation_service.resync)
    return services


def build_billing(settings: Settings, db: Database, meter: Meter, audit: AuditLog,
                  policy: MeterPolicy) -> BillingService:
    """Billing over the configured providers; Omise's charges and renewal job with it."""
    payments = build_payments(settings)
    charges = None
    omise = payments.providers.get("omise")
    if omise is not None:
        conf = settings.billing
        charges = ChargeBilling(db, cast(ChargeProvider, omise), meter, audit, ChargePolicy(
            settings.public_url, timedelta(days=conf.grace_days),
            timedelta(days=conf.omise_renewal_notice_days), conf.omise_renewal_sweep_s))
        charges.start()
    return BillingService(db, payments, meter, audit, policy, charges=charges)


async def close_services(services: Services) -> None:
    services.admission.close()
    await services.scheduler.close()
    await services.accounts.close()
    await services.links.close()
    await services.notifications.close()
    await services.google.close()
    await services.mail.close()
    await services.bot.close()
    await services.billing.meter.close()
    if services.billing.charges is not None:
        await services.billing.charges.close()  # the renewal job
    await services.billing.payments.close()
    await services.kb.close()
    await services.agents.close()
    await services.conversations.resume_reads.close()
    await services.conversations.appender.close()  # messages in a group still get stored
    await services.hub.close()
    await services.broker.close()
    await services.db.close()


# served by `transport.wire.WireSocket`, which uvicorn switches upgraded connections to
WEBSOCKET_ENDPOINTS = {"/v1/ws/visitor": visitor_endpoint, "/v1/ws/agent": agent_endpoint}


def _routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for module in (health, accounts, credentials, google_auth, lifecycle, team, org,
                   conversations,
                   agent_tools, kb, audit, notifications, billing, privacy, insights, static,
                   widget_config, openapi):
        routes += module.routes()
    return routes


def create_app(settings: Settings | None = None,
               reporter: ErrorReporter | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    reporter = reporter or NoReporter()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        services = await build_services(settings)
        app.state.services = services
        limits = settings.limits
        sockets = Sockets(WEBSOCKET_ENDPOINTS, services, limits.ping_interval_s,
                          limits.max_frame_bytes)
        sockets.start()
        metrics_listener = MetricsListener(services, settings.metrics_token)
        if settings.metrics_addr:  # one worker only: the CLI refuses it with several
            await metrics_listener.start(settings.metrics_addr)
        await services.kb.start()
        # What start-up made (modules, pools, caches) lives as long as the process: keep it
        # out of the collector's full passes, which otherwise walk it again and again while
        # thousands of connections arrive (20-50 ms gen-2 pauses seen in a quick fanout run)
        gc.freeze()
        try:
            # uvicorn hands this state to the websocket protocol it builds per upgrade
            yield {"sockets": sockets}
        finally:
            await metrics_listener.close()
            await drain(services)
            await sockets.close()
            await close_services(services)
            reporter.close()

    body_policy = BodyPolicy(settings.max_json_bytes,
                             kb.body_limits(settings) + billing.body_limits(settings))
    app = Starlette(routes=_routes(), lifespan=lifespan,
                    exception_handlers=exception_handlers(),
                    middleware=[Middleware(CsrfGuard), Middleware(privacy.VisitorCors),
                                Middleware(BodyLimits, policy=body_policy)])
    return app


async def drain(services: Services) -> None:
    """Graceful stop: tell every client to reconnect elsewhere (1012), bounded in time."""
    from server.protocol.codes import CloseCode

    conns = {c for members in services.hub.members.values() for c in members}
    await asyncio.gather(*(c.flush_and_close(CloseCode.RESTARTING, 1.0) for c in conns),
                         return_exceptions=True)


def app_factory() -> Starlette:
    """uvicorn --factory entry point: settings from the environment."""
    from server.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    reporter = build_reporter(settings)  # each uvicorn worker process reports on its own
    log.info("error reporting", extra={"reporter": reporter.name,
                                       "environment": settings.reporting.environment,
                                       "release": settings.reporting.release})
    return create_app(settings, reporter)

