"""One run over one dialect: set up, check results, time W1-W4 interleaved, then W5.

Contenders take turns within each repetition (round robin, the starting contender
rotating per repetition), so slow drifts of a shared, noisy machine hit them alike;
ratios are taken per repetition between samples measured moments apart.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from benchmarks import contenders as registry
from benchmarks.contenders.base import Contender
from benchmarks.data import Task, bulk_dataset, dataset, new_task
from benchmarks.databases import Admin, Target, bench_database, connect_admin
from benchmarks.environment import load
from benchmarks.progress import Progress
from benchmarks.schema import create_schema
from benchmarks.workloads import Sizes, W5Run, count_lost_writes, run_w5, time_w1, time_w2, time_w3, time_w4

TIMED = ("W1", "W2", "W3", "W4")


@dataclass
class Plan:
    dialect: str
    url: str | None
    sizes: Sizes
    reps: int
    workloads: tuple[str, ...]
    contenders: tuple[str, ...]
    seed: int = 1


@dataclass
class DialectResult:
    dialect: str
    target: str = ""
    server: str = ""
    schema: str = ""
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    rep_load: list[list[float]] = field(default_factory=list)  # load average after each repetition
    contenders: dict[str, dict[str, str]] = field(default_factory=dict)
    typed_results: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # workload → key → s/op
    w5: dict[str, list[W5Run]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def rotate(items: Sequence[Contender], k: int) -> list[Contender]:
    k %= max(len(items), 1)
    return [*items[k:], *items[:k]]


def steps(plan: Plan) -> int:
    """Progress steps of one dialect's run (set-up + one per timed chunk or W5 run)."""
    keys = available_contenders(plan.contenders, {})
    supported = [registry.make(k, Target(dialect=plan.dialect)).workloads for k in keys]
    return 1 + plan.reps * sum(1 for wl in plan.workloads for w in supported if wl in w)


def available_contenders(keys: Sequence[str], notes: dict[str, str]) -> list[str]:
    missing = registry.sqlalchemy_missing()
    out = []
    for key in keys:
        if key.startswith("sa_") and missing:
            notes[key] = missing
            continue
        out.append(key)
    return out


async def check_typed_results(contenders: Sequence[Contender], data: Sequence[Task],
                              rng: random.Random) -> dict[str, dict[str, Any]]:
    """Every contender must return exactly the Tasks that were written."""
    sample = rng.sample(list(data), 25)
    session = data[0].session_id
    expected_list = sorted((t for t in data if t.session_id == session),
                           key=lambda t: (t.created_at, t.task_id), reverse=True)
    report: dict[str, dict[str, Any]] = {}
    for c in contenders:
        difference = None
        for task in sample:
            got = await c.read_one(task.task_id)
            if got is None or c.as_task(got) != task:
                difference = _difference(task, None if got is None else c.as_task(got))
                break
        if difference is None:
            listed = [c.as_task(o) for o in await c.list_session(session)]
            if listed != expected_list:
                difference = f"list of session {session}: {len(listed)} rows differ from the written ones"
        report[c.key] = {"checked_reads": len(sample), "checked_list_rows": len(expected_list),
                         "equal": difference is None, "difference": difference}
    return report


def _difference(expected: Task, got: Task | None) -> str:
    if got is None:
        return f"task {expected.task_id} not found"
    a, b = msgspec.structs.asdict(expected), msgspec.structs.asdict(got)
    fields = {k: (b[k], a[k]) for k in a if a[k] != b[k]}
    return f"task {expected.task_id}: got/expected {fields!r}"[:500]


async def warm_up(c: Contender, data: Sequence[Task], admin: Admin) -> None:
    """Fill caches (prepared statements, type introspection, pools) before timing."""
    for task in data[:100]:
        await c.read_one(task.task_id)
    if "W2" in c.workloads:
        for _ in range(20):
            await c.write_one(new_task(f"warm-{c.key}"))
        await admin.delete_session(f"warm-{c.key}")
    await c.list_session(data[0].session_id)
    if "W4" in c.workloads:
        await c.bulk_insert(bulk_dataset(f"warm-bulk-{c.key}", rows=500))
        await admin.delete_session(f"warm-bulk-{c.key}")


async def run_dialect(plan: Plan, progress: Progress) -> DialectResult:
    result = DialectResult(dialect=plan.dialect)
    keys = available_contenders(plan.contenders, result.skipped)
    async with bench_database(plan.dialect, plan.url) as target:
        result.target = target.describe()
        admin = await connect_admin(target)
        try:
            await _run(plan, target, admin, keys, result, progress)
        finally:
            await admin.close()
    return result


