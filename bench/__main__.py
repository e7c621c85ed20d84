"""`python -m bench SCENARIO [--quick]`: run load scenarios against real server processes."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bench import report
from bench.runner import expand, run_scenarios
from bench.scenarios import NAMES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenario", choices=[*NAMES, "all"])
    parser.add_argument("--quick", action="store_true", help="small sizes (make bench)")
    parser.add_argument("--tiny", action="store_true", help="a handful of clients (smoke test)")
    parser.add_argument("--out", type=Path, default=report.RESULTS, help="results folder")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run each scenario N times; report the median run and every "
                             "run's value of each target (a p99 at saturation varies a lot)")
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= 20:
        parser.error("--repeat takes 1 to 20")
    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    run = asyncio.run(run_scenarios(expand(args.scenario), size, args.out,
                                    repeat=args.repeat))
    bad = [r.scenario for r in run.results.values() if r.lost or r.duplicated]
    if bad:
        print(f"lost or duplicated events in: {', '.join(bad)}", file=sys.stderr)
    return 1 if run.failures or bad else 0


if __name__ == "__main__":
    sys.exit(main())
