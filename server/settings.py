"""Settings: read once from the environment into frozen dataclasses (12-factor).

Unset means the embedded, offline default; set means the real service.
Nothing else in the package reads os.environ.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Limits:
    """Explicit per-connection limits of the websocket edge."""

    max_frame_bytes: int = 64 * 1024
    max_text_chars: int = 4000
    max_client_id_chars: int = 64
    # token bucket for msg/typing frames: burst and steady rate per second
    msg_burst: int = 20
    msg_rate_per_s: float = 5.0
    # token bucket for every frame (ping, read, hello too): a socket's total frame rate
    frame_burst: int = 60
    frame_rate_per_s: float = 20.0
    max_bad_frames: int = 10
    # byte bound of one connection's outbox before it is cut off as too slow
    outbox_max_bytes: int = 1024 * 1024
    hello_timeout_s: float = 10.0
    # a socket silent this long gets a ping; silent twice as long, it is dropped
    ping_interval_s: float = 20.0


@dataclass(frozen=True, slots=True)
class Quotas:
    """Limits per party across connections and processes (kept in Redis): (count, seconds).
    A visitor's frames of every kind, a visitor's storing frames, sockets and new
    conversations per IP and per site key, sign-ups and logins per IP and per account."""

    visitor_frames: tuple[int, float] = (120, 10.0)
    # at least one socket's steady rate (5/s): a lone tab is bounded by its own bucket,
    # the quota bites when sockets multiply
    visitor_messages: tuple[int, float] = (60, 10.0)
    # addresses behind an office's or a carrier's NAT carry many visitors
    ip_sockets: tuple[int, float] = (120, 60.0)
    ip_conversations: tuple[int, float] = (10, 60.0)
    site_conversations: tuple[int, float] = (600, 60.0)
    ip_signups: tuple[int, float] = (5, 3600.0)
    ip_logins: tuple[int, float] = (30, 300.0)
    account_logins: tuple[int, float] = (10, 300.0)
    # password-reset requests: per IP, and per address (each one mails that address)
    ip_password_resets: tuple[int, float] = (10, 3600.0)
    account_password_resets: tuple[int, float] = (3, 3600.0)
    # transcripts by email a visitor asks for (each one mails an address)
    visitor_transcripts: tuple[int, float] = (3, 3600.0)


@dataclass(frozen=True, slots=True)
class MailSettings:
    """Outgoing mail: Resend when RESEND_API_KEY is set, .eml files under home otherwise;
    the outbox worker's retries and how long finished rows are kept (docs/mail.md)."""

    resend_api_key: str | None = None
    # tests point the SDK at a fake Resend on 127.0.0.1
    resend_base_url: str | None = None
    # the From of every message; required with RESEND_API_KEY (a verified domain's address)
    sender: str | None = None
    send_timeout_s: float = 20.0
    max_attempts: int = 8
    # the first retry waits this long, each next one twice as long, at most retry_max_s
    retry_base_s: float = 30.0
    retry_max_s: float = 3600.0
    poll_s: float = 5.0
    # sent and given-up rows (content already blanked) are deleted after this many days
    retention_days: float = 7.0

    @classmethod
    def from_env(cls, e: Mapping[str, str]) -> MailSettings:
        return cls(
            resend_api_key=e.get("RESEND_API_KEY") or None,
            resend_base_url=e.get("RESEND_BASE_URL") or None,
            sender=e.get("CLIENTA_MAIL_FROM") or None,
            send_timeout_s=float(e.get("CLIENTA_MAIL_SEND_TIMEOUT") or 20.0),
            max_attempts=int(e.get("CLIENTA_MAIL_MAX_ATTEMPTS") or 8),
            retry_base_s=float(e.get("CLIENTA_MAIL_RETRY_BASE") or 30.0),
            retry_max_s=float(e.get("CLIENTA_MAIL_RETRY_MAX") or 3600.0),
            poll_s=float(e.get("CLIENTA_MAIL_POLL") or 5.0),
            retention_days=float(e.get("CLIENTA_MAIL_RETENTION_DAYS") or 7.0),
        )


