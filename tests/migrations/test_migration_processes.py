"""Several migrators at once, and a migrator killed with SIGKILL mid-script.

These run real separate Python processes (``migrate_worker.py``) against the
test's isolated database, because locks and atomicity only matter across
processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from migration_helpers import history, read_event, start_worker, table_exists, write_scripts

import rawdb
from rawdb.migrations import Migrator

SLOW = {
    "sqlite": (
        "CREATE TABLE slow{n} AS WITH RECURSIVE c(x) AS "
        "(SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) SELECT x FROM c"
    ),
    "postgresql": "SELECT pg_sleep(0.15)",
    "mysql": "DO SLEEP(0.15)",
}


def concurrent_scripts(dialect: str) -> dict[str, str]:
    scripts = {
        "v001_log.sql": "CREATE TABLE applied_log (version INTEGER NOT NULL);\n"
        "INSERT INTO applied_log (version) VALUES (1);\n" + SLOW[dialect].format(n=1) + ";\n",
    }
    for n in range(2, 5):
        scripts[f"v{n:03d}_step.sql"] = (
            f"INSERT INTO applied_log (version) VALUES ({n});\n" + SLOW[dialect].format(n=n) + ";\n"
            f"CREATE TABLE t{n} (id INTEGER PRIMARY KEY);\n"
        )
    return scripts


async def test_two_processes_and_ten_tasks_apply_each_script_once(
    isolated: Any, pool: rawdb.Pool, tmp_path: Path
) -> None:
    folder = write_scripts(tmp_path / "scripts", concurrent_scripts(pool.dialect.name))
    go = tmp_path / "go"
    workers = [start_worker(isolated, folder, "--go-file", str(go), "--tasks", "2") for _ in range(2)]
    try:
        for w in workers:
            await read_event(w, "ready")
        local = await isolated.pool(max_size=12, acquire_timeout=30)
        try:
            go.touch()
            reports = await asyncio.gather(*(Migrator(local, folder).apply() for _ in range(10)))
        finally:
            await local.close()
        results = [await read_event(w, "result", timeout=60) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
            w.wait()
    applied = [a.version for r in reports for a in r.applied]
    for result in results:
        applied.extend(result["applied"])
    assert sorted(applied) == [1, 2, 3, 4], "every script applied exactly once in all"
    assert all(r.after == 4 for r in reports)
    async with pool.connection() as conn:
        rows = await conn.fetch_all("SELECT version, COUNT(*) AS n FROM applied_log GROUP BY version ORDER BY version")
    assert [(r["version"], r["n"]) for r in rows] == [(1, 1), (2, 1), (3, 1), (4, 1)]
    assert [r["version"] for r in await history(pool)] == [1, 2, 3, 4]


LONG = {
    # Several seconds of work in one statement.
    "sqlite": (
        "INSERT INTO big (n) WITH RECURSIVE c(x) AS "
        "(SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 8000000) SELECT x FROM c"
    ),
    "postgresql": "SELECT pg_sleep(8)",
    "mysql": "DO SLEEP(3)",
}


async def test_sigkill_mid_migration_leaves_previous_version(isolated: Any, pool: rawdb.Pool, tmp_path: Path) -> None:
    dialect = pool.dialect.name
    folder = write_scripts(
        tmp_path / "scripts",
        {
            "v001_base.sql": "CREATE TABLE base (id INTEGER PRIMARY KEY);\n",
            "v002_long.sql": (
                "CREATE TABLE big (n INTEGER);\n" + LONG[dialect] + ";\n"
                "CREATE TABLE after_long (id INTEGER PRIMARY KEY);\n"
            ),
        },
    )
    await Migrator(pool, folder).apply(1)
    worker = start_worker(isolated, folder)
    try:
        event = await read_event(worker, "start")
        assert event["version"] == 2
        await asyncio.sleep(1.5)  # inside the long statement
        assert worker.poll() is None, "the long statement finished too early for this test"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    assert await pool.schema_version() == 1
    assert not await table_exists(pool, "after_long")
    lock_waits: list[float] = []
    started = time.monotonic()
    migrator = Migrator(
        pool,
        folder,
        lock_timeout=30,
        progress=lambda e: lock_waits.append(time.monotonic() - started) if e.kind == "start" else None,
    )
    if dialect == "mysql":
        # DDL committed statement by statement: the run is dirty, "may have completed".
        assert await table_exists(pool, "big")
        with pytest.raises(rawdb.DirtyDatabase, match=r"interrupted in statement 2.*may have completed"):
            await migrator.apply()
        status = await migrator.status()
        assert status.dirty is not None and status.dirty.error is None
        await migrator.repair()  # the operator checked: DO SLEEP changed nothing
    else:
        assert not await table_exists(pool, "big"), "none of the killed script's effects may remain"
        assert [s.state for s in (await migrator.status()).scripts] == ["applied", "pending"]
    report = await migrator.apply()
    assert report.after == 2 and [a.version for a in report.applied] == [2]
    if dialect == "postgresql":
        # The killed client's backend notices within ~1 s (client_connection_check_interval)
        # instead of finishing its 8 s statement while holding the advisory lock.
        assert lock_waits[0] < 4, lock_waits
    assert await table_exists(pool, "after_long")
