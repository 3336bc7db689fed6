"""``--profile W1 --dialect postgresql``: one workload of one contender under cProfile.

The set-up (database, schema, data, warm-up) is outside the profile; the output is
a ``.prof`` file (open with ``python -m pstats`` or snakeviz) and the top functions.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import random
from pathlib import Path

from benchmarks import contenders as registry
from benchmarks.data import bulk_dataset, dataset, new_task
from benchmarks.databases import bench_database, connect_admin
from benchmarks.runner import warm_up
from benchmarks.schema import create_schema
from benchmarks.workloads import Sizes, run_w5, time_w1, time_w2, time_w3, time_w4


def profile(workload: str, dialect: str, url: str | None, key: str, sizes: Sizes,
            out_dir: Path, top: int = 30) -> Path:
    """Run the profile, write the ``.prof`` file, print the top functions."""
    profiler, outcome = asyncio.run(_profiled(workload, dialect, url, key, sizes))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"profile-{workload}-{dialect}-{key}.prof"
    profiler.dump_stats(path)
    text = io.StringIO()
    st = pstats.Stats(profiler, stream=text)
    st.sort_stats("tottime").print_stats(top)
    st.sort_stats("cumulative").print_stats(top)
    print(text.getvalue())
    if isinstance(outcome, float):
        print(f"{workload} {dialect} {key}: {outcome * 1e6:.1f} µs per operation (with profiler overhead)")
    print(f"profile written to {path}")
    return path


async def _profiled(workload: str, dialect: str, url: str | None, key: str, sizes: Sizes
                    ) -> tuple[cProfile.Profile, object]:
    async with bench_database(dialect, url) as target:
        admin = await connect_admin(target)
        try:
            await create_schema(target, admin)
            data = dataset()
            seeder = registry.make("bare", target)
            await seeder.open(concurrent=False)
            await seeder.bulk_insert(data)
            await seeder.close()
            await admin.maintain()
            c = registry.make(key, target)
            await c.open(concurrent=workload == "W5")
            try:
                await warm_up(c, data, admin)
                rng = random.Random(1)
                ids = [t.task_id for t in data]
                sessions = sorted({t.session_id for t in data})
                if workload == "W1":
                    coro = time_w1(c, [ids[rng.randrange(len(ids))] for _ in range(sizes.w1_ops)])
                elif workload == "W2":
                    coro = time_w2(c, [new_task("profile") for _ in range(sizes.w2_ops)])
                elif workload == "W3":
                    coro = time_w3(c, [sessions[rng.randrange(len(sessions))] for _ in range(sizes.w3_lists)])
                elif workload == "W4":
                    coro = time_w4(c, bulk_dataset("profile-bulk", rows=sizes.w4_rows))
                else:
                    coro = run_w5(c, ids, "profile", sizes, seed=1)
                profiler = cProfile.Profile()
                profiler.enable()
                outcome = await coro
                profiler.disable()
            finally:
                await c.close()
        finally:
            await admin.close()
    return profiler, outcome
