"""Sentry through the official `sentry-sdk`: errors logged at ERROR and unhandled request
failures become events, INFO and up become breadcrumbs; all pass `scrub` on the way out."""

from __future__ import annotations

import logging

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration

from server.reporting.scrub import scrub_breadcrumb, scrub_event
from server.settings import Reporting


class SentryReporter:
    """Initialises the SDK for this process (each uvicorn worker builds its own)."""

    name = "sentry"

    def __init__(self, reporting: Reporting) -> None:
        sentry_sdk.init(
            dsn=reporting.sentry_dsn,
            release=reporting.release,
            environment=reporting.environment,
            sample_rate=reporting.sample_rate,
            traces_sample_rate=reporting.traces_sample_rate,
            # nothing about the person: no IP, user, cookies, bodies or local variables
            send_default_pii=False,
            include_local_variables=False,
            max_request_body_size="never",
            # the event as a plain dict: the SDK's Event is a TypedDict of its private _types
            before_send=scrub_event,  # type: ignore[arg-type]  # (above)
            before_send_transaction=scrub_event,  # type: ignore[arg-type]  # as before_send
            before_breadcrumb=scrub_breadcrumb,
            # only what is named here: an auto-enabled integration (OpenAI, asyncpg, redis)
            # would record prompts, queries or commands this module was not written for
            auto_enabling_integrations=False,
            integrations=[
                LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
                StarletteIntegration(transaction_style="url"),
            ],
            in_app_include=["server"],
        )

    def close(self, timeout_s: float = 2.0) -> None:
        sentry_sdk.get_client().close(timeout=timeout_s)
