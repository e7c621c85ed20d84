"""EdgePolicy as tables: every frame spends the socket's frame bucket, storing frames the
message bucket too, and refusals add up to a 4008 close."""

from __future__ import annotations

import pytest

from server.protocol.session import EdgePolicy
from server.settings import Limits

LIMITS = Limits(msg_burst=3, msg_rate_per_s=1.0, frame_burst=5, frame_rate_per_s=2.0)


@pytest.mark.parametrize(("sent", "allowed"), [
    # (rated?, ...) sent at one instant -> which pass
    ([False] * 7, [True] * 5 + [False] * 2),  # pings, reads: the frame bucket alone
    ([True] * 5, [True] * 3 + [False] * 2),  # msgs: the message bucket is the smaller
    # a flood of pings also starves messages: they need a frame token as well
    ([False] * 5 + [True], [True] * 5 + [False]),
    # messages refused by their bucket still spent frame tokens: then pings are refused
    ([True] * 4 + [False] * 2, [True] * 3 + [False, True, False]),
])
def test_buckets_at_one_instant(sent: list[bool], allowed: list[bool]) -> None:
    policy = EdgePolicy(LIMITS)
    now = policy.frames.stamp
    assert [policy.allow_frame(rated, now) for rated in sent] == allowed
    assert policy.rate_strikes == allowed.count(False)


def test_refill_and_retry_after() -> None:
    policy = EdgePolicy(LIMITS)
    now = policy.frames.stamp
    for _ in range(3):
        assert policy.allow_frame(True, now)
    assert not policy.allow_frame(True, now)
    # the message bucket refills at 1/s, the frame bucket at 2/s: a message waits for
    # the slower one, a ping does not
    assert policy.retry_after_s(True) == pytest.approx(1.0)
    assert policy.retry_after_s(False) == 0.0
    assert not policy.allow_frame(True, now + 0.5)
    assert policy.allow_frame(True, now + 1.01)


def test_refusals_from_anywhere_close_a_flood() -> None:
    policy = EdgePolicy(LIMITS)
    now = policy.frames.stamp
    strikes_to_close = LIMITS.msg_burst * 5
    sent = [policy.allow_frame(False, now) for _ in range(5 + strikes_to_close - 1)]
    assert sent.count(False) == strikes_to_close - 1 and policy.close_code() is None
    policy.refused()  # a quota shared with the visitor's other sockets said no
    assert policy.close_code() == 4008
