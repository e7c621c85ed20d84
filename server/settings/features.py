"""Settings of the product's own jobs: notifications, insights and the data lifecycle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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