@dataclass(frozen=True, slots=True)
class GoogleSettings:
    """Google sign-in (OpenID Connect): on when both the client id and secret are set. The
    redirect URI to register is CLIENTA_PUBLIC_URL + /v1/auth/google/callback."""

    client_id: str | None = None
    client_secret: str | None = None
    # tests point it at a fake provider on 127.0.0.1 (its discovery document is read)
    issuer: str = "https://accounts.google.com"
    # how long a started sign-in, and then its outcome, waits for the browser
    flow_ttl_s: int = 600
    # each call to the provider (discovery, keys, the code exchange)
    timeout_s: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @classmethod
    def from_env(cls, e: Mapping[str, str]) -> GoogleSettings:
        return cls(
            client_id=e.get("GOOGLE_CLIENT_ID") or None,
            client_secret=e.get("GOOGLE_CLIENT_SECRET") or None,
            issuer=e.get("GOOGLE_ISSUER") or "https://accounts.google.com",
            flow_ttl_s=int(e.get("CLIENTA_GOOGLE_FLOW_TTL") or 600),
            timeout_s=float(e.get("CLIENTA_GOOGLE_TIMEOUT") or 10.0),
        )


@dataclass(frozen=True, slots=True)
class BillingSettings:
    """Payments (docs/billing.md): Stripe when STRIPE_SECRET_KEY is set (with its webhook
    secret and a price id per paid plan), else billing is not configured and every org is
    on free; the meter's cache and a failed payment's grace period."""

    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_price_starter: str | None = None
    stripe_price_pro: str | None = None
    # tests point the SDK at a fake Stripe on 127.0.0.1
    stripe_api_base: str | None = None
    stripe_timeout_s: float = 20.0
    # Omise (Thai cards and PromptPay) when OMISE_SECRET_KEY is set; the public key lets
    # the billing page tokenize cards with Omise.js; the bases point the SDK at a fake
    omise_secret_key: str | None = None
    omise_public_key: str | None = None
    omise_api_base: str | None = None
    omise_vault_base: str | None = None
    omise_timeout_s: float = 20.0
    omise_qr_max_bytes: int = 256 * 1024  # the PromptPay QR image we pass on
    # the renewal job (docs/billing.md "Omise"): how often it looks, and how long before
    # a PromptPay period ends its owners are mailed the link to pay the next one
    omise_renewal_sweep_s: float = 600.0
    omise_renewal_notice_days: float = 3.0
    # a failed payment keeps the paid plan this long, then the org is on free
    grace_days: float = 7.0
    # how stale an org's cached usage count may be on the bot's path (one query per org
    # per period at most); answers made meanwhile on other processes may overshoot by that
    meter_refresh_s: float = 30.0
    meter_max_orgs: int = 10_000
    # a provider's event body (the route's limit, over the JSON default)
    webhook_max_bytes: int = 512 * 1024

    @classmethod
    def from_env(cls, e: Mapping[str, str]) -> BillingSettings:
        settings = cls(
            stripe_secret_key=e.get("STRIPE_SECRET_KEY") or None,
            stripe_webhook_secret=e.get("STRIPE_WEBHOOK_SECRET") or None,
            stripe_price_starter=e.get("STRIPE_PRICE_STARTER") or None,
            stripe_price_pro=e.get("STRIPE_PRICE_PRO") or None,
            stripe_api_base=e.get("STRIPE_API_BASE") or None,
            stripe_timeout_s=float(e.get("CLIENTA_STRIPE_TIMEOUT") or 20.0),
            omise_secret_key=e.get("OMISE_SECRET_KEY") or None,
            omise_public_key=e.get("OMISE_PUBLIC_KEY") or None,
            omise_api_base=e.get("OMISE_API_BASE") or None,
            omise_vault_base=e.get("OMISE_VAULT_BASE") or None,
            omise_timeout_s=float(e.get("CLIENTA_OMISE_TIMEOUT") or 20.0),
            omise_qr_max_bytes=int(e.get("CLIENTA_OMISE_QR_MAX_BYTES") or 256 * 1024),
            omise_renewal_sweep_s=float(e.get("CLIENTA_OMISE_RENEWAL_SWEEP") or 600.0),
            omise_renewal_notice_days=float(e.get("CLIENTA_OMISE_RENEWAL_NOTICE_DAYS") or 3.0),
            grace_days=float(e.get("CLIENTA_BILLING_GRACE_DAYS") or 7.0),
            meter_refresh_s=float(e.get("CLIENTA_BILLING_METER_REFRESH") or 30.0),
            meter_max_orgs=int(e.get("CLIENTA_BILLING_METER_ORGS") or 10_000),
            webhook_max_bytes=int(e.get("CLIENTA_BILLING_WEBHOOK_MAX_BYTES") or 512 * 1024),
        )
        if settings.stripe_secret_key and not (
                settings.stripe_webhook_secret and settings.stripe_price_starter
                and settings.stripe_price_pro):
            raise ValueError("STRIPE_SECRET_KEY needs STRIPE_WEBHOOK_SECRET, "
                             "STRIPE_PRICE_STARTER and STRIPE_PRICE_PRO")
        return settings


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    """Notification mail (docs/mail.md "Notifications"): how long an agent's reply waits
    unread before it is mailed (replies meanwhile go in the same mail), how often the
    sweeps look, the default waiting threshold, transcript links and lengths."""

    reply_delay_s: float = 300.0
    sweep_s: float = 10.0
    # an org's waiting threshold when it set none (PATCH /v1/org/notifications)
    waiting_alert_s: int = 600
    transcript_link_days: float = 30.0
    # messages in a transcript (mail or page) and in an inbox mail, the most recent kept
    transcript_max_messages: int = 200

    @classmethod
    def from_env(cls, e: Mapping[str, str]) -> NotificationSettings:
        return cls(
            reply_delay_s=float(e.get("CLIENTA_REPLY_MAIL_DELAY") or 300.0),
            sweep_s=float(e.get("CLIENTA_NOTIFY_SWEEP") or 10.0),
            waiting_alert_s=int(e.get("CLIENTA_WAITING_ALERT") or 600),
            transcript_link_days=float(e.get("CLIENTA_TRANSCRIPT_LINK_DAYS") or 30.0),
            transcript_max_messages=int(e.get("CLIENTA_TRANSCRIPT_MAX_MESSAGES") or 200),
        )


