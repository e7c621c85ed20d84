"""Outside providers chosen by configuration, in one place: mail (Resend or files),
payments (Stripe, Omise or none), error reports (Sentry or none), Google sign-in, and the
master keys. A key set means the real service; unset, the offline one."""

from __future__ import annotations

from server.billing.base import PaymentProvider, Payments
from server.billing.off import no_payments
from server.broker.base import Broker
from server.mail.base import Mailer
from server.mail.files import FileMailer
from server.mail.resend_client import ResendMailer
from server.reporting.base import ErrorReporter
from server.reporting.off import NoReporter
from server.services.accounts import AccountService
from server.services.audit import AuditLog
from server.services.google_signin import GoogleSignIn
from server.services.team import TeamService
from server.settings import Settings
from server.storage.db import Database
from server.storage.envelope import MasterKey, MasterKeys
from server.storage.keys import Keyring


def build_google(settings: Settings, db: Database, broker: Broker, accounts: AccountService,
                 audit: AuditLog, team: TeamService) -> GoogleSignIn:
    """`GOOGLE_CLIENT_ID` and `GOOGLE_CLIENT_SECRET` set: sign-in through `GOOGLE_ISSUER`
    (Google's unless a test names a fake), else off (its endpoints answer 404)."""
    g = settings.google
    client = None
    if g.enabled:
        from server.oidc.client import OidcClient, OidcConfig

        assert g.client_id is not None and g.client_secret is not None
        client = OidcClient(OidcConfig(g.issuer, g.client_id, g.client_secret,
                                       settings.public_url + "/v1/auth/google/callback",
                                       g.timeout_s))
    return GoogleSignIn(db, broker.command, client, accounts, audit, settings.token_ttl_s,
                        g.flow_ttl_s, team)


def build_keyring(settings: Settings) -> Keyring:
    previous = settings.master_key_previous
    return Keyring(MasterKeys(MasterKey.parse(settings.master_key_text()),
                              MasterKey.parse(previous) if previous else None),
                   cache_size=settings.key_cache_size, ttl_s=settings.key_cache_ttl_s)


def build_payments(settings: Settings) -> Payments:
    """`STRIPE_SECRET_KEY` set: Stripe (the official SDK; STRIPE_API_BASE for tests);
    `OMISE_SECRET_KEY` set: Omise (OMISE_API_BASE/OMISE_VAULT_BASE for tests); neither:
    billing is not configured and every org is on the free plan."""
    conf = settings.billing
    providers: dict[str, PaymentProvider] = {}
    if conf.stripe_secret_key:
        from server.billing.stripe_provider import StripePayments
        from server.domain.plans import Plan

        stripe = StripePayments(
            conf.stripe_secret_key, conf.stripe_webhook_secret or "",
            {Plan.STARTER: conf.stripe_price_starter or "",
             Plan.PRO: conf.stripe_price_pro or ""},
            api_base=conf.stripe_api_base, timeout_s=conf.stripe_timeout_s)
        providers[stripe.name] = stripe
    if conf.omise_secret_key:
        from server.billing.omise_provider import OmisePayments

        omise = OmisePayments(conf.omise_secret_key, conf.omise_public_key,
                              api_base=conf.omise_api_base, vault_base=conf.omise_vault_base,
                              timeout_s=conf.omise_timeout_s,
                              qr_max_bytes=conf.omise_qr_max_bytes, js_url=conf.omise_js_url)
        providers[omise.name] = omise
    return Payments(providers) if providers else no_payments()


def build_mailer(settings: Settings) -> Mailer:
    """`RESEND_API_KEY` set: Resend (and `CLIENTA_MAIL_FROM` is required), else .eml files
    under `CLIENTA_HOME/mail/`, each one's path logged."""
    mail = settings.mail
    if not mail.resend_api_key:
        return FileMailer(settings.home / "mail", mail.sender)
    if not mail.sender:
        raise RuntimeError("CLIENTA_MAIL_FROM must be set with RESEND_API_KEY "
                           "(an address on a domain verified with Resend)")
    return ResendMailer(mail.resend_api_key, mail.sender, base_url=mail.resend_base_url,
                        timeout_s=mail.send_timeout_s)


def build_reporter(settings: Settings) -> ErrorReporter:
    """`SENTRY_DSN` set: Sentry, else off. Once per process, before the app is built."""
    if not settings.reporting.sentry_dsn:
        return NoReporter()
    from server.reporting.sentry import SentryReporter

    return SentryReporter(settings.reporting)
