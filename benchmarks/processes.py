"""Many processes on one SQLite file: how a FastAPI app runs under several workers.

4 processes, each with its own rawdb pool (default options: one writer, WAL
readers, ``busy_timeout`` 5 s, ``BEGIN IMMEDIATE``) and 16 concurrent tasks, run the
W5 mix (80 % W1-shaped reads, 20 % W2-shaped writes) on one database file for a
fixed time, all starting at the same moment. The same load (64 tasks) then runs in
one process. Reported: throughput (successful operations per second, all processes
together), p50/p99 over every operation, errors by type (``database is locked``
counted apart), and lost writes, counted in the database after each run: an
acknowledged write whose row is missing or not ``running``.

    python -m benchmarks --processes [--all]   # also part of every --all run
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from benchmarks import contenders as registry
from benchmarks import data as data_module
from benchmarks.data import dataset
from benchmarks.databases import Target, bench_database, connect_admin
from benchmarks.progress import Progress
from benchmarks.schema import create_schema
from benchmarks.workloads import FULL, W5Run, count_lost_writes, run_w5

PROCESSES = 4
TASKS_PER_PROCESS = 16
SECONDS = 15.0
QUICK_SECONDS = 4.0
MODES = {"4 processes x 16 tasks": (PROCESSES, TASKS_PER_PROCESS),
         "1 process x 64 tasks": (1, PROCESSES * TASKS_PER_PROCESS)}

DASH = "\u2013"  # en dash, for ranges
TIMES = "\u00d7"


@dataclass
class ProcessRun:
    """One run of one mode: every process's W5Run, and the merged figures."""

    mode: str
    processes: int
    tasks_per_process: int
    seconds: float
    ops: int
    throughput: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    error_examples: dict[str, str]
    lock_errors: int
    acknowledged_writes: int
    lost_writes: int
    per_process: list[W5Run] = field(default_factory=list)


def steps(quick: bool) -> int:
    return 1 + _reps(quick) * len(MODES)


def _reps(quick: bool) -> int:
    return 1 if quick else 3


async def run_processes(quick: bool, progress: Progress) -> list[ProcessRun]:
    seconds = QUICK_SECONDS if quick else SECONDS
    runs: list[ProcessRun] = []
    async with bench_database("sqlite") as target:
        admin = await connect_admin(target)
        try:
            await create_schema(target, admin)
            seeder = registry.make("bare", target)
            await seeder.open(concurrent=False)
            try:
                await seeder.bulk_insert(dataset())
            finally:
                await seeder.close()
            await admin.maintain()
            progress.step("sqlite processes: set up")
            for rep in range(_reps(quick)):
                modes = list(MODES.items())
                for mode, (processes, tasks) in (modes if rep % 2 == 0 else modes[::-1]):
                    label = f"sqlite {mode} (rep {rep + 1}, {seconds:g} s)"
                    progress.show(label)
                    run = await _run_mode(target, admin, mode, processes, tasks, seconds, seed=rep)
                    runs.append(run)
                    if run.lost_writes or run.errors:
                        progress.note(f"   {label}: {run.ops} ops, errors {run.errors}, lost writes {run.lost_writes}")
                    progress.step(label)
        finally:
            await admin.close()
    return runs


async def _run_mode(target: Target, admin: Any, mode: str, processes: int, tasks: int, seconds: float,
                    seed: int) -> ProcessRun:
    start_at = time.time() + 3.0  # every process imports and opens its pool first, then all start together
    sessions = [f"mp-{processes}x{tasks}-{seed}-{k}" for k in range(processes)]
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.processes", "--child", target.path, session, str(seconds), str(tasks),
            str(seed * 100 + k), str(start_at), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for k, session in enumerate(sessions)
    ]
    outputs = await asyncio.gather(*(child.communicate() for child in children))
    per_process: list[W5Run] = []
    latencies: list[float] = []
    for child, (out, err), session in zip(children, outputs, sessions, strict=True):
        if child.returncode != 0:
            raise RuntimeError(f"SQLite process {session} failed:\n{err.decode()[-2000:]}")
        document = json.loads(out.decode().strip().splitlines()[-1])
        run = msgspec.convert(document["run"], W5Run)
        await count_lost_writes(admin, run, session, document["acknowledged"])
        await admin.delete_session(session)
        per_process.append(run)
        latencies.extend(document["latencies"])
    latencies.sort()
    ops = len(latencies)
    elapsed = max(r.seconds for r in per_process)
    errors: dict[str, int] = {}
    examples: dict[str, str] = {}
    for r in per_process:
        for name, n in r.errors.items():
            errors[name] = errors.get(name, 0) + n
        for name, text in r.error_examples.items():
            examples.setdefault(name, text)
    return ProcessRun(
        mode=mode, processes=processes, tasks_per_process=tasks, seconds=elapsed, ops=ops,
        throughput=ops / elapsed if elapsed else 0.0,
        p50_ms=statistics.median(latencies) * 1e3 if ops else float("nan"),
        p99_ms=latencies[min(ops - 1, int(ops * 0.99))] * 1e3 if ops else float("nan"),
        errors=errors, error_examples=examples, lock_errors=sum(r.lock_errors for r in per_process),
        acknowledged_writes=sum(r.acknowledged_writes for r in per_process),
        lost_writes=sum(r.lost_writes for r in per_process), per_process=per_process)