@dataclass(frozen=True, slots=True)
class InsightsSettings:
    """GET /v1/insights (docs/insights.md): the longest period one request may ask for, how
    many of the period's newest unanswered questions are grouped, how many top ones shown."""

    max_days: int = 366
    unanswered_sample: int = 1000
    top_unanswered: int = 10

    @classmethod
    def from_env(cls, e: Mapping[str, str]) -> InsightsSettings:
        return cls(
            max_days=int(e.get("CLIENTA_INSIGHTS_MAX_DAYS") or 366),
            unanswered_sample=int(e.get("CLIENTA_INSIGHTS_UNANSWERED_SAMPLE") or 1000),
            top_unanswered=int(e.get("CLIENTA_INSIGHTS_TOP_UNANSWERED") or 10),
        )


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    """The data lifecycle (docs/privacy.md): how often the retention jobs run and how often a
    process looks for due ones, the lease after which a job's run is retried elsewhere, how
    long a terminated org's export stays open, and how long usage records are kept."""

    jobs_every_s: float = 3600.0
    poll_s: float = 60.0
    lease_s: float = 900.0
    export_days: int = 30
    usage_keep_days: int = 730  # 24 months

    @classmethod
    def from_env(cls, e: Mapping[str, str]) -> LifecycleSettings:
        return cls(
            jobs_every_s=float(e.get("CLIENTA_RETENTION_EVERY") or 3600.0),
            poll_s=float(e.get("CLIENTA_SCHEDULER_POLL") or 60.0),
            lease_s=float(e.get("CLIENTA_SCHEDULER_LEASE") or 900.0),
            export_days=min(int(e.get("CLIENTA_EXPORT_DAYS") or 30), 59),
            usage_keep_days=min(int(e.get("CLIENTA_USAGE_KEEP_DAYS") or 730), 730),
        )


