"""W1-W5: what is timed, and how W5's lost writes are counted.

W1-W4 return seconds per operation (W3: per list of 1,000 tasks; W4: per 10,000-row
batch). W5 runs 64 tasks against one pool for a fixed time and returns a `W5Run`;
its lost writes are counted afterwards in the database by `count_lost_writes`.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from benchmarks.contenders.base import Contender
from benchmarks.data import Task, WrittenTask, new_task
from benchmarks.databases import Admin

WORKLOADS = ("W1", "W2", "W3", "W4", "W5")
DESCRIPTIONS = {
    "W1": "request-read: begin, SELECT one task by primary key into Task, commit",
    "W2": "request-write: begin, INSERT a task with metadata, UPDATE its status, commit",
    "W3": "list: the 1,000 tasks of one session into Task, read-only transaction",
    "W4": "bulk insert: 10,000 tasks in one transaction",
    "W5": "concurrent: 64 tasks, one pool, 80 % W1 / 20 % W2, fixed time",
}
UNITS = {"W1": "µs/op", "W2": "µs/op", "W3": "ms/list", "W4": "ms/batch"}
SCALE = {"W1": 1e6, "W2": 1e6, "W3": 1e3, "W4": 1e3}


@dataclass(frozen=True)
class Sizes:
    w1_ops: int
    w2_ops: int
    w3_lists: int
    w4_rows: int
    w5_seconds: float
    w5_workers: int = 64
    w5_read_share: float = 0.8


# Short chunks, many repetitions: on a shared machine noise comes in bursts, and
# interleaving finer spreads a burst over every contender.
FULL = Sizes(w1_ops=1000, w2_ops=500, w3_lists=10, w4_rows=10_000, w5_seconds=5.0)
QUICK = Sizes(w1_ops=300, w2_ops=150, w3_lists=4, w4_rows=10_000, w5_seconds=1.5)


async def time_w1(c: Contender, ids: Sequence[str]) -> float:
    read = c.read_one
    start = time.perf_counter()
    for task_id in ids:
        await read(task_id)
    return (time.perf_counter() - start) / len(ids)


async def time_w2(c: Contender, writes: Sequence[WrittenTask]) -> float:
    write = c.write_one
    start = time.perf_counter()
    for written in writes:
        await write(written)
    return (time.perf_counter() - start) / len(writes)


async def time_w3(c: Contender, sessions: Sequence[str]) -> float:
    listing = c.list_session
    start = time.perf_counter()
    for session_id in sessions:
        await listing(session_id)
    return (time.perf_counter() - start) / len(sessions)


async def time_w4(c: Contender, tasks: Sequence[Task]) -> float:
    start = time.perf_counter()
    await c.bulk_insert(tasks)
    return time.perf_counter() - start


class W5Run(msgspec.Struct):
    """One W5 run of one contender."""

    seconds: float
    ops: int
    reads: int
    writes: int
    throughput: float  # successful operations per second
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    error_examples: dict[str, str]
    lock_errors: int
    acknowledged_writes: int
    lost_writes: int = -1  # counted in the database afterwards
    lost_missing: int = -1
    lost_wrong_state: int = -1
    unacknowledged_rows: int = -1


def _is_lock_error(name: str, message: str) -> bool:
    text = f"{name} {message}".lower()
    return "lock" in text or "busy" in text


async def run_w5(c: Contender, ids: Sequence[str], session_id: str, sizes: Sizes, seed: int,
                 latencies: list[float] | None = None) -> tuple[W5Run, list[str]]:
    """64 workers for ``sizes.w5_seconds``; returns the run and the acknowledged task ids.

    ``latencies``: a list to collect the successful operations' latencies in (seconds),
    for a p99 over several processes."""
    loop = asyncio.get_running_loop()
    if latencies is None:
        latencies = []
    errors: Counter[str] = Counter()
    examples: dict[str, str] = {}
    acknowledged: list[str] = []
    counts = Counter[str]()
    deadline = loop.time() + sizes.w5_seconds
    perf = time.perf_counter

    async def worker(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        while loop.time() < deadline:
            write = rng.random() >= sizes.w5_read_share
            written = new_task(session_id) if write else None
            task_id = ids[rng.randrange(len(ids))]
            t0 = perf()
            try:
                if written is not None:
                    await c.write_one(written)
                else:
                    found = await c.read_one(task_id)
                    if found is None:
                        raise LookupError(f"task {task_id} not found")
            except Exception as exc:
                name = f"{type(exc).__module__.split('.')[0]}.{type(exc).__name__}"
                errors[name] += 1
                examples.setdefault(name, str(exc).splitlines()[0][:200] if str(exc) else "")
                continue
            latencies.append(perf() - t0)
            if written is not None:
                acknowledged.append(written.task.task_id)
                counts["writes"] += 1
            else:
                counts["reads"] += 1

    start = perf()
    await asyncio.gather(*(worker(k) for k in range(sizes.w5_workers)))
    elapsed = perf() - start
    latencies.sort()
    ops = len(latencies)
    p99 = latencies[min(ops - 1, int(ops * 0.99))] if ops else float("nan")
    run = W5Run(
        seconds=elapsed, ops=ops, reads=counts["reads"], writes=counts["writes"],
        throughput=ops / elapsed, p50_ms=(statistics.median(latencies) if ops else float("nan")) * 1e3,
        p99_ms=p99 * 1e3, errors=dict(errors), error_examples=examples,
        lock_errors=sum(n for name, n in errors.items() if _is_lock_error(name, examples[name])),
        acknowledged_writes=len(acknowledged),
    )
    return run, acknowledged


async def count_lost_writes(admin: Admin, run: W5Run, session_id: str, acknowledged: Sequence[str]) -> None:
    """A write is lost when it returned success but its row is missing or not ``running``."""
    rows = await admin.statuses(session_id)
    missing = sum(1 for task_id in acknowledged if task_id not in rows)
    wrong = sum(1 for task_id in acknowledged if rows.get(task_id, "running") != "running")
    run.lost_missing = missing
    run.lost_wrong_state = wrong
    run.lost_writes = missing + wrong
    run.unacknowledged_rows = len(set(rows) - set(acknowledged))
