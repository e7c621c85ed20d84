"""Settings: read once from the environment into frozen dataclasses (12-factor).

Unset means the embedded, offline default; set means the real service.
Nothing else in the package reads os.environ.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from server.settings.env import flag, quota
from server.settings.features import InsightsSettings, LifecycleSettings, NotificationSettings
from server.settings.limits import Limits, Quotas
from server.settings.providers import BillingSettings, GoogleSettings, MailSettings, Reporting

__all__ = ["BillingSettings", "GoogleSettings", "InsightsSettings", "LifecycleSettings", "Limits",
           "MailSettings", "NotificationSettings", "Quotas", "Reporting", "Settings"]


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
            embedded_allowed=flag(e.get("CLIENTA_EMBEDDED", "1")),
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
            kb_reindex_on_start=flag(e.get("CLIENTA_KB_REINDEX_ON_START", "1")),
            kb_max_reindexes=int(e.get("CLIENTA_KB_MAX_REINDEXES", 2)),
            kb_answer_threshold=float(e.get("CLIENTA_KB_THRESHOLD", 0.2)),
            kb_fetch_timeout_s=float(e.get("CLIENTA_KB_FETCH_TIMEOUT", 10.0)),
            kb_fetch_max_redirects=int(e.get("CLIENTA_KB_FETCH_MAX_REDIRECTS", 3)),
            kb_fetch_allow_loopback=flag(e.get("CLIENTA_KB_FETCH_ALLOW_LOOPBACK", "0")),
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
            quotas=Quotas(**{f.name: quota(e, f.name, f.default)  # type: ignore[arg-type]  # (above)
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
