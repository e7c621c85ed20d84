"""The report's shortfall notes: a short fan-out p99 cites the bare floor `peer` measured
under the same workload, and only under the same workload."""

from __future__ import annotations

from pathlib import Path

from bench import report
from bench.stats import Result, Summary, Target

PARAMS = {"rooms": 50, "members": 500, "rate": 4.1, "duration_s": 20.0, "workers": 3}


def fanout_short() -> Result:
    result = Result("fanout", quick=False, params=dict(PARAMS))
    result.targets = [Target("delivery latency p99", 15, 92.0, "ms", False)]
    result.latency["delivery (members)"] = Summary.of([10.0, 92.0])
    return result


def peer_with_floor(params: dict[str, float]) -> Result:
    result = Result("peer", quick=False, params=params)
    result.metrics["delivered_frames_per_s_websockets"] = 101_500.4
    result.latency["delivery (websockets)"] = Summary.of([150.0] * 98 + [411.0, 411.0])
    return result


def test_a_short_fanout_p99_cites_the_floor_of_the_same_workload(tmp_path: Path) -> None:
    report.write_result(fanout_short(), tmp_path)
    report.write_result(peer_with_floor(dict(PARAMS)), tmp_path)
    text = report.write_report(tmp_path).read_text()
    line = next(s for s in text.splitlines() if s.startswith("- **fanout**"))
    assert "bare Python floor" in line and "101,500 frames/s at p99 411" in line


def test_a_floor_measured_under_other_sizes_is_not_cited(tmp_path: Path) -> None:
    report.write_result(fanout_short(), tmp_path)
    report.write_result(peer_with_floor({**PARAMS, "members": 100}), tmp_path)
    text = report.write_report(tmp_path).read_text()
    assert "- **fanout**" in text and "bare Python floor" not in text


def test_a_short_stream_says_how_many_answers_streamed_at_once(tmp_path: Path) -> None:
    result = Result("stream", quick=False, params={"streams": 1000})
    result.targets = [Target("hub-added first token p99", 10, 55.0, "ms", False)]
    result.metrics.update(streams=1000, cpu_ms_per_answer=14.9, peak_concurrent_streams=152)
    report.write_result(result, tmp_path)
    line = next(s for s in report.write_report(tmp_path).read_text().splitlines()
                if s.startswith("- **stream**"))
    assert "14.90 s of one core for 1000 answers" in line
    assert "at most 152 of them streamed at once" in line
