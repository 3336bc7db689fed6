"""``python -m benchmarks``: rawdb against the bare drivers and SQLAlchemy 2.

    python -m benchmarks                    # SQLite, full run (7 repetitions)
    python -m benchmarks --quick            # SQLite, under a minute
    python -m benchmarks --all              # SQLite + the local PostgreSQL and MariaDB
    python -m benchmarks --pg postgresql://user@host/db --mysql mysql://root@host/db
    python -m benchmarks --profile W1 --dialect postgresql
    python -m benchmarks --curves --memory --processes   # the extra sections alone (SQLite; --pg/--mysql too)

--all also runs the three extra sections: cost per row as work grows (--curves),
memory of iterate() over 1,000,000 rows (--memory), and 4 processes on one SQLite
file (--processes); --no-extras leaves them out.

Each server run works in its own database ``rawdb_bench``, created and dropped by the
run. Results: ``benchmarks/results/<name>.json|.md|.png`` (name: ``latest`` for full
runs, ``quick`` for --quick).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks import contenders as registry
from benchmarks.databases import LOCAL_MYSQL, LOCAL_PG
from benchmarks.environment import load, machine
from benchmarks.progress import Progress
from benchmarks.report import chart, markdown, summarize, to_json
from benchmarks.runner import DialectResult, Plan, run_dialect, steps
from benchmarks.targets import evaluate
from benchmarks.workloads import FULL, QUICK, WORKLOADS

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pg", metavar="URL", help="also run against this PostgreSQL server")
    p.add_argument("--mysql", metavar="URL", help="also run against this MySQL/MariaDB server")
    p.add_argument("--all", action="store_true", help=f"SQLite + {LOCAL_PG} + {LOCAL_MYSQL}")
    p.add_argument("--skip-sqlite", action="store_true", help="only the servers")
    p.add_argument("--quick", action="store_true", help="small sizes, 3 repetitions")
    p.add_argument("--reps", type=int, help="repetitions (default 7; --quick 3)")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="e.g. W1,W3")
    p.add_argument("--contenders", default=",".join(registry.ORDER), help="e.g. rawdb,bare")
    p.add_argument("--w1-ops", type=int)
    p.add_argument("--w5-seconds", type=float)
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--name", help="base name of the result files")
    p.add_argument("--profile", metavar="WORKLOAD", choices=WORKLOADS,
                   help="profile one workload of one contender (cProfile) instead of a run")
    p.add_argument("--dialect", default="sqlite", choices=("sqlite", "postgresql", "mysql"),
                   help="dialect for --profile")
    p.add_argument("--contender", default="rawdb", choices=registry.ORDER, help="contender for --profile")
    p.add_argument("--curves", action="store_true",
                   help="W3 at 10..100,000 rows and W4 at 100..100,000 rows, rawdb and bare, µs per row (+ PNG)")
    p.add_argument("--memory", action="store_true",
                   help="iterate() and fetch_all over 1,000,000 rows vs the driver's cursor: peak RSS, µs per row")
    p.add_argument("--processes", action="store_true",
                   help="4 processes x 16 tasks on one SQLite file vs the same load in one process")
    p.add_argument("--no-extras", action="store_true", help="with --all: leave out curves, memory, processes")
    p.add_argument("--w6", action="store_true",
                   help="W6 read replicas on throwaway servers instead (python -m benchmarks.w6_replicas)")
    args = p.parse_args(argv)
    for name in args.workloads.split(","):
        if name not in WORKLOADS:
            p.error(f"unknown workload {name!r}")
    for name in args.contenders.split(","):
        if name not in registry.ORDER:
            p.error(f"unknown contender {name!r}")
    return args


def plans(args: argparse.Namespace) -> list[Plan]:
    sizes = QUICK if args.quick else FULL
    if args.w1_ops:
        sizes = replace(sizes, w1_ops=args.w1_ops)
    if args.w5_seconds:
        sizes = replace(sizes, w5_seconds=args.w5_seconds)
    reps = args.reps or (3 if args.quick else 7)
    targets: list[tuple[str, str | None]] = [] if args.skip_sqlite else [("sqlite", None)]
    pg = args.pg or (LOCAL_PG if args.all else None)
    my = args.mysql or (LOCAL_MYSQL if args.all else None)
    if pg:
        targets.append(("postgresql", pg))
    if my:
        targets.append(("mysql", my))
    workloads = tuple(args.workloads.split(","))
    keys = tuple(args.contenders.split(","))
    return [Plan(d, url, sizes, reps, workloads, keys) for d, url in targets]


async def run_all(run_plans: list[Plan], progress: Progress) -> dict[str, DialectResult]:
    results = {}
    for plan in run_plans:
        results[plan.dialect] = await run_dialect(plan, progress)
    return results


def sections(args: argparse.Namespace) -> tuple[bool, set[str]]:
    """(run W1-W5?, the extra sections to run). A section flag alone runs only the sections."""
    chosen = {name for name in ("curves", "memory", "processes") if getattr(args, name)}
    if args.all and not args.no_extras:
        return True, {"curves", "memory", "processes"}
    return not chosen, chosen


async def run_extras(chosen: set[str], run_plans: list[Plan], quick: bool, progress: Progress) -> dict[str, Any]:
    """The extra sections, one after the other (never beside a timed run)."""
    from benchmarks.curves import run_curves, summarize_curves
    from benchmarks.memory import run_memory, summarize_memory
    from benchmarks.processes import run_processes, summarize_processes

    extras: dict[str, Any] = {}
    if "curves" in chosen:
        extras["curves"] = {}
        for plan in run_plans:
            result = await run_curves(plan.dialect, plan.url, quick, progress)
            extras["curves"][plan.dialect] = {"server": result.server, "samples": result.samples,
                                              "summary": summarize_curves(result)}
    if "memory" in chosen:
        extras["memory"] = {}
        for plan in run_plans:
            mem = await run_memory(plan.dialect, plan.url, quick, progress)
            extras["memory"][plan.dialect] = {"runs": mem.runs, "summary": summarize_memory(mem)}
    if "processes" in chosen and any(plan.dialect == "sqlite" for plan in run_plans):
        runs = await run_processes(quick, progress)
        extras["processes"] = {"runs": runs, "summary": summarize_processes(runs)}
    return extras


def extra_steps(chosen: set[str], run_plans: list[Plan], quick: bool) -> int:
    from benchmarks import curves, memory, processes

    dialects = [plan.dialect for plan in run_plans]
    total = 0
    if "curves" in chosen:
        total += curves.steps(dialects, quick)
    if "memory" in chosen:
        total += memory.steps(dialects, quick)
    if "processes" in chosen and "sqlite" in dialects:
        total += processes.steps(quick)
    return total


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.w6:
        from benchmarks import w6_replicas

        return w6_replicas.main(["--reps", str(args.reps or (2 if args.quick else 5))]
                                + (["--seconds", "1", "--writes", "100", "--w1-ops", "500"] if args.quick else []))
    if args.profile:
        from benchmarks.profiling import profile

        sizes = QUICK if args.quick else FULL
        url = {"postgresql": args.pg or LOCAL_PG, "mysql": args.mysql or LOCAL_MYSQL}.get(args.dialect)
        profile(args.profile, args.dialect, url, args.contender, sizes, args.out)
        return 0
    run_plans = plans(args)
    if not run_plans:
        print("nothing to run (--skip-sqlite without --pg/--mysql/--all)", file=sys.stderr)
        return 2
    started = dt.datetime.now(dt.UTC)
    load_start = load()
    info = machine()
    missing = registry.sqlalchemy_missing()
    if missing:
        print(f"note: SQLAlchemy contenders skipped: {missing}", file=sys.stderr)
    run_main, chosen = sections(args)
    main_plans = run_plans if run_main else []
    progress = Progress(sum(steps(p) for p in main_plans) + extra_steps(chosen, run_plans, args.quick))

    async def everything() -> tuple[dict[str, DialectResult], dict[str, Any]]:
        results = await run_all(main_plans, progress)
        return results, await run_extras(chosen, run_plans, args.quick, progress)

    results, extras = asyncio.run(everything())
    progress.finish()
    document: dict[str, Any] = {
        "meta": {
            "mode": "quick" if args.quick else "full",
            "started": started.isoformat(timespec="seconds"),
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "reps": run_plans[0].reps,
            "sizes": run_plans[0].sizes,
            "workloads": run_plans[0].workloads if run_main else (),
            "sections": sorted(chosen),
            "load_start": load_start,
            "load_end": load(),
            "machine": info,
            "command": " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]),
        },
        "dialects": results,
        **extras,
    }
    document["summaries"] = {d: summarize(r) for d, r in results.items()}
    document["targets"] = evaluate(document["summaries"], extras)
    # Round-trip through JSON so the Markdown and chart read exactly what is saved.
    import msgspec

    raw = to_json(document)
    saved = msgspec.json.decode(raw)
    name = args.name or ("quick" if args.quick else "latest")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_bytes(raw + b"\n")
    text = markdown(saved)
    (args.out / f"{name}.md").write_text(text)
    skipped = chart(saved, args.out / f"{name}.png") if saved["dialects"] else "no W1-W5 run: ratio chart skipped"
    if saved.get("curves"):
        from benchmarks.curves import curves_chart

        curves_skipped = curves_chart(saved["curves"], args.out / f"{name}-curves.png")
        if curves_skipped:
            print(curves_skipped, file=sys.stderr)
    print(text)
    if skipped:
        print(skipped, file=sys.stderr)
    print(f"results: {args.out / name}.json, .md" + ("" if skipped else ", .png")
          + (", -curves.png" if saved.get("curves") else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
