"""Prometheus metrics, one registry per application object (no module-level state)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from server.domain.roles import Author


class Tally:
    """A plain counter for per-frame hot paths: an int add, read at scrape time."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


class _Tallies(Collector):
    """Exports per-kind tallies as one counter or gauge family."""

    def __init__(self, family: type[CounterMetricFamily | GaugeMetricFamily], name: str,
                 doc: str, tallies: dict[str, Tally], label: str = "kind") -> None:
        self.family, self.name, self.doc, self.tallies = family, name, doc, tallies
        self.label = label

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        family = self.family(self.name, self.doc, labels=[self.label])
        for kind, tally in sorted(self.tallies.items()):
            family.add_metric([kind], tally.n)
        yield family


def _per_kind() -> dict[str, Tally]:
    return {"visitor": Tally(), "agent": Tally()}

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        # per-connection and per-frame counts are plain ints: prometheus_client's labelled
        # children cost a lock and a label lookup each, measurable at thousands per second
        self.connections = _per_kind()
        r.register(_Tallies(GaugeMetricFamily, "clienta_open_connections",
                            "Open websocket connections", self.connections))
        self.frames_in = _per_kind()
        r.register(_Tallies(CounterMetricFamily, "clienta_frames_in", "Frames received",
                            self.frames_in))
        self.frames_out = _per_kind()
        r.register(_Tallies(CounterMetricFamily, "clienta_frames_out", "Frames sent",
                            self.frames_out))
        # per stored message: an int add, not labels(...).inc() (~3 µs each, measured)
        # keyed by the Author values: the store path indexes it with the role's str
        self.messages_stored: dict[str, Tally] = {role: Tally() for role in Author}
        r.register(_Tallies(CounterMetricFamily, "clienta_messages_stored", "Events stored",
                            self.messages_stored, label="author"))
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