@dataclass(frozen=True, slots=True)
class Reporting:
    """Error reporting: Sentry when a DSN is set, off otherwise (server/reporting/)."""

    sentry_dsn: str | None = None
    release: str = ""
    environment: str = "production"
    # share of error events sent, and of requests traced (0: no performance data)
    sample_rate: float = 1.0
    traces_sample_rate: float = 0.0

    @classmethod
    def from_env(cls, e: Mapping[str, str]) -> Reporting:
        return cls(
            sentry_dsn=e.get("SENTRY_DSN") or None,
            release=e.get("CLIENTA_RELEASE") or f"clienta@{_version()}",
            environment=e.get("CLIENTA_ENVIRONMENT") or "production",
            sample_rate=_rate(e, "CLIENTA_SENTRY_SAMPLE_RATE", 1.0),
            traces_sample_rate=_rate(e, "CLIENTA_SENTRY_TRACES_SAMPLE_RATE", 0.0),
        )


def _version() -> str:
    try:
        return metadata.version("clienta")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _rate(e: Mapping[str, str], name: str, default: float) -> float:
    rate = float(e.get(name) or default)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name} must be a number from 0 to 1")
    return rate


def _quota(e: Mapping[str, str], name: str, default: tuple[int, float]) -> tuple[int, float]:
    """`CLIENTA_QUOTA_<NAME>=count/seconds`, e.g. `30/10`."""
    raw = e.get(f"CLIENTA_QUOTA_{name.upper()}")
    if not raw:
        return default
    count, _, window = raw.partition("/")
    return int(count), float(window or default[1])


def _flag(raw: str) -> bool:
    return raw.strip().lower() not in ("0", "false", "no", "off")


# Supabase's transaction pooler listens on 6543 (its session pooler and Postgres on 5432)
TRANSACTION_POOLER_PORT = 6543


