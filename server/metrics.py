"""Prometheus metrics, one registry per application object (no module-level state)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class Tally:
    """A plain counter for per-frame hot paths: an int add, read at scrape time."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


class _FramesOut(Collector):
    def __init__(self, tallies: dict[str, Tally]) -> None:
        self.tallies = tallies

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("clienta_frames_out", "Frames sent", labels=["kind"])
        for kind, tally in sorted(self.tallies.items()):
            family.add_metric([kind], tally.n)
        yield family

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.connections = Gauge("clienta_open_connections", "Open websocket connections",
                                 ["kind"], registry=r)
        self.frames_in = Counter("clienta_frames_in_total", "Frames received", ["kind"],
                                 registry=r)
        self.frames_out = {"visitor": Tally(), "agent": Tally()}
        r.register(_FramesOut(self.frames_out))
        self.messages_stored = Counter("clienta_messages_stored_total", "Events stored",
                                       ["author"], registry=r)
        self.bot_ttft = Histogram("clienta_bot_time_to_first_token_seconds",
                                  "Bot time to first token", buckets=_LATENCY_BUCKETS, registry=r)
        self.bot_duration = Histogram("clienta_bot_stream_duration_seconds",
                                      "Bot stream duration", buckets=_LATENCY_BUCKETS, registry=r)
        self.redis_reconnects = Gauge("clienta_redis_listener_reconnects",
                                      "Redis listener reconnects since start", registry=r)
        self.slow_consumers = Counter("clienta_slow_consumers_total",
                                      "Connections cut off as too slow", registry=r)
        self.handoffs = Counter("clienta_handoffs_total", "Conversations queued for a person",
                                ["trigger"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
