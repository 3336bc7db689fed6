"""W6 read replicas: what routing costs and what it buys, on throwaway replicated servers.

    python -m benchmarks.w6_replicas                       # PostgreSQL and MariaDB, 5 repetitions
    python -m benchmarks.w6_replicas --dialects postgresql --reps 3 --seconds 2
    python -m benchmarks --w6                              # the same, from the main entry point

Each dialect gets a primary and ``--replicas`` replicas started for the run (the
fault suite's throwaway servers: temporary directories, loopback ports, removed
afterwards), holding the benchmark's 10,000 tasks. Measured, with the
configurations interleaved within each repetition:

- mixed: ``--tasks`` asyncio tasks for ``--seconds``, 95 % W1-shaped reads (one task
  by primary key, read-only) and 5 % W2-shaped writes (INSERT + UPDATE), on the
  primary alone and on primary + replicas (read-your-writes on, then off):
  throughput, p50/p99 latency, where reads ran and how often read-your-writes
  sent a read to the primary.
- write cost: sequential W2 writes with read-your-writes on against off, on the
  same pool and connections: µs per write and round trips per write spent
  learning positions (also timed around that step alone).
- routing: sequential W1 reads routed to a replica, against the same replica's
  pool used directly (the same connections, no routing) and against the primary.

Results: ``benchmarks/results/w6.json`` and ``w6.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

import rawdb
from benchmarks.data import COLUMNS, INSERT_COLUMNS, Task, dataset, named_sql, new_task
from benchmarks.environment import load, machine

RESULTS = Path(__file__).resolve().parent / "results"
SELECT_ONE = named_sql("select_one")
INSERT = named_sql("insert")
UPDATE = named_sql("update_status")
POOL_SIZE = 16


# -- servers -----------------------------------------------------------------------------------------
class Cluster:
    """A primary and its replicas, started for the run and removed afterwards."""

    def __init__(self, dialect: str, replicas: int) -> None:
        # The fault suite's throwaway servers (tests/faults), reused rather than copied.
        from tests.faults import replication

        self.dialect = dialect
        self.count = replicas
        self.primary: Any = (replication.PostgresPrimary() if dialect == "postgresql"
                             else replication.MariaDBPrimary())
        self.replicas: list[Any] = []
        self._module = replication

    async def start(self, tasks: list[Task]) -> None:
        await asyncio.to_thread(self.primary.start)
        async with await rawdb.create_pool(self.primary.url) as pool:
            await pool.migrate(rawdb.store.MIGRATIONS)
            async with pool.transaction() as tx:
                await tx.copy_records("tasks", COLUMNS, [msgspec.structs.astuple(t) for t in tasks])
        for n in range(self.count):
            if self.dialect == "postgresql":
                replica = self._module.PostgresStandby(self.primary)
            else:
                replica = self._module.MariaDBReplica(self.primary, server_id=2 + n)
            self.replicas.append(replica)
            await asyncio.to_thread(replica.start)
        for replica in self.replicas:
            await replica.wait_caught_up(timeout=120)

    def replica_urls(self) -> list[str]:
        return [f"127.0.0.1:{r.port}" for r in self.replicas]

    def cleanup(self) -> None:
        for server in [*self.replicas, self.primary]:
            server.cleanup()


# -- one operation ---------------------------------------------------------------------------------
async def read_one(pool: rawdb.Pool, task_id: str, primary: bool = False) -> None:
    async with pool.transaction(readonly=True, primary=primary) as tx:
        task = await tx.fetch_one(SELECT_ONE, {"task_id": task_id}, into=Task)
    assert task is not None


async def write_one(pool: rawdb.Pool, session_id: str) -> None:
    written = new_task(session_id)
    task = written.task
    params = {name: getattr(task, name) for name in INSERT_COLUMNS}
    async with pool.transaction() as tx:
        await tx.execute(INSERT, params)
        await tx.execute(UPDATE, {"status": "running", "started_at": written.started_at, "task_id": task.task_id})


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def routing_delta(before: rawdb.PoolStats, after: rawdb.PoolStats) -> dict[str, int]:
    if before.routing is None or after.routing is None:
        return {}
    a, b = msgspec.structs.asdict(after.routing), msgspec.structs.asdict(before.routing)
    return {k: a[k] - b[k] for k in a}


# -- the three measurements ------------------------------------------------------------------------
async def mixed(pool: rawdb.Pool, ids: list[str], sessions: list[str], tasks: int, seconds: float,
                write_share: float = 0.05) -> dict[str, Any]:
    reads: list[float] = []
    writes: list[float] = []
    errors: Counter[str] = Counter()
    stop = time.monotonic() + seconds
    before = pool.stats()

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop:
            write = rng.random() < write_share
            started = time.perf_counter()
            try:
                if write:
                    await write_one(pool, rng.choice(sessions))
                else:
                    await read_one(pool, rng.choice(ids))
            except rawdb.RawDBError as exc:
                errors[type(exc).__name__] += 1
                continue
            (writes if write else reads).append(time.perf_counter() - started)

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(tasks)))
    elapsed = time.monotonic() - started
    done = reads + writes
    return {
        "ops_per_s": len(done) / elapsed,
        "reads": len(reads), "writes": len(writes), "errors": dict(errors),
        "p50_ms": percentile(done, 0.50) * 1000, "p99_ms": percentile(done, 0.99) * 1000,
        "read_p99_ms": percentile(reads, 0.99) * 1000, "write_p99_ms": percentile(writes, 0.99) * 1000,
        "routing": routing_delta(before, pool.stats()),
    }


async def interleaved(ops: dict[str, Callable[[], Awaitable[None]]], count: int, chunk: int = 50,
                      ) -> dict[str, tuple[float, float, list[float]]]:
    """Per operation, for each of ``ops``: wall µs, this process's CPU µs, and the wall µs
    of every turn. The operations run in short turns, one contender after another (the
    machine's noise then hits them alike), ``count`` operations each; ratios taken turn
    by turn, between samples measured moments apart, are the steadiest comparison. The
    CPU time is what the client itself spends: the servers do the same work for every
    contender, so that is where routing shows."""
    wall = dict.fromkeys(ops, 0.0)
    cpu = dict.fromkeys(ops, 0.0)
    turns: dict[str, list[float]] = {name: [] for name in ops}
    names = list(ops)
    for turn in range(max(1, count // chunk)):
        order = names[turn % len(names):] + names[:turn % len(names)]
        for name in order:
            op = ops[name]
            started, started_cpu = time.perf_counter(), time.process_time()
            for _ in range(chunk):
                await op()
            took = time.perf_counter() - started
            wall[name] += took
            cpu[name] += time.process_time() - started_cpu
            turns[name].append(took / chunk * 1e6)
    done = max(1, count // chunk) * chunk
    return {name: (wall[name] / done * 1e6, cpu[name] / done * 1e6, turns[name]) for name in ops}


class Timed:
    """Wraps a probe's commit_position to measure what learning positions costs."""

    def __init__(self, probe: Any) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._inner = probe.commit_position
        probe.commit_position = self

    async def __call__(self, conn: Any) -> Any:
        started = time.perf_counter()
        try:
            return await self._inner(conn)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


async def run_dialect(dialect: str, args: argparse.Namespace) -> dict[str, Any]:
    tasks = dataset()
    ids = [t.task_id for t in tasks]
    sessions = sorted({t.session_id for t in tasks})
    cluster = Cluster(dialect, args.replicas)
    try:
        print(f"[{dialect}] starting a primary and {args.replicas} replica(s)…", file=sys.stderr)
        await cluster.start(tasks)
        url = cluster.primary.url
        replicas = cluster.replica_urls()
        sizes = {"min_size": POOL_SIZE, "max_size": POOL_SIZE}
        pools = {
            "primary": await rawdb.create_pool(url, **sizes),
            "replicas": await rawdb.create_pool(url, replicas=replicas, **sizes),
            "replicas_no_ryw": await rawdb.create_pool(url, replicas=replicas, read_your_writes=False, **sizes),
            "routed_one": await rawdb.create_pool(url, replicas=replicas[:1], **sizes),
        }
        samples: dict[str, list[Any]] = {k: [] for k in (
            "mixed_primary", "mixed_replicas", "mixed_replicas_no_ryw", "write_ryw_us", "write_no_ryw_us",
            "write_position_round_trips", "write_position_us", "w1_routed_us", "w1_direct_us", "w1_primary_us",
            "w1_routed_cpu_us", "w1_direct_cpu_us", "w1_primary_cpu_us", "w1_turn_vs_direct",
            "w1_turn_vs_primary")}
        rng = random.Random(6)
        try:
            for rep in range(args.reps):
                print(f"[{dialect}] repetition {rep + 1}/{args.reps}", file=sys.stderr)
                order = ["primary", "replicas", "replicas_no_ryw"]
                order = order[rep % 3:] + order[:rep % 3]
                for key in order:
                    samples[f"mixed_{key}"].append(
                        await mixed(pools[key], ids, sessions, args.tasks, args.seconds))
                    await asyncio.sleep(0.5)  # let the replicas catch up between runs
                # Read-your-writes on and off on the very same pool and connections: only the
                # position's round trip differs.
                router = pools["replicas"]._replication
                assert router is not None

                async def write(ryw: bool, router: Any = router) -> None:
                    router.read_your_writes = ryw
                    await write_one(pools["replicas"], rng.choice(sessions))

                trips = router.writes.round_trips
                timed = Timed(router.writes)
                writes = await interleaved({"on": lambda: write(True), "off": lambda: write(False)}, args.writes)
                router.writes.commit_position = timed._inner
                router.read_your_writes = True
                samples["write_ryw_us"].append(writes["on"][0])
                samples["write_no_ryw_us"].append(writes["off"][0])
                samples["write_position_us"].append(timed.seconds / max(1, timed.calls) * 1e6)
                samples["write_position_round_trips"].append(
                    (router.writes.round_trips - trips) / (max(1, args.writes // 50) * 50))
                await asyncio.sleep(1.0)  # nothing left to replay: routed reads need no check
                # The same connections with and without routing: the routed pool's read, the
                # replica's own pool used directly, and the routed pool's primary.
                routed_pool = pools["routed_one"]
                assert routed_pool._replication is not None
                replica_pool = routed_pool._replication.replicas[0].pool
                assert replica_pool is not None
                reads = await interleaved({
                    "routed_one": lambda p=routed_pool: read_one(p, rng.choice(ids)),  # type: ignore[misc]
                    "direct_replica": lambda p=replica_pool: read_one(p, rng.choice(ids)),  # type: ignore[misc]
                    "primary": lambda p=routed_pool: read_one(p, rng.choice(ids), primary=True),  # type: ignore[misc]
                }, args.w1_ops)
                for sample, key in (("routed", "routed_one"), ("direct", "direct_replica"), ("primary", "primary")):
                    samples[f"w1_{sample}_us"].append(reads[key][0])
                    samples[f"w1_{sample}_cpu_us"].append(reads[key][1])
                routed_turns = reads["routed_one"][2]
                samples["w1_turn_vs_direct"] += [a / b for a, b in zip(routed_turns, reads["direct_replica"][2],
                                                                        strict=True)]
                samples["w1_turn_vs_primary"] += [a / b for a, b in zip(routed_turns, reads["primary"][2],
                                                                         strict=True)]
            routed = pools["routed_one"].stats()
        finally:
            for pool in pools.values():
                await pool.close()
    finally:
        cluster.cleanup()
    return {"samples": samples, "routed_stats": msgspec.structs.asdict(routed.routing) if routed.routing else None}


# -- report -------------------------------------------------------------------------------------------
def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(dialect: str, result: dict[str, Any]) -> list[str]:
    s = result["samples"]
    lines = [f"### {dialect}", "",
             "| mixed 95/5, 64 tasks | ops/s | p50 ms | p99 ms | read p99 ms | write p99 ms | reads on replicas "
             "| read-your-writes sent to primary | replica position checks per read |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key, label in (("mixed_primary", "primary only"), ("mixed_replicas", "primary + replicas"),
                       ("mixed_replicas_no_ryw", "primary + replicas, read_your_writes=False")):
        runs = s[key]
        replica_share = fallback_share = checks = "-"
        if runs[0]["routing"]:
            reads = sum(r["routing"]["reads_total"] for r in runs) or 1
            replica_share = f"{100 * sum(r['routing']['replica_reads_total'] for r in runs) / reads:.1f} %"
            fallback_share = f"{100 * sum(r['routing']['causal_fallbacks_total'] for r in runs) / reads:.1f} %"
            checks = f"{sum(r['routing']['causal_checks_total'] for r in runs) / reads:.2f}"
        lines.append(
            f"| {label} | {median([r['ops_per_s'] for r in runs]):.0f} | {median([r['p50_ms'] for r in runs]):.2f} "
            f"| {median([r['p99_ms'] for r in runs]):.2f} | {median([r['read_p99_ms'] for r in runs]):.2f} "
            f"| {median([r['write_p99_ms'] for r in runs]):.2f} | {replica_share} | {fallback_share} | {checks} |")
    ratio = [a["ops_per_s"] / b["ops_per_s"] for a, b in zip(s["mixed_replicas"], s["mixed_primary"], strict=True)]
    lines += ["", f"Throughput, primary + replicas / primary only: {median(ratio):.2f} "
              f"({min(ratio):.2f}-{max(ratio):.2f})", ""]
    on, off = s["write_ryw_us"], s["write_no_ryw_us"]
    cost = [a - b for a, b in zip(on, off, strict=True)]
    lines += ["| W2 write, sequential | µs per write | round trips per write for the position |", "|---|---|---|",
              f"| read_your_writes=True | {median(on):.0f} | {median(s['write_position_round_trips']):.2f} |",
              f"| read_your_writes=False | {median(off):.0f} | 0 |",
              f"| difference | {median(cost):+.0f} ({min(cost):+.0f} to {max(cost):+.0f}) | |",
              f"| learning the position, timed around it | {median(s['write_position_us']):.0f} "
              f"({min(s['write_position_us']):.0f} to {max(s['write_position_us']):.0f}) | |", ""]
    routed, direct, primary = s["w1_routed_us"], s["w1_direct_us"], s["w1_primary_us"]
    vs_direct = [a / b for a, b in zip(routed, direct, strict=True)]
    vs_primary = [a / b for a, b in zip(routed, primary, strict=True)]
    cpu = {k: median(s[f"w1_{k}_cpu_us"]) for k in ("routed", "direct", "primary")}
    cpu_ratio = [a / b for a, b in zip(s["w1_routed_cpu_us"], s["w1_direct_cpu_us"], strict=True)]
    lines += ["| W1 read, sequential | µs per read | client CPU µs per read |", "|---|---|---|",
              f"| routed to the replica: pool.transaction(readonly=True) | {median(routed):.0f} "
              f"| {cpu['routed']:.0f} |",
              f"| the replica's own pool, same connections, no routing | {median(direct):.0f} | {cpu['direct']:.0f} |",
              f"| the primary: pool.transaction(readonly=True, primary=True) | {median(primary):.0f} "
              f"| {cpu['primary']:.0f} |", "",
              f"Client CPU, routed / unrouted on the replica: {median(cpu_ratio):.3f} "
              f"({min(cpu_ratio):.3f}-{max(cpu_ratio):.3f}).",
              f"Turn by turn ({len(s['w1_turn_vs_direct'])} turns of 50 reads): routed / unrouted on the replica "
              f"{median(s['w1_turn_vs_direct']):.3f}, routed to the replica / on the primary "
              f"{median(s['w1_turn_vs_primary']):.3f} (medians); target ≤ 1.05.",
              f"Routed / unrouted on the replica: {median(vs_direct):.3f} "
              f"({min(vs_direct):.3f}-{max(vs_direct):.3f}); "
              f"routed to the replica / on the primary: {median(vs_primary):.3f} "
              f"({min(vs_primary):.3f}-{max(vs_primary):.3f}) (per repetition).", ""]
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.w6_replicas", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dialects", default="postgresql,mysql")
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--seconds", type=float, default=3.0, help="per mixed run")
    p.add_argument("--tasks", type=int, default=64)
    p.add_argument("--writes", type=int, default=500, help="sequential writes per repetition and setting")
    p.add_argument("--w1-ops", type=int, default=2000, help="sequential reads per repetition and pool")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    info = machine()
    results: dict[str, Any] = {}
    for dialect in args.dialects.split(","):
        results[dialect] = asyncio.run(run_dialect(dialect, args))
    lines = [f"## W6 read replicas ({started:%Y-%m-%d}, {args.reps} repetitions, medians with min-max)", "",
             f"Machine: {info.get('cores', '?')} cores ({info.get('cpu', '?')}), load {load()}; "
             f"{args.replicas} replicas per primary, "
             f"all on this machine. Pools: {POOL_SIZE} connections to each server.", ""]
    for dialect, result in results.items():
        lines += summarize(dialect, result)
    text = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    document = {"meta": {"started": started.isoformat(timespec="seconds"), "machine": info,
                         "args": {k: str(v) for k, v in vars(args).items()}}, "dialects": results}
    (args.out / "w6.json").write_bytes(msgspec.json.format(msgspec.json.encode(document)) + b"\n")
    (args.out / "w6.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
