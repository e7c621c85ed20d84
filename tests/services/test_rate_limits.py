"""Rate limits across connections: the Redis counters against the session's real Redis
(two brokers standing for two processes), the local counters with a moved clock."""

from __future__ import annotations

import asyncio
import uuid

from server.broker.redis import RedisBroker
from server.services.rate_limits import (
    LocalCounters,
    RateLimiter,
    RedisCounters,
    Rule,
    Scope,
    subject_key,
)
from server.settings import Quotas, Settings


def _rules(limit: int, window_s: float) -> dict[Scope, Rule]:
    return {scope: Rule(scope, limit, window_s) for scope in Scope}


async def test_two_processes_share_one_limit_and_the_window_resets(redis_url: str) -> None:
    first, second = RedisBroker(redis_url), RedisBroker(redis_url)
    try:
        rules = _rules(5, 0.5)
        a = RateLimiter(RedisCounters(first.command), rules)
        b = RateLimiter(RedisCounters(second.command), rules)
        subject = uuid.uuid4().hex
        verdicts = [await (a if i % 2 else b).check(Scope.VISITOR_FRAMES, subject)
                    for i in range(8)]
        assert [v.allowed for v in verdicts] == [True] * 5 + [False] * 3
        refused = verdicts[-1]
        assert 0 < refused.retry_after_s <= 0.5
        # another subject and another scope are counted apart
        assert (await a.check(Scope.VISITOR_FRAMES, uuid.uuid4().hex)).allowed
        assert (await a.check(Scope.IP_SOCKETS, subject)).allowed
        await asyncio.sleep(refused.retry_after_s + 0.05)  # the window itself is the subject
        assert (await b.check(Scope.VISITOR_FRAMES, subject)).allowed
    finally:
        await first.close()
        await second.close()


async def test_concurrent_checks_never_admit_more_than_the_limit(redis_url: str) -> None:
    broker = RedisBroker(redis_url)
    try:
        limiter = RateLimiter(RedisCounters(broker.command), _rules(10, 30))
        subject = uuid.uuid4().hex
        verdicts = await asyncio.gather(*(limiter.check(Scope.IP_CONVERSATIONS, subject)
                                          for _ in range(50)))
        assert sum(v.allowed for v in verdicts) == 10
    finally:
        await broker.close()


async def test_redis_down_allows_and_counts_it() -> None:
    broker = RedisBroker("redis://127.0.0.1:1")  # nothing listens there
    try:
        limiter = RateLimiter(RedisCounters(broker.command), _rules(1, 10))
        verdict = await limiter.check(Scope.IP_LOGINS, "x")
        assert verdict.allowed and limiter.unavailable == 1
    finally:
        await broker.close()


async def test_local_counters_follow_the_clock() -> None:
    now = [100.0]
    limiter = RateLimiter(LocalCounters(clock=lambda: now[0]), _rules(2, 10))
    assert [(await limiter.check(Scope.IP_SIGNUPS, "ip")).allowed for _ in range(3)] == \
        [True, True, False]
    now[0] += 10.0
    assert (await limiter.check(Scope.IP_SIGNUPS, "ip")).allowed


def test_quota_settings_parse_count_and_window() -> None:
    settings = Settings.from_env({"CLIENTA_QUOTA_IP_SIGNUPS": "3/60",
                                  "CLIENTA_QUOTA_VISITOR_FRAMES": "50"})
    assert settings.quotas.ip_signups == (3, 60.0)
    assert settings.quotas.visitor_frames == (50, Quotas().visitor_frames[1])


def test_subject_keys_hide_the_value() -> None:
    key = subject_key("person@example.com")
    assert "person" not in key and key == subject_key("person@example.com")