def _statement_cache(e: Mapping[str, str]) -> int:
    """`CLIENTA_DB_STATEMENT_CACHE` when set; else 0 when `CLIENTA_DB_POOLER=transaction`
    or DATABASE_URL names port 6543, else 256. A transaction pooler hands each
    transaction to any server connection, where a statement asyncpg prepared on another
    is unknown (or its name taken: DuplicatePreparedStatementError)."""
    if e.get("CLIENTA_DB_STATEMENT_CACHE"):
        return int(e["CLIENTA_DB_STATEMENT_CACHE"])
    pooler = e.get("CLIENTA_DB_POOLER", "auto").strip().lower()
    if pooler == "auto":
        try:
            port = urlsplit(e.get("DATABASE_URL") or "").port
        except ValueError:
            port = None
        pooler = "transaction" if port == TRANSACTION_POOLER_PORT else "none"
    return 0 if pooler == "transaction" else 256


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path = Path(".clienta")
    database_url: str | None = None
    # a direct (unpooled) connection for migrations when DATABASE_URL is a pooler's
    direct_database_url: str | None = None
    redis_url: str | None = None
    # may the CLI start embedded Postgres/Redis for an unset URL (the image says no)
    embedded_allowed: bool = True
    secret: str = ""
    # encryption at rest (docs/privacy.md): the master key (32 bytes, hex or base64; unset:
    # generated under home), the previous one during a rotation, the unwrapped-key cache
    # (entries, and how long a key destroyed elsewhere may still open here), the ledger
    master_key: str = ""
    master_key_previous: str = ""
    key_cache_size: int = 50_000
    key_cache_ttl_s: float = 60.0
    erasure_ledger: Path | None = None
    # backups (docs/operations.md): a key of their own (unset: derived from the master
    # key), and the folder of pg_dump/pg_restore (unset: docs/operations.md says which)
    backup_key: str = ""
    pg_bin: Path | None = None
    # /metrics: a bearer token for the public port, and/or a listen address of its own
    # (host:port, one worker); neither set, the public port answers 404
    metrics_token: str = ""
    metrics_addr: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    chat_model: str = "gpt-4o"
    embed_model: str = "text-embedding-3-small"
    llm_timeout_s: float = 30.0
    llm_first_token_timeout_s: float = 15.0
    cohere_api_key: str | None = None
    cohere_base_url: str | None = None
    rerank_model: str = "rerank-v3.5"
    token_ttl_s: int = 7 * 24 * 3600
    # passwords shorter or longer are refused (server/domain/passwords.py says why 10)
    password_min_length: int = 10
    password_max_length: int = 1024
    # where people reach this server: the links in mail (invites, resets) start with it;
    # never taken from a request's Host, which a sender chooses
    public_url: str = "http://127.0.0.1:8000"
    invite_ttl_s: int = 7 * 24 * 3600
    password_reset_ttl_s: int = 3600
    email_verify_ttl_s: int = 3 * 24 * 3600
    db_pool_min: int = 2
    db_pool_max: int = 10
    # asyncpg's prepared statements per connection; 0 behind a transaction pooler, whose
    # server connections change between transactions (_statement_cache says how it is chosen)
    db_statement_cache: int = 256
    # bot.delta coalescing window: ~25 frames/s per stream
    delta_window_s: float = 0.04
    # unresolved bot turns before the conversation is offered to a person
    max_unresolved_turns: int = 3
    kb_max_upload_bytes: int = 10 * 1024 * 1024
    kb_background_bytes: int = 256 * 1024
    kb_chunk_chars: int = 800
    kb_answer_threshold: float = 0.2
    # re-embed chunks of another embedding model at start-up (one worker does it)
    kb_reindex_on_start: bool = True
    # re-indexes one process runs at once (each holds a pool connection for its lock)
    kb_max_reindexes: int = 2
    # fetching a page by URL (server/kb/fetch.py): whole-fetch time cap and redirects
    # followed (each re-vetted); the size cap is kb_max_upload_bytes
    kb_fetch_timeout_s: float = 10.0
    kb_fetch_max_redirects: int = 3
    # tests only: lets the fetcher reach 127.0.0.1 (and nothing else private)
    kb_fetch_allow_loopback: bool = False
    presence_ttl_s: float = 15.0
    queue_wait_s: float = 120.0
    log_level: str = "info"
    # idle HTTP keep-alive: longer than the idle timeout of a proxy in front (60 s for
    # nginx and AWS ALB), or the server closes connections the proxy is about to reuse
    http_keepalive_s: float = 75.0
    # a connection's first request, or any request once begun, must arrive this fast:
    # its head within this, its body with no pause this long (else 408 and closed)
    http_read_timeout_s: float = 15.0
    # an HTTP request body (JSON) is refused with 413 past this; KB uploads have their own
    max_json_bytes: int = 64 * 1024
    # a JSON body nested deeper is refused with 400 (real bodies are 2-3 levels deep)
    max_json_depth: int = 32
    demo_site_key: str | None = None
    # proxies whose X-Forwarded-For names the client (comma-separated IPs or CIDRs)
    trusted_proxies: str = ""
    limits: Limits = field(default_factory=Limits)
    quotas: Quotas = field(default_factory=Quotas)
    reporting: Reporting = field(default_factory=Reporting)
    mail: MailSettings = field(default_factory=MailSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    billing: BillingSettings = field(default_factory=BillingSettings)
    google: GoogleSettings = field(default_factory=GoogleSettings)
    insights: InsightsSettings = field(default_factory=InsightsSettings)
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)

    @property
    def llm_online(self) -> bool:
        return bool(self.openai_api_key)

    @property
    def migrate_database_url(self) -> str | None:
        """Migrations take a direct connection when there is one (DDL and its lock never
        go through a pooler that may cut them short)."""
        return self.direct_database_url or self.database_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        home = Path(e.get("CLIENTA_HOME", ".clienta"))
        limits = Limits(
            max_frame_bytes=int(e.get("CLIENTA_MAX_FRAME_BYTES", 64 * 1024)),
            max_text_chars=int(e.get("CLIENTA_MAX_TEXT_CHARS", 4000)),
            msg_burst=int(e.get("CLIENTA_MSG_BURST", 20)),
            msg_rate_per_s=float(e.get("CLIENTA_MSG_RATE", 5.0)),
            frame_burst=int(e.get("CLIENTA_FRAME_BURST", 60)),
            frame_rate_per_s=float(e.get("CLIENTA_FRAME_RATE", 20.0)),
            max_bad_frames=int(e.get("CLIENTA_MAX_BAD_FRAMES", 10)),
            outbox_max_bytes=int(e.get("CLIENTA_OUTBOX_MAX_BYTES", 1024 * 1024)),
            hello_timeout_s=float(e.get("CLIENTA_WS_HELLO_TIMEOUT", 10.0)),
            ping_interval_s=float(e.get("CLIENTA_WS_PING_INTERVAL", 20.0)),
        )
        return cls(
            home=home,
            database_url=e.get("DATABASE_URL") or None,
            direct_database_url=e.get("CLIENTA_DIRECT_DATABASE_URL") or None,
            redis_url=e.get("REDIS_URL") or None,
            embedded_allowed=_flag(e.get("CLIENTA_EMBEDDED", "1")),
            secret=e.get("CLIENTA_SECRET") or "",
            master_key=e.get("CLIENTA_MASTER_KEY") or "",
            master_key_previous=e.get("CLIENTA_MASTER_KEY_PREVIOUS") or "",
            key_cache_size=int(e.get("CLIENTA_KEY_CACHE_SIZE", 50_000)),
            key_cache_ttl_s=float(e.get("CLIENTA_KEY_CACHE_TTL", 60.0)),
            erasure_ledger=Path(e["CLIENTA_ERASURE_LEDGER"])
            if e.get("CLIENTA_ERASURE_LEDGER") else None,
            backup_key=e.get("CLIENTA_BACKUP_KEY") or "",
            pg_bin=Path(e["CLIENTA_PG_BIN"]) if e.get("CLIENTA_PG_BIN") else None,
            metrics_token=e.get("CLIENTA_METRICS_TOKEN") or "",
            metrics_addr=e.get("CLIENTA_METRICS_ADDR") or "",
            host=e.get("CLIENTA_HOST", "127.0.0.1"),
            # PORT is the platform's (Railway, Render, Fly); ours wins when both are set
            port=int(e.get("CLIENTA_PORT") or e.get("PORT") or 8000),
            openai_api_key=e.get("OPENAI_API_KEY") or None,
            openai_base_url=e.get("OPENAI_BASE_URL") or None,
            chat_model=e.get("CLIENTA_CHAT_MODEL", "gpt-4o"),
            embed_model=e.get("CLIENTA_EMBED_MODEL", "text-embedding-3-small"),
            llm_timeout_s=float(e.get("CLIENTA_LLM_TIMEOUT", 30.0)),
            llm_first_token_timeout_s=float(e.get("CLIENTA_LLM_FIRST_TOKEN_TIMEOUT", 15.0)),
            cohere_api_key=e.get("COHERE_API_KEY") or None,
            cohere_base_url=e.get("COHERE_BASE_URL") or None,
            token_ttl_s=int(e.get("CLIENTA_TOKEN_TTL", 7 * 24 * 3600)),
            password_min_length=int(e.get("CLIENTA_PASSWORD_MIN_LENGTH", 10)),
            password_max_length=int(e.get("CLIENTA_PASSWORD_MAX_LENGTH", 1024)),
            public_url=(e.get("CLIENTA_PUBLIC_URL") or "").rstrip("/") or
            f"http://{e.get('CLIENTA_HOST', '127.0.0.1')}:"
            f"{int(e.get('CLIENTA_PORT') or e.get('PORT') or 8000)}",
            invite_ttl_s=int(e.get("CLIENTA_INVITE_TTL", 7 * 24 * 3600)),
            password_reset_ttl_s=int(e.get("CLIENTA_PASSWORD_RESET_TTL", 3600)),
            email_verify_ttl_s=int(e.get("CLIENTA_EMAIL_VERIFY_TTL", 3 * 24 * 3600)),
            db_pool_min=int(e.get("CLIENTA_DB_POOL_MIN", 2)),
            db_pool_max=int(e.get("CLIENTA_DB_POOL_MAX", 10)),
            db_statement_cache=_statement_cache(e),
            delta_window_s=float(e.get("CLIENTA_DELTA_WINDOW", 0.04)),
            max_unresolved_turns=int(e.get("CLIENTA_MAX_UNRESOLVED_TURNS", 3)),
            kb_max_upload_bytes=int(e.get("CLIENTA_KB_MAX_UPLOAD", 10 * 1024 * 1024)),
            kb_background_bytes=int(e.get("CLIENTA_KB_BACKGROUND_BYTES", 256 * 1024)),
            kb_chunk_chars=int(e.get("CLIENTA_KB_CHUNK_CHARS", 800)),
            kb_reindex_on_start=_flag(e.get("CLIENTA_KB_REINDEX_ON_START", "1")),
            kb_max_reindexes=int(e.get("CLIENTA_KB_MAX_REINDEXES", 2)),
            kb_answer_threshold=float(e.get("CLIENTA_KB_THRESHOLD", 0.2)),
            kb_fetch_timeout_s=float(e.get("CLIENTA_KB_FETCH_TIMEOUT", 10.0)),
            kb_fetch_max_redirects=int(e.get("CLIENTA_KB_FETCH_MAX_REDIRECTS", 3)),
            kb_fetch_allow_loopback=_flag(e.get("CLIENTA_KB_FETCH_ALLOW_LOOPBACK", "0")),
            presence_ttl_s=float(e.get("CLIENTA_PRESENCE_TTL", 15.0)),
            queue_wait_s=float(e.get("CLIENTA_QUEUE_WAIT", 120.0)),
            log_level=e.get("CLIENTA_LOG_LEVEL", "info"),
            http_keepalive_s=float(e.get("CLIENTA_HTTP_KEEPALIVE", 75.0)),
            http_read_timeout_s=float(e.get("CLIENTA_HTTP_READ_TIMEOUT", 15.0)),
            max_json_bytes=int(e.get("CLIENTA_MAX_JSON_BYTES", 64 * 1024)),
            max_json_depth=int(e.get("CLIENTA_MAX_JSON_DEPTH", 32)),
            demo_site_key=e.get("CLIENTA_DEMO_SITE_KEY") or None,
            trusted_proxies=e.get("CLIENTA_TRUSTED_PROXIES", ""),
            limits=limits,
            # every field is a (count, seconds) default; fields() types f.default as object
            quotas=Quotas(**{f.name: _quota(e, f.name, f.default)  # type: ignore[arg-type]  # (above)
                             for f in fields(Quotas)}),
            reporting=Reporting.from_env(e),
            mail=MailSettings.from_env(e),
            notifications=NotificationSettings.from_env(e),
            billing=BillingSettings.from_env(e),
            google=GoogleSettings.from_env(e),
            insights=InsightsSettings.from_env(e),
            lifecycle=LifecycleSettings.from_env(e),
        )

    @property
    def erasure_ledger_path(self) -> Path:
        return self.erasure_ledger or self.home / "erasures.jsonl"

    def master_key_text(self) -> str:
        """The master key; embedded mode keeps a generated one under home (like the
        secret). Never logged."""
        if self.master_key:
            return self.master_key
        return self._home_file("master_key", os.urandom(32).hex().encode()).decode()

    def _home_file(self, name: str, value: bytes) -> bytes:
        path = self.home / name
        if path.exists():
            return path.read_bytes().strip()
        self.home.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: of N workers starting together exactly one writes the file
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as f:
            f.write(value)
        return value

    def secret_bytes(self) -> bytes:
        """The signing secret; embedded mode keeps a generated one under home."""
        if self.secret:
            return self.secret.encode()
        path = self.home / "secret"
        if path.exists():
            return path.read_bytes().strip()
        self.home.mkdir(parents=True, exist_ok=True)
        value = os.urandom(32).hex().encode()
        # O_EXCL: of N workers starting together exactly one writes the file
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as f:
            f.write(value)
        return value
