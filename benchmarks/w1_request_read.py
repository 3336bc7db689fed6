"""W1 alone (the core issue's first instrument): rawdb against the bare driver.

    python -m benchmarks.w1_request_read            # SQLite
    python -m benchmarks.w1_request_read --all      # + local PostgreSQL and MariaDB
    python -m benchmarks.w1_request_read --pg URL --mysql URL --reps 7 --ops 3000

Each request: acquire, begin (read-only), SELECT one task by primary key into a
`Task` with its metadata decoded, commit, release. Contenders are interleaved;
the ratio is rawdb's time over the bare driver's, per repetition, median (min-max).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace

from benchmarks.__main__ import run_all
from benchmarks.databases import LOCAL_MYSQL, LOCAL_PG
from benchmarks.progress import Progress
from benchmarks.report import summarize
from benchmarks.runner import Plan, steps
from benchmarks.workloads import FULL


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.w1_request_read", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pg", metavar="URL")
    p.add_argument("--mysql", metavar="URL")
    p.add_argument("--all", action="store_true")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--ops", type=int, default=1000, help="requests per repetition and contender")
    args = p.parse_args(argv)
    sizes = replace(FULL, w1_ops=args.ops)
    targets: list[tuple[str, str | None]] = [("sqlite", None)]
    if args.pg or args.all:
        targets.append(("postgresql", args.pg or LOCAL_PG))
    if args.mysql or args.all:
        targets.append(("mysql", args.mysql or LOCAL_MYSQL))
    plans = [Plan(d, url, sizes, args.reps, ("W1",), ("rawdb", "bare")) for d, url in targets]
    progress = Progress(sum(steps(plan) for plan in plans))
    results = asyncio.run(run_all(plans, progress))
    progress.finish()
    print(f"W1 request-read, {args.ops} requests x {args.reps} repetitions, interleaved")
    print(f"{'dialect':<12} {'rawdb µs':>10} {'bare µs':>10}  ratio rawdb/bare, median (min-max)")
    for dialect, result in results.items():
        w1 = summarize(result)["workloads"]["W1"]
        r, b = w1["contenders"]["rawdb"], w1["contenders"]["bare"]
        ratio = w1["ratios_to_bare"]["rawdb"]
        print(f"{dialect:<12} {r['median']:>10.1f} {b['median']:>10.1f}  "
              f"{ratio['median']:.3f} ({ratio['min']:.3f}-{ratio['max']:.3f})  "
              f"[{result.contenders['bare']['label']}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
