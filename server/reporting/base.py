"""What the server asks of an error reporter. Errors reach it by being logged at ERROR (with
`exc_info`): the reporter hooks logging, so no call site names it."""

from __future__ import annotations

from typing import Protocol


class ErrorReporter(Protocol):
    name: str  # for the start-up log line: "sentry" or "off"

    def close(self, timeout_s: float = 2.0) -> None:
        """Send what is still queued, bounded in time; nothing is reported afterwards."""
        ...
