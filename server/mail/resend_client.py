"""The Resend mailer: the official `resend` SDK (its async client, over httpx), each message
sent under our idempotency key; the SDK's errors become MailError codes, never messages."""

from __future__ import annotations

import re
from typing import Any

import resend
from resend.exceptions import ResendError
from resend.http_client_httpx import HTTPXClient

from server.mail.base import Mail, MailError

API_URL = "https://api.resend.com"
_NAME = re.compile(r"[a-z_]{1,40}")
# 409s Resend answers while the first request under the same key is still running: the
# outcome is unknown yet, so the row is tried again (and answered from the first one)
_RETRYABLE_CONFLICTS = {"concurrent_idempotent_requests"}


def _status(exc: ResendError) -> int:
    try:
        return int(exc.code)
    except (TypeError, ValueError):
        return 500


def _retry_after(headers: dict[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None  # an HTTP date: our own backoff is used instead
    return None


def failure(exc: ResendError) -> MailError:
    """Which errors may pass with time (rate limits, Resend down or unreachable, a key
    being fixed) and which are the message's own (Resend refused its fields)."""
    status = _status(exc)
    kind = exc.error_type if _NAME.fullmatch(exc.error_type or "") else "other"
    if exc.error_type == "HttpClientError":
        return MailError("network", permanent=False)
    code = f"{status}:{kind}"
    if status == 429:
        return MailError(code, permanent=False, retry_after_s=_retry_after(exc.headers))
    if status >= 500 or status in (401, 403, 408):
        return MailError(code, permanent=False)
    if status == 409 and kind in _RETRYABLE_CONFLICTS:
        return MailError(code, permanent=False)
    return MailError(code, permanent=True)


class ResendMailer:
    """The SDK is configured through module attributes: this is the one place that sets
    them (the process has one Resend account)."""

    def __init__(self, api_key: str, sender: str, *, base_url: str | None = None,
                 timeout_s: float = 20.0) -> None:
        resend.api_key = api_key
        resend.api_url = (base_url or API_URL).rstrip("/")
        resend.default_async_http_client = HTTPXClient(timeout=max(1, round(timeout_s)))
        self.sender = sender

    async def send(self, mail: Mail, idempotency_key: str) -> str:
        params: dict[str, Any] = {
            "from": self.sender, "to": [mail.to], "subject": mail.subject,
            "text": mail.text, "html": mail.html,
            "headers": {"Content-Language": mail.locale, **dict(mail.headers)},
        }
        try:
            sent = await resend.Emails.send_async(
                params,  # type: ignore[arg-type]  # the SDK's TypedDict: same keys, built as a plain dict
                {"idempotency_key": idempotency_key})
        except ResendError as exc:
            # not chained: the SDK's message can quote the address it refused
            raise failure(exc) from None
        return str(sent["id"])
