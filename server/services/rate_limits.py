"""Rate limits shared by every process: fixed-window counters in Redis, keyed by what is
limited (a visitor, a site key, an IP, an account), so reconnecting or opening parallel
sockets, or spreading requests over processes, does not multiply a limit.

Per-connection token buckets (`protocol.session.EdgePolicy`) stay the first line; these
counters bound what one party can do across connections. If Redis cannot answer, a
check is allowed (the per-connection limits still hold) rather than refusing service
while a dependency is down; that is counted in `unavailable`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from server.settings import Quotas

log = logging.getLogger("clienta.ratelimit")

# INCR the window's counter, give it its expiry on first use; answer (count, ms left)
_SCRIPT = (
    "local n = redis.call('INCRBY', KEYS[1], ARGV[2]) "
    "if n == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
    "local ttl = redis.call('PTTL', KEYS[1]) "
    "if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end "
    "return {n, ttl}"
)

Command = Callable[..., Awaitable[Any]]


class Scope(StrEnum):
    """What a limit counts; the value is the Redis key's middle part."""

    VISITOR_FRAMES = "vf"  # a visitor's other frames that write or publish (read, typing...)
    VISITOR_MESSAGES = "vm"  # frames that store or publish something
    IP_SOCKETS = "is"  # websocket sessions opened from one IP
    IP_CONVERSATIONS = "ic"  # conversations created from one IP
    SITE_CONVERSATIONS = "sc"  # conversations created under one site key
    IP_SIGNUPS = "su"  # sign-ups from one IP
    IP_LOGINS = "li"  # login attempts from one IP
    ACCOUNT_LOGINS = "la"  # login attempts for one email address
    IP_PASSWORD_RESETS = "pi"  # password-reset requests from one IP
    ACCOUNT_PASSWORD_RESETS = "pa"  # password-reset requests for one email address
    VISITOR_TRANSCRIPTS = "vt"  # transcripts by email one visitor asked for


@dataclass(frozen=True, slots=True)
class Rule:
    scope: Scope
    limit: int  # at most this many per window
    window_s: float


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    count: int
    retry_after_s: float  # until the window resets (0 when allowed)


class Counters(Protocol):
    async def hit(self, key: str, cost: int, window_ms: int) -> tuple[int, int]:
        """Add `cost` to the window counter under `key`; (new count, ms until reset)."""
        ...


class RedisCounters:
    """Counters on the broker's auto-pipelined command connection (one EVAL a check)."""

    def __init__(self, command: Command) -> None:
        self._command = command

    async def hit(self, key: str, cost: int, window_ms: int) -> tuple[int, int]:
        count, ttl = await self._command("EVAL", _SCRIPT, 1, key, window_ms, cost)
        return int(count), int(ttl)


class LocalCounters:
    """Counters of this process only, for tests of the rules on a moved clock (the server
    counts in Redis). Expired windows are dropped as they are met."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._windows: dict[str, tuple[int, float]] = {}

    async def hit(self, key: str, cost: int, window_ms: int) -> tuple[int, int]:
        now = self._clock()
        count, resets = self._windows.get(key, (0, 0.0))
        if resets <= now:
            if len(self._windows) >= self._max_keys:
                self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
            count, resets = 0, now + window_ms / 1000
        count += cost
        self._windows[key] = (count, resets)
        return count, max(1, int((resets - now) * 1000))


def subject_key(value: str) -> str:
    """A short, stable key part for an IP, email or site key: Redis keys are visible to
    whoever runs `KEYS`, so personal values go in hashed."""
    return hashlib.blake2s(value.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def rules_from(quotas: Quotas) -> dict[Scope, Rule]:
    """The configured (count, seconds) of each scope as rules."""
    table = {
        Scope.VISITOR_FRAMES: quotas.visitor_frames,
        Scope.VISITOR_MESSAGES: quotas.visitor_messages,
        Scope.IP_SOCKETS: quotas.ip_sockets,
        Scope.IP_CONVERSATIONS: quotas.ip_conversations,
        Scope.SITE_CONVERSATIONS: quotas.site_conversations,
        Scope.IP_SIGNUPS: quotas.ip_signups,
        Scope.IP_LOGINS: quotas.ip_logins,
        Scope.ACCOUNT_LOGINS: quotas.account_logins,
        Scope.IP_PASSWORD_RESETS: quotas.ip_password_resets,
        Scope.ACCOUNT_PASSWORD_RESETS: quotas.account_password_resets,
        Scope.VISITOR_TRANSCRIPTS: quotas.visitor_transcripts,
    }
    return {scope: Rule(scope, count, window) for scope, (count, window) in table.items()}


class RateLimiter:
    """`await limiter.check(Scope.IP_SIGNUPS, subject_key(ip))` -> Verdict."""

    def __init__(self, counters: Counters, rules: dict[Scope, Rule],
                 prefix: str = "rl") -> None:
        self._counters = counters
        self.rules = rules
        self._prefix = prefix
        self.unavailable = 0  # checks allowed because Redis did not answer

    async def check(self, scope: Scope, subject: str, cost: int = 1) -> Verdict:
        """Count one use of `scope` by `subject` (an id, or `subject_key` of a value)."""
        rule = self.rules[scope]
        if rule.limit <= 0:  # a limit of 0 turns the check off
            return Verdict(True, 0, 0.0)
        key = f"{self._prefix}:{rule.scope.value}:{subject}"
        window_ms = max(1, int(rule.window_s * 1000))
        try:
            count, ttl_ms = await self._counters.hit(key, cost, window_ms)
        except (ConnectionError, OSError, TimeoutError) as exc:
            self.unavailable += 1
            log.warning("rate limit check skipped: redis unavailable",
                        extra={"scope": rule.scope.value, "error": type(exc).__name__})
            return Verdict(True, 0, 0.0)
        if count <= rule.limit:
            return Verdict(True, count, 0.0)
        return Verdict(False, count, ttl_ms / 1000)
