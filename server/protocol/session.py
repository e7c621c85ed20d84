"""Per-connection edge policy with no I/O: rate limiting and the bad-frame budget."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from server.protocol.codes import CloseCode
from server.settings import Limits


@dataclass(slots=True)
class TokenBucket:
    capacity: float
    rate: float
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class EdgePolicy:
    """Counts what a connection did wrong and says when to close it."""

    limits: Limits
    bucket: TokenBucket = field(init=False)
    bad_frames: int = 0
    rate_strikes: int = 0

    def __post_init__(self) -> None:
        self.bucket = TokenBucket(float(self.limits.msg_burst), self.limits.msg_rate_per_s)

    def allow_message(self, now: float | None = None) -> bool:
        if self.bucket.take(now):
            return True
        self.rate_strikes += 1
        return False

    def bad_frame(self) -> None:
        self.bad_frames += 1

    def close_code(self) -> CloseCode | None:
        """A code when the connection has crossed from mistakes into abuse."""
        if self.bad_frames >= self.limits.max_bad_frames:
            return CloseCode.POLICY
        # flooding: far past the burst even after being told to slow down
        if self.rate_strikes >= self.limits.msg_burst * 5:
            return CloseCode.POLICY
        return None
