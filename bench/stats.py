"""Numbers of a run: latency summaries, delivery accounting, targets and the scenario result."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


@dataclass(frozen=True, slots=True)
class Summary:
    """A latency distribution in milliseconds; p99.9 only when the sample is large enough."""

    n: int
    median: float
    p99: float
    p999: float | None
    max: float
    mean: float

    @classmethod
    def of(cls, values_ms: Iterable[float]) -> Summary:
        data = sorted(values_ms)
        if not data:
            return cls(0, math.nan, math.nan, None, math.nan, math.nan)
        return cls(
            n=len(data),
            median=percentile(data, 50),
            p99=percentile(data, 99),
            p999=percentile(data, 99.9) if len(data) >= 1000 else None,
            max=data[-1],
            mean=sum(data) / len(data),
        )

    def brief(self) -> str:
        if self.n == 0:
            return "no samples"
        tail = f", p99.9 {self.p999:.2f}" if self.p999 is not None else ""
        return f"median {self.median:.2f} ms, p99 {self.p99:.2f} ms{tail} (n={self.n})"


@dataclass(frozen=True, slots=True)
class Target:
    """One goal of the issue; `higher_is_better` decides the comparison."""

    name: str
    goal: float
    value: float
    unit: str
    higher_is_better: bool
    offered: float | None = None  # a throughput target: the load the run offered

    @property
    def applies(self) -> bool:
        """A throughput goal above the offered load cannot be judged by this run."""
        return self.offered is None or self.offered >= self.goal

    @property
    def passed(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value >= self.goal if self.higher_is_better else self.value <= self.goal

    def passed_by(self, values: Iterable[float]) -> int:
        """How many of these values (one per run) meet the goal."""
        return sum(replace(self, value=v).passed for v in values)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "applies": self.applies}


@dataclass(slots=True)
class Delivery:
    """Lost and duplicated events seen by a set of receivers.

    `expect(receiver, key)` names an event the receiver must get; `got(receiver, key)`
    records one arrival. Lost = expected but never arrived; duplicated = arrived more than
    once on a connection that never reconnected (a reconnect may legitimately replay).
    """

    expected: dict[str, set[Any]] = field(default_factory=dict)
    arrived: dict[str, dict[Any, int]] = field(default_factory=dict)

    def expect(self, receiver: str, key: Any) -> None:
        self.expected.setdefault(receiver, set()).add(key)

    def got(self, receiver: str, key: Any) -> None:
        seen = self.arrived.setdefault(receiver, {})
        seen[key] = seen.get(key, 0) + 1

    @property
    def lost(self) -> int:
        return sum(
            len(keys - self.arrived.get(receiver, {}).keys())
            for receiver, keys in self.expected.items()
        )

    @property
    def duplicated(self) -> int:
        return sum(n - 1 for seen in self.arrived.values() for n in seen.values() if n > 1)


@dataclass(slots=True)
class Result:
    """What one scenario measured; `samples` feed the plots and stay out of the JSON."""

    scenario: str
    quick: bool
    params: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    latency: dict[str, Summary] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    lost: int = 0
    duplicated: int = 0
    notes: list[str] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    duration_s: float = 0.0
    finished_at: str = ""
    # with `--repeat N`: every run's value of each target, in run order
    repeats: dict[str, list[float]] = field(default_factory=dict)

    def add_latency(self, name: str, values_ms: list[float]) -> Summary:
        summary = Summary.of(values_ms)
        self.latency[name] = summary
        self.samples[name] = values_ms
        return summary

    def as_json(self) -> dict[str, Any]:
        targets = []
        for t in self.targets:
            body = t.as_json()
            values = self.repeats.get(t.name)
            if values:
                body["runs"] = values
                body["passed_runs"] = t.passed_by(values)
            targets.append(body)
        return {
            "scenario": self.scenario,
            "quick": self.quick,
            "params": self.params,
            "metrics": self.metrics,
            "latency_ms": {k: asdict(v) for k, v in self.latency.items()},
            "targets": targets,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "notes": self.notes,
            "duration_s": round(self.duration_s, 2),
            "finished_at": self.finished_at,
        }


def rate_series(times: Sequence[float], bucket_s: float = 0.5) -> list[tuple[float, float]]:
    """Events per second in buckets, from event timestamps (seconds) relative to the first."""
    if not times:
        return []
    start = min(times)
    counts: dict[int, int] = {}
    for t in times:
        b = int((t - start) / bucket_s)
        counts[b] = counts.get(b, 0) + 1
    return [(b * bucket_s, counts.get(b, 0) / bucket_s) for b in range(max(counts) + 1)]


def deciding(result: Result) -> Target | None:
    """The target a run is ranked by: its first applicable one where lower is better (a
    latency, a ratio, a time), else its first applicable one."""
    applicable = [t for t in result.targets if t.applies]
    return next((t for t in applicable if not t.higher_is_better),
                applicable[0] if applicable else None)


def combine(runs: Sequence[Result]) -> Result:
    """Several runs of one scenario as one result: the median run (ranked by its deciding
    target; of two middle runs, the worse) with every run's value of each target beside
    it, and lost and duplicated summed over all runs, so no run's loss is hidden.

    A p99 at saturation varies from run to run far more than a throughput does, so one
    run's verdict near a goal can flip; the median run and the count of runs that passed
    say how the code fares, not how one run did."""
    if len(runs) == 1:
        return runs[0]
    first = deciding(runs[0])

    def rank(r: Result) -> float:
        t = next((x for x in r.targets if first is not None and x.name == first.name), None)
        if t is None or math.isnan(t.value):
            return math.inf
        return -t.value if t.higher_is_better else t.value

    ordered = sorted(runs, key=rank)
    chosen = ordered[len(ordered) // 2]
    chosen.repeats = {t.name: [next((x.value for x in r.targets if x.name == t.name), math.nan)
                               for r in runs] for t in chosen.targets}
    chosen.lost = sum(r.lost for r in runs)
    chosen.duplicated = sum(r.duplicated for r in runs)
    chosen.notes = [*chosen.notes, f"Median of {len(runs)} runs by "
                    f"{first.name if first else 'its first target'}; lost and duplicated "
                    "are summed over all runs."]
    return chosen