async def _run(plan: Plan, target: Target, admin: Admin, keys: Sequence[str],
               result: DialectResult, progress: Progress) -> None:
    d = plan.dialect
    result.server = await admin.server_version()
    result.schema = await create_schema(target, admin)
    data = dataset()
    ids = [t.task_id for t in data]
    sessions = sorted({t.session_id for t in data})
    # A variant with nothing to measure on this dialect (bare_lax on MySQL) is left out.
    contenders = [c for c in (registry.make(k, target) for k in keys) if c.workloads]
    seeder = registry.make("bare", target)  # the fastest bare path; untimed
    await seeder.open(concurrent=False)
    try:
        await seeder.bulk_insert(data)
    finally:
        await seeder.close()
    await admin.maintain()
    result.contenders = {c.key: {"label": c.label, "setup": c.setup} for c in contenders}
    rng = random.Random(plan.seed)
    result.load_before = load()

    timed = [w for w in plan.workloads if w in TIMED]
    if timed or "W5" in plan.workloads:
        for c in contenders:
            await c.open(concurrent=False)
        result.typed_results = await check_typed_results(contenders, data, rng)
        for key, check in result.typed_results.items():
            if not check["equal"]:
                progress.note(f"!! {d} {key}: results differ: {check['difference']}")
        for c in contenders:
            await warm_up(c, data, admin)
        progress.step(f"{d}: set up, results checked")
        try:
            await _timed_section(plan, contenders, admin, ids, sessions, timed, result, progress, rng)
        finally:
            for c in contenders:
                await c.close()
    if "W5" in plan.workloads:
        await _w5_section(plan, contenders, admin, ids, result, progress)
    result.load_after = load()


async def _timed_section(plan: Plan, contenders: Sequence[Contender], admin: Admin, ids: Sequence[str],
                         sessions: Sequence[str], timed: Sequence[str], result: DialectResult,
                         progress: Progress, rng: random.Random) -> None:
    s = plan.sizes
    for wl in timed:
        result.samples[wl] = {c.key: [] for c in contenders if wl in c.workloads}
    for rep in range(plan.reps):
        read_ids = [ids[rng.randrange(len(ids))] for _ in range(s.w1_ops)]
        lists = [sessions[rng.randrange(len(sessions))] for _ in range(s.w3_lists)]
        for wl in timed:
            for c in rotate([c for c in contenders if wl in c.workloads], rep):
                label = f"{plan.dialect} {wl} {c.key} (rep {rep + 1}/{plan.reps})"
                progress.show(label)
                cleanup: str | None = None
                timing: Coroutine[Any, Any, float]
                if wl == "W1":
                    timing = time_w1(c, read_ids)
                elif wl == "W2":
                    cleanup = f"w2-{c.key}-{rep}"
                    timing = time_w2(c, [new_task(cleanup) for _ in range(s.w2_ops)])
                elif wl == "W3":
                    timing = time_w3(c, lists)
                else:
                    cleanup = f"w4-{c.key}-{rep}"
                    timing = time_w4(c, bulk_dataset(cleanup, rows=s.w4_rows))
                gc.collect()
                result.samples[wl][c.key].append(await timing)
                if cleanup is not None:
                    await admin.delete_session(cleanup)
                progress.step(label)
        result.rep_load.append(load())


async def _w5_section(plan: Plan, contenders: Sequence[Contender], admin: Admin, ids: Sequence[str],
                      result: DialectResult, progress: Progress) -> None:
    w5 = [c for c in contenders if "W5" in c.workloads]
    result.w5 = {c.key: [] for c in w5}
    for rep in range(plan.reps):
        for c in rotate(w5, rep):
            label = f"{plan.dialect} W5 {c.key} (rep {rep + 1}/{plan.reps})"
            progress.show(label)
            session_id = f"w5-{c.key}-{rep}"
            await c.open(concurrent=True)
            try:
                gc.collect()
                run, acknowledged = await run_w5(c, ids, session_id, plan.sizes, seed=plan.seed + rep)
            finally:
                await c.close()
            await count_lost_writes(admin, run, session_id, acknowledged)
            await admin.delete_session(session_id)
            result.w5[c.key].append(run)
            if run.lost_writes or run.errors:
                progress.note(f"   {label}: {run.ops} ops, errors {run.errors}, lost writes {run.lost_writes}")
            progress.step(label)
