"""Reporting off (no `SENTRY_DSN`): errors are in the JSON log only."""

from __future__ import annotations


class NoReporter:
    name = "off"

    def close(self, timeout_s: float = 2.0) -> None:
        return None
