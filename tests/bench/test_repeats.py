"""`--repeat N`: several runs of a scenario reported as the median run, with every run's
target values and loss summed over all runs."""

from __future__ import annotations

import json

from bench import report
from bench.stats import Result, Target, combine


def run(p99: float, rate: float, lost: int = 0) -> Result:
    result = Result("chat", quick=False, params={})
    result.targets = [
        Target("stored messages per second", 3000, float(rate), "msg/s", True, offered=3200),
        Target("ack latency p99", 50, float(p99), "ms", False),
    ]
    result.lost = lost
    return result


def test_the_median_run_by_its_latency_target_with_every_runs_values() -> None:
    runs = [run(72, 3198), run(46, 3199, lost=1), run(79, 3197), run(48, 3196), run(50, 3198)]
    combined = combine(runs)
    assert combined is runs[4]  # p99s 46, 48, 50, 72, 79: the middle one
    assert combined.repeats["ack latency p99"] == [72, 46, 79, 48, 50]
    assert combined.lost == 1  # a loss in any run is not hidden by the run chosen
    body = combined.as_json()
    p99 = next(t for t in body["targets"] if t["name"] == "ack latency p99")
    assert p99["passed_runs"] == 3 and p99["runs"] == [72, 46, 79, 48, 50]


def test_of_two_middle_runs_the_worse_is_kept() -> None:
    runs = [run(40, 3200), run(60, 3200)]
    assert combine(runs) is runs[1]


def test_one_run_is_reported_as_it_is(tmp_path) -> None:
    single = run(45, 3199)
    assert combine([single]) is single and not single.repeats
    report.write_result(combine([run(72, 3198), run(46, 3199), run(48, 3196)]), tmp_path)
    text = report.write_report(tmp_path).read_text()
    assert "48.00 ms (median run of 3: 46.00–72.00, 2 passed)" in text
    report.write_result(single, tmp_path)
    assert all("runs" not in t
               for t in json.loads((tmp_path / "chat.json").read_text())["targets"])
