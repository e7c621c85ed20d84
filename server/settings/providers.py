"""Settings of the outside providers: mail (Resend), Google sign-in, billing (Stripe,
Omise) and error reports (Sentry). Unset means the offline default."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from server.settings.env import rate, version

# the plan limits CLIENTA_BILLING_LIMITS may name (domain/plans.py's Metric values)
PLAN_LIMITS = ("ai_answers", "seats", "kb_documents", "concurrent_conversations")
OMISE_JS = "https://cdn.omise.co/omise.js"


def plan_limits(value: str | None) -> frozenset[str]:
    """`all` (unset), `none`, or a comma list of PLAN_LIMITS: the limits enforced."""
    text = (value or "all").strip().lower()
    if text == "all":
        return frozenset(PLAN_LIMITS)
    if text == "none":
        return frozenset()
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    if unknown := names - frozenset(PLAN_LIMITS):
        raise ValueError(f"CLIENTA_BILLING_LIMITS: unknown {', '.join(sorted(unknown))}; "
                         f"use all, none or some of {', '.join(PLAN_LIMITS)}")
    return names


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
    # the console's billing page loads Omise.js from here (tests: a fake on 127.0.0.1)
    omise_js_url: str = OMISE_JS
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
    # the plan limits enforced (docs/billing.md); usage is metered whatever this says
    limits: frozenset[str] = frozenset(PLAN_LIMITS)

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
            omise_js_url=e.get("CLIENTA_OMISE_JS_URL") or OMISE_JS,
            omise_timeout_s=float(e.get("CLIENTA_OMISE_TIMEOUT") or 20.0),
            omise_qr_max_bytes=int(e.get("CLIENTA_OMISE_QR_MAX_BYTES") or 256 * 1024),
            omise_renewal_sweep_s=float(e.get("CLIENTA_OMISE_RENEWAL_SWEEP") or 600.0),
            omise_renewal_notice_days=float(e.get("CLIENTA_OMISE_RENEWAL_NOTICE_DAYS") or 3.0),
            grace_days=float(e.get("CLIENTA_BILLING_GRACE_DAYS") or 7.0),
            meter_refresh_s=float(e.get("CLIENTA_BILLING_METER_REFRESH") or 30.0),
            meter_max_orgs=int(e.get("CLIENTA_BILLING_METER_ORGS") or 10_000),
            webhook_max_bytes=int(e.get("CLIENTA_BILLING_WEBHOOK_MAX_BYTES") or 512 * 1024),
            limits=plan_limits(e.get("CLIENTA_BILLING_LIMITS")),
        )
        if settings.stripe_secret_key and not (
                settings.stripe_webhook_secret and settings.stripe_price_starter
                and settings.stripe_price_pro):
            raise ValueError("STRIPE_SECRET_KEY needs STRIPE_WEBHOOK_SECRET, "
                             "STRIPE_PRICE_STARTER and STRIPE_PRICE_PRO")
        return settings

    @property
    def omise_browser(self) -> tuple[str, str] | None:
        """Omise.js's address and the vault it sends cards to, when the billing page may
        tokenize cards (a public key is set); None: the console loads no Omise script."""
        if not self.omise_public_key:
            return None
        return self.omise_js_url, self.omise_vault_base or "https://vault.omise.co"


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
            release=e.get("CLIENTA_RELEASE") or f"clienta@{version()}",
            environment=e.get("CLIENTA_ENVIRONMENT") or "production",
            sample_rate=rate(e, "CLIENTA_SENTRY_SAMPLE_RATE", 1.0),
            traces_sample_rate=rate(e, "CLIENTA_SENTRY_TRACES_SAMPLE_RATE", 0.0),
        )