def summarize_processes(runs: list[ProcessRun]) -> dict[str, Any]:
    def st(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}

    modes: dict[str, Any] = {}
    for mode in MODES:
        mine = [r for r in runs if r.mode == mode]
        if not mine:
            continue
        errors: dict[str, int] = {}
        for r in mine:
            for name, n in r.errors.items():
                errors[name] = errors.get(name, 0) + n
        modes[mode] = {"throughput": st([r.throughput for r in mine]), "p50_ms": st([r.p50_ms for r in mine]),
                       "p99_ms": st([r.p99_ms for r in mine]), "errors": errors,
                       "lock_errors_total": sum(r.lock_errors for r in mine),
                       "lost_writes_total": sum(r.lost_writes for r in mine),
                       "acknowledged_total": sum(r.acknowledged_writes for r in mine)}
    many, one = list(MODES)
    paired = [(a, b) for a, b in zip([r for r in runs if r.mode == many], [r for r in runs if r.mode == one],
                                     strict=False)]
    out: dict[str, Any] = {"modes": modes}
    if paired:
        out["throughput_ratio"] = st([a.throughput / b.throughput for a, b in paired if b.throughput])
        out["p99_ratio"] = st([a.p99_ms / b.p99_ms for a, b in paired if b.p99_ms])
    return out


def processes_markdown(summary: dict[str, Any]) -> list[str]:
    lines = ["## Many processes, one SQLite file", "",
             f"{PROCESSES} processes {TIMES} {TASKS_PER_PROCESS} tasks (each process its own rawdb pool) against the "
             "same 64 tasks in one process; W5's 80/20 mix; lost writes counted in the database.", "",
             "| set-up | throughput (ops/s) | p50 (ms) | p99 (ms) | errors | database is locked | "
             "lost writes / acknowledged |", "|---|---|---|---|---|---|---|"]
    for mode, m in summary["modes"].items():
        errors = ", ".join(f"{n}{TIMES} {name}" for name, n in m["errors"].items()) or "0"
        lines.append(f"| {mode} | {_cell(m['throughput'])} | {_cell(m['p50_ms'])} | {_cell(m['p99_ms'])} | "
                     f"{errors} | {m['lock_errors_total']} | {m['lost_writes_total']} / {m['acknowledged_total']} |")
    if "throughput_ratio" in summary:
        lines += ["", f"4 processes ÷ 1 process: throughput {_cell(summary['throughput_ratio'], TIMES)}, "
                      f"p99 {_cell(summary['p99_ratio'], TIMES)}."]
    lines.append("")
    return lines


def _cell(s: dict[str, float] | None, suffix: str = "") -> str:
    if not s:
        return DASH
    fmt = (lambda v: f"{v:,.0f}") if s["median"] >= 100 else (lambda v: f"{v:.2f}")
    return f"{fmt(s['median'])}{suffix} ({fmt(s['min'])}{DASH}{fmt(s['max'])})"


# -- one process ------------------------------------------------------------------------------------
async def _child(path: str, session: str, seconds: float, tasks: int, seed: int, start_at: float) -> dict[str, Any]:
    # new_task() draws ids from a seeded generator: each process needs its own
    # sequence, or two processes write the same task ids in the same millisecond.
    data_module._write_rng.seed(f"{session}-{os.getpid()}")
    db = sqlite3.connect(path)
    try:
        ids = [row[0] for row in db.execute("SELECT task_id FROM tasks")]
    finally:
        db.close()
    contender = registry.make("rawdb", Target(dialect="sqlite", path=path))
    await contender.open(concurrent=True)
    try:
        await contender.read_one(ids[0])  # warm: a reader, the compiled SQL, the mapper
        await asyncio.sleep(max(0.0, start_at - time.time()))
        latencies: list[float] = []
        sizes = replace(FULL, w5_seconds=seconds, w5_workers=tasks)
        run, acknowledged = await run_w5(contender, ids, session, sizes, seed=seed, latencies=latencies)
    finally:
        await contender.close()
    return {"run": msgspec.to_builtins(run), "acknowledged": acknowledged, "latencies": latencies}


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "--child":
        _, _, path, session, seconds, tasks, seed, start_at = sys.argv
        document = asyncio.run(_child(path, session, float(seconds), int(tasks), int(seed), float(start_at)))
        print(json.dumps(document))
        sys.exit(0)
    print("run through python -m benchmarks --processes", file=sys.stderr)
    sys.exit(2)
