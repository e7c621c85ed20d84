"""Results on disk: `bench/results/<scenario>.json`, a PNG per scenario and `report.md`."""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

import psutil

from bench.stats import Result

RESULTS = Path(__file__).resolve().parent / "results"
ORDER = ("connections", "chat", "stream", "resume", "fanout", "peer")


def write_result(result: Result, out: Path = RESULTS) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result.scenario}.json"
    body = result.as_json()
    if result.samples or result.series:
        body["plot"] = plot(result, out)
    path.write_text(json.dumps(body, indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def plot(result: Result, out: Path) -> str:
    """Latency distributions (CDF, log x) and throughput over time, one PNG per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = int(bool(result.samples)) + int(bool(result.series))
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.2), squeeze=False)
    col = 0
    if result.samples:
        ax = axes[0][col]
        col += 1
        for name, values in result.samples.items():
            data = sorted(v for v in values if v > 0)
            if not data:
                continue
            ys = [(i + 1) / len(data) for i in range(len(data))]
            ax.plot(data, ys, label=f"{name} (n={len(data)})")
        ax.set_xscale("log")
        ax.set_xlabel("milliseconds")
        ax.set_ylabel("fraction ≤ x")
        ax.axhline(0.99, color="grey", linewidth=0.6, linestyle="--")
        ax.set_title(f"{result.scenario}: latency CDF")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    if result.series:
        ax = axes[0][col]
        for name, points in result.series.items():
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], label=name)
        ax.set_xlabel("seconds")
        ax.set_ylabel("per second")
        ax.set_title(f"{result.scenario}: throughput")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    name = f"{result.scenario}.png"
    fig.savefig(out / name, dpi=90)
    plt.close(fig)
    return name


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def write_report(out: Path = RESULTS) -> Path:
    """report.md from every `<scenario>.json` present: the latest figures of each."""
    results = []
    for name in ORDER:
        path = out / f"{name}.json"
        if path.exists():
            results.append(json.loads(path.read_text()))
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Clienta benchmark report",
        "",
        f"Machine: {psutil.cpu_count()} cores ({cpu}), "
        f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM, Python {platform.python_version()}.",
        "Latencies in milliseconds. Lost and duplicated events must be 0.",
        "",
        "## Targets",
        "",
        "| scenario | target | goal | measured | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        mode = " (quick)" if r.get("quick") else ""
        for t in r.get("targets", []):
            op = "≥" if t["higher_is_better"] else "≤"
            verdict = "PASS" if t["passed"] else "SHORT"
            if not t.get("applies", True):
                verdict = f"n/a (offered {_fmt(t['offered'])} {t['unit']})"
            elif r.get("quick"):
                verdict += "*"
            measured = f"{_fmt(t['value'])} {t['unit']}"
            if t.get("runs"):
                values = [v for v in t["runs"] if v is not None]
                measured += (f" (median run of {len(t['runs'])}: {_fmt(min(values))}–"
                             f"{_fmt(max(values))}, {t['passed_runs']} passed)")
            lines.append(
                f"| {r['scenario']}{mode} | {t['name']} | {op} {_fmt(t['goal'])} {t['unit']} "
                f"| {measured} | {verdict} |"
            )
    if any(r.get("quick") for r in results):
        lines += ["", "\\* measured at a reduced (quick) size; the goals are stated for the full "
                  "sizes (`python -m bench SCENARIO` without --quick)."]
    lines += _shortfalls(results)
    lines += ["", "## Latency", "",
              "| scenario | measure | n | median | p99 | p99.9 | max |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        for name, s in r.get("latency_ms", {}).items():
            lines.append(
                f"| {r['scenario']} | {name} | {s['n']} | {_fmt(s['median'])} | {_fmt(s['p99'])} "
                f"| {_fmt(s['p999'])} | {_fmt(s['max'])} |"
            )
    lines += ["", "## Delivery and throughput", "",
              "| scenario | lost | duplicated | figures | run |",
              "| --- | --- | --- | --- | --- |"]
    for r in results:
        figures = ", ".join(f"{k} {_fmt(v)}" for k, v in r.get("metrics", {}).items())
        run = f"{r.get('duration_s', 0)} s, {r.get('finished_at', '')}"
        lines.append(f"| {r['scenario']} | {r['lost']} | {r['duplicated']} | {figures} | {run} |")
    for r in results:
        lines += ["", f"### {r['scenario']}", ""]
        lines.append("Parameters: " + ", ".join(f"{k}={v}" for k, v in r["params"].items()))
        for note in r.get("notes", []):
            lines.append(f"- {note}")
        if r.get("plot"):
            lines += ["", f"![{r['scenario']}]({r['plot']})"]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _floor(results: list[dict[str, Any]], r: dict[str, Any]) -> str:
    """For fanout: what the bare Python floor did under the same workload in `peer`."""
    if r["scenario"] != "fanout":
        return ""
    for other in results:
        floor = other.get("latency_ms", {}).get("delivery (websockets)")
        if other["scenario"] == "peer" and other.get("params") == r.get("params") and floor:
            rate = other.get("metrics", {}).get("delivered_frames_per_s_websockets", 0)
            return (f"under the same workload in `peer` the bare Python floor (the websockets "
                    f"library's broadcast() over Redis, storing nothing) delivered "
                    f"{_fmt(rate)} frames/s at p99 {_fmt(floor['p99'])} ms")
    return ""


def _shortfalls(results: list[dict[str, Any]]) -> list[str]:
    """Where a target is short, the run's own evidence of why (saturation, CPU per unit)."""
    lines: list[str] = []
    for r in results:
        short = [t["name"] for t in r.get("targets", [])
                 if t.get("applies", True) and not t["passed"]]
        if not short:
            continue
        m = r.get("metrics", {})
        why = []
        for key, offered in m.items():
            if not key.startswith("offered_"):
                continue
            rest = key.removeprefix("offered_")
            got = m.get(f"delivered_{rest}", m.get(f"stored_{rest}"))
            if got is not None and offered and got < 0.97 * offered:
                why.append(f"{_fmt(got)} of {_fmt(offered)} offered went through: the box is "
                           "saturated, so the latencies at this size are queueing")
        if "cpu_ms_per_answer" in m and "streams" in m:
            why.append(f"{_fmt(m['cpu_ms_per_answer'])} ms of server CPU per answer: "
                       f"{_fmt(m['cpu_ms_per_answer'] * m['streams'] / 1000)} s of one core for "
                       f"{_fmt(m['streams'])} answers asked within seconds, so they queue")
            if "peak_concurrent_streams" in m:
                why.append(f"at most {_fmt(m['peak_concurrent_streams'])} of them streamed at "
                           "once (the rest had finished or not yet started)")
        floor = _floor(results, r)
        if floor:
            why.append(floor)
        if "old_process_exit_s" in m:
            why.append(f"the old process took {_fmt(m['old_process_exit_s'])} s to exit; the "
                       "rest is the new process resuming every visitor at full CPU")
        if "cpu_busy_cores" in m:
            users = ", ".join(f"{k[4:-6].replace('_', ' ')} {_fmt(v)}" for k, v in m.items()
                              if k.startswith("cpu_") and k.endswith("_cores")
                              and k != "cpu_busy_cores")
            why.append(f"while it was measured {_fmt(m['cpu_busy_cores'])} of the host's "
                       f"{_fmt(m.get('host_cores', '?'))} cores were busy ({users})")
        if "host_load_1m_before" in m:
            why.append(f"host load {_fmt(m['host_load_1m_before'])} when the run started")
        lines.append(f"- **{r['scenario']}** ({', '.join(short)}): " + "; ".join(why) + ".")
    if not lines:
        return []
    return ["", "## Where a target is short, and why", "",
            "The load generators, Postgres, Redis (and the fake LLM) share the machine's cores "
            "with the servers. Profiles of what limits each scenario are in "
            "docs/performance.md (What the numbers say).", "", *lines]

