"""Per-connection edge policy with no I/O: rate limiting and the bad-frame budget."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from server.protocol.codes import CloseCode
from server.protocol.limits import EdgeLimits


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

    def wait_s(self) -> float:
        """Seconds until the next token, as of the last take."""
        return max(0.0, (1.0 - self.tokens) / self.rate) if self.rate > 0 else 60.0


@dataclass(slots=True)
class EdgePolicy:
    """Counts what a connection did wrong and says when to close it."""

    limits: EdgeLimits
    bucket: TokenBucket = field(init=False)  # frames that store or publish
    frames: TokenBucket = field(init=False)  # every frame, ping included
    bad_frames: int = 0
    rate_strikes: int = 0

    def __post_init__(self) -> None:
        self.bucket = TokenBucket(float(self.limits.msg_burst), self.limits.msg_rate_per_s)
        self.frames = TokenBucket(float(self.limits.frame_burst), self.limits.frame_rate_per_s)

    def allow_frame(self, rated: bool, now: float | None = None) -> bool:
        """Every frame takes a token of the frame bucket; a rated one (it stores or
        publishes) also one of the message bucket."""
        now = time.monotonic() if now is None else now
        if not self.frames.take(now):
            self.rate_strikes += 1
            return False
        if rated and not self.bucket.take(now):
            self.rate_strikes += 1
            return False
        return True

    def retry_after_s(self, rated: bool) -> float:
        """How long a refused frame should wait before it could pass here."""
        wait = self.frames.wait_s()
        return max(wait, self.bucket.wait_s()) if rated else wait

    def refused(self) -> None:
        """A quota shared with other connections refused a frame: flooding all the same."""
        self.rate_strikes += 1

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
